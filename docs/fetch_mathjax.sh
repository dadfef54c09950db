#!/usr/bin/env bash
# Fetch MathJax 3 from the npm registry into .mathjax/, where the docs build takes it from
# (docs/hooks/mathjax_vendor.py copies it into the site, so that formulas render offline).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f .mathjax/node_modules/mathjax/es5/tex-mml-chtml.js ]; then
    npm install --prefix .mathjax --no-save --no-audit --no-fund mathjax@3.2.2 >/dev/null
fi
echo "MathJax in .mathjax/node_modules/mathjax/es5"
