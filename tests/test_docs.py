"""The Python code of the README and of the documentation pages runs as written, and the
documentation's build hooks render the docstrings' Sphinx roles and citations.

Each page's ``python`` blocks run in order in one namespace, as a reader pasting them one after
the other would, in a temporary working directory (the pages write model and data files).
Pages whose code needs a GPU are not listed.
"""

import importlib.util
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


# ---------------------------------------------------------------- the Sphinx-role hook
def _load_hook(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _heading(identifier):
    return f'<h3 id="{identifier}" class="doc doc-heading">x</h3>'


@pytest.mark.parametrize(
    ("scope", "role", "expected"),
    [
        # A qualified name is kept; "~" shows its last part only.
        ("wpokernel.datasets", ":func:<code>~wpokernel.sinkhorn.sinkhorn</code>",
         '<autoref identifier="wpokernel.sinkhorn.sinkhorn" optional><code>sinkhorn</code></autoref>'),
        ("wpokernel.datasets", ":data:<code>wpokernel.datasets.TOY_NAMES</code>",
         '<autoref identifier="wpokernel.datasets.TOY_NAMES" optional>'
         "<code>wpokernel.datasets.TOY_NAMES</code></autoref>"),
        # A bare name is looked up from the innermost scope outwards.
        ("wpokernel.datasets.make_manifold", ":func:<code>make_toy</code>",
         '<autoref identifier="wpokernel.datasets.make_toy" optional><code>make_toy</code></autoref>'),
        ("wpokernel.estimators.schrodinger.SchrodingerBridge.fit", ":meth:<code>transport</code>",
         '<autoref identifier="wpokernel.estimators.schrodinger.SchrodingerBridge.transport" '
         "optional><code>transport</code></autoref>"),
        # Names outside the package, or only imported by one of its modules, stay plain code.
        ("wpokernel.diagnostics", ":class:<code>~sklearn.mixture.GaussianMixture</code>",
         "<code>GaussianMixture</code>"),
        ("wpokernel.cli", ":mod:<code>argparse</code>", "<code>argparse</code>"),
        ("wpokernel.datasets", ":func:<code>no_such_function</code>", "<code>no_such_function</code>"),
    ],
)
def test_roles_become_code_and_cross_references(scope, role, expected):
    hook = _load_hook("rst_roles")
    html = f"{_heading(scope)}<p>See {role}.</p>"
    assert hook.on_page_content(html, None, None, None) == f"{_heading(scope)}<p>See {expected}.</p>"


def test_roles_leave_math_and_plain_code_alone():
    hook = _load_hook("rst_roles")
    html = f"{_heading('wpokernel.mixture')}<p>:math:<code>x^2</code> and <code>make_toy</code></p>"
    assert hook.on_page_content(html, None, None, None) == html


# ---------------------------------------------------------------- the citation hook
def test_citations_lose_their_markup():
    hook = _load_hook("rst_citations")
    html = "<p>as in [Föl1985]_ and [ABV2023]_, not x[0] or [see]</p>"
    assert hook.on_page_content(html, None, None, None) == (
        "<p>as in [Föl1985] and [ABV2023], not x[0] or [see]</p>"
    )


def test_references_become_one_entry_each():
    hook = _load_hook("rst_citations")
    html = (
        '<details class="references" open>\n  <summary>References</summary>\n'
        "  <p>.. [A2001] A. Author, \"One\",\n   Journal, 2001.\n.. [B2002] B. Author, \"Two\", 2002.</p>\n"
        "</details>"
    )
    expected = (
        '<details class="references" open>\n  <summary>References</summary>\n  '
        '<ul><li><strong>[A2001]</strong> A. Author, "One", Journal, 2001.</li>'
        '<li><strong>[B2002]</strong> B. Author, "Two", 2002.</li></ul>\n</details>'
    )
    assert hook.on_page_content(html, None, None, None) == expected
