#!/usr/bin/env bash
# Install everything the kit needs into the current Python environment.
# Usage: bash scripts/install.sh        (from the repository root; root or a virtualenv)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
# Debian packages: bubblewrap isolates student code when grading (the grader
# falls back to resource limits alone, and says so, where it is missing);
# chromium and its driver open the class report in the tests.
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "note: not installed: ${missing[*]}; install them as root: apt-get install ${missing[*]}" >&2
    fi
fi
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet -e ".[dask,test,fast-start]"
# The Jupyter kernel the notebooks and tests run in.
"$PY" -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "installed: $("$PY" -c 'import nbgrader, numpy; print("nbgrader", nbgrader.__version__, "numpy", numpy.__version__)')"
