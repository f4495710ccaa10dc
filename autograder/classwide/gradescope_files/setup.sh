#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the grading image (Ubuntu).
# It installs the grader's needs: bubblewrap for the sandbox and a Python >= 3.11
# virtual environment (the kit reads its rubric with tomllib) holding the packages
# listed in requirements.txt (written by autograder/classwide/gradescope.py).
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${AUTOGRADER_ROOT:-/autograder}"
export DEBIAN_FRONTEND=noninteractive

apt-get update
apt-get install -y --no-install-recommends python3 python3-pip python3-venv bubblewrap ca-certificates

PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    # Ubuntu 22.04 ships Python 3.10 but has python3.11 in universe; older releases need deadsnakes.
    if ! apt-get install -y --no-install-recommends python3.11 python3.11-venv; then
        apt-get install -y --no-install-recommends software-properties-common
        add-apt-repository -y ppa:deadsnakes/ppa
        apt-get update
        apt-get install -y --no-install-recommends python3.11 python3.11-venv
    fi
    PYTHON=python3.11
fi

# A virtual environment, not the system's pip: Ubuntu 24.04 refuses system-wide pip installs.
"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --no-cache-dir --upgrade pip
"$ROOT/venv/bin/python" -m pip install --no-cache-dir -r "$SOURCE/requirements.txt"
# The sandbox's unprivileged user needs to reach the interpreter and numpy.
chmod -R o+rX "$ROOT/venv"
"$ROOT/venv/bin/python" -c 'import numpy, pytest, nbformat; print("grader environment ready")'
