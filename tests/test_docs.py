"""The Python code of the README and of the documentation pages runs as written.

Each page's ``python`` blocks run in order in one namespace, as a reader pasting them one after
the other would, in a temporary working directory (the pages write model and data files).
Pages whose code needs a GPU are not listed.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    "README.md",
    "docs/getting-started.md",
    "docs/user-guide/index.md",
    "docs/user-guide/backends.md",
    "docs/user-guide/diagnostics.md",
]
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(page):
    """The fenced ``python`` blocks of a Markdown page, in order."""
    return _PYTHON_BLOCK.findall((ROOT / page).read_text(encoding="utf-8"))


def test_every_page_has_code():
    for page in PAGES:
        assert python_blocks(page), f"{page} has no python block"


@pytest.mark.parametrize("page", PAGES)
def test_page_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for index, block in enumerate(python_blocks(page)):
        exec(compile(block, f"{page}, python block {index + 1}", "exec"), namespace)
