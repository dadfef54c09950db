r"""MkDocs hook: render the Sphinx cross-reference roles of numpydoc docstrings as links.

mkdocstrings passes a role such as ``:func:`~wpokernel.sinkhorn.sinkhorn``` through as the
text ``:func:`` followed by inline code. This hook rewrites each ``:func:``, ``:class:``,
``:meth:``, ``:mod:``, ``:data:``, ``:attr:`` or ``:obj:`` role into the code alone, shown as
Sphinx shows it (``~`` keeps the last name only), inside an optional ``<autoref>`` that
mkdocs-autorefs turns into a link when the target is documented on the site.

A name that is not fully qualified is looked up, as Sphinx does, from the object whose
documentation it appears in: the scopes are the dotted prefixes of the id of the last API
heading before it, innermost first, and the first scope in which the name imports is taken.
Names outside the package stay plain code.
"""

import importlib
import inspect
import re
from functools import lru_cache

_PACKAGE = "wpokernel"
_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|obj):<code>(?P<target>[^<]*)</code>")
_API_HEADING = re.compile(rf'<h[1-6] id="(?P<id>{_PACKAGE}(?:\.[\w.]+)?)" class="doc doc-heading"')


@lru_cache(maxsize=None)
def _in_package(path):
    """Whether the dotted ``path`` names an object of the package.

    Names that a module merely imports from elsewhere (``argparse``, ``check_random_state``)
    reach an object defined outside the package and do not count.
    """
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        origin = getattr(obj, "__name__", "") if inspect.ismodule(obj) else getattr(obj, "__module__", None)
        return origin is None or origin == _PACKAGE or origin.startswith(f"{_PACKAGE}.")
    return False


def _scopes(heading_id):
    """Dotted prefixes of ``heading_id``, innermost first."""
    parts = heading_id.split(".") if heading_id else []
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _identifier(name, heading_id):
    """Full dotted path of ``name`` seen from ``heading_id``, or ``None`` outside the package."""
    if name.startswith(f"{_PACKAGE}.") or name == _PACKAGE:
        return name if _in_package(name) else None
    for scope in _scopes(heading_id):
        # A leading dot (":mod:`._prepared`") is relative to the scope itself.
        candidate = f"{scope}{name}" if name.startswith(".") else f"{scope}.{name}"
        if _in_package(candidate):
            return candidate
    return None


def _render(target, heading_id):
    name = target.lstrip("~")
    shown = name.rsplit(".", 1)[-1] if target.startswith("~") else name.lstrip(".")
    code = f"<code>{shown}</code>"
    identifier = _identifier(name, heading_id)
    if identifier is None:
        return code
    return f'<autoref identifier="{identifier}" optional>{code}</autoref>'


def on_page_content(html, page, config, files):
    """Rewrite the Sphinx roles of one page's HTML into code and optional cross-references."""
    del page, config, files  # the MkDocs hook signature; only the HTML is needed
    headings = [(m.start(), m["id"]) for m in _API_HEADING.finditer(html)]

    def replace(match):
        current = None
        for start, heading_id in headings:
            if start > match.start():
                break
            current = heading_id
        return _render(match["target"], current)

    return _ROLE.sub(replace, html)
