r"""MkDocs hook: render the reStructuredText citations of numpydoc docstrings.

A docstring cites a reference as ``[KEY]_`` and lists it under "References" as
``.. [KEY] Author, "Title", ...``. mkdocstrings passes both through as text, the list as one
paragraph. This hook shows a citation as ``[KEY]`` and turns each References paragraph into a
list with one entry per ``.. [KEY]``.
"""

import re

_CITATION = re.compile(r"\[(?P<key>[^\W\d_][\w-]*)\]_")
_REFERENCES = re.compile(
    r'(?P<open><details class="references"[^>]*>\s*<summary>[^<]*</summary>\s*)'
    r"<p>(?P<body>.*?)</p>",
    re.DOTALL,
)
_ENTRY = re.compile(r"^\.\. \[(?P<key>[^\]]+)\]\s*", re.MULTILINE)


def _entries(match):
    parts = _ENTRY.split(match["body"])
    # split() gives [text before the first entry, key, text, key, text, ...].
    items = "".join(
        f"<li><strong>[{key}]</strong> {' '.join(text.split())}</li>"
        for key, text in zip(parts[1::2], parts[2::2])
    )
    return f"{match['open']}<ul>{items}</ul>" if items else match.group(0)


def on_page_content(html, page, config, files):
    """Rewrite the citations and References lists of one page's HTML."""
    del page, config, files  # the MkDocs hook signature; only the HTML is needed
    return _CITATION.sub(r"[\g<key>]", _REFERENCES.sub(_entries, html))
