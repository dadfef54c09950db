"""MkDocs hook: ship MathJax with the site, so that its formulas render without a network.

The site loads ``javascripts/mathjax/tex-mml-chtml.js``; after the build this hook copies
MathJax's ``es5`` folder (the script, its fonts and its extensions) there from
``.mathjax/node_modules/mathjax/es5``, which ``docs/fetch_mathjax.sh`` fills from the npm
registry. Without it the build fails, in strict mode, with the command to run.
"""

import logging
import shutil
from pathlib import Path

_SOURCE = Path(".mathjax/node_modules/mathjax/es5")
_TARGET = Path("javascripts/mathjax")
log = logging.getLogger("mkdocs.plugins.mathjax_vendor")


def on_post_build(config):
    source = Path(config["config_file_path"]).parent / _SOURCE
    if not (source / "tex-mml-chtml.js").is_file():
        log.warning("MathJax is missing from %s: run `bash docs/fetch_mathjax.sh` first, or the "
                    "site's formulas will not render offline.", source)
        return
    shutil.copytree(source, Path(config["site_dir"]) / _TARGET, dirs_exist_ok=True)
