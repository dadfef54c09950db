r"""MkDocs hook: render the reStructuredText math of numpydoc docstrings with MathJax.

mkdocstrings passes ``.. math::`` blocks through as a paragraph followed by a code block and
``:math:`x``` roles as text followed by inline code. This hook rewrites both, in the built
HTML of each page, into the ``arithmatex`` markup that ``docs/javascripts/mathjax.js``
typesets: ``\[ ... \]`` for blocks and ``\( ... \)`` for inline math.
"""

import re

_MATH_BLOCK = re.compile(
    r"<p>\.\. math::</p>\s*"
    r"<div class=\"highlight\"><pre>(?:<span></span>)?<code>(.*?)</code></pre></div>",
    re.DOTALL,
)
_MATH_ROLE = re.compile(r":math:<code>(.*?)</code>", re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]+>")


def _display(match):
    # Pygments may wrap tokens in spans; the TeX source is the text without the tags. A blank
    # line ends a TeX paragraph, which math mode forbids, so each part gets its own block.
    tex = _HTML_TAG.sub("", match.group(1)).strip()
    parts = re.split(r"\n\s*\n", tex)
    return "".join(f'<div class="arithmatex">\\[{part}\\]</div>' for part in parts)


def _inline(match):
    return f'<span class="arithmatex">\\({_HTML_TAG.sub("", match.group(1))}\\)</span>'


def on_page_content(html, page, config, files):
    """Rewrite the reStructuredText math of one page's HTML for MathJax."""
    del page, config, files  # the MkDocs hook signature; only the HTML is needed
    return _MATH_ROLE.sub(_inline, _MATH_BLOCK.sub(_display, html))
