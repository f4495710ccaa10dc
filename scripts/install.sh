#!/usr/bin/env bash
# Install everything the kit needs into the current Python environment.
# Usage: bash scripts/install.sh        (from the repository root; root or a virtualenv)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet -e .
# The Jupyter kernel the notebooks and tests run in.
"$PY" -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "installed: $("$PY" -c 'import nbgrader, numpy; print("nbgrader", nbgrader.__version__, "numpy", numpy.__version__)')"
