"""Run nbgrader's own commands from the kit (demo, tests), with this interpreter's tools."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def nbgrader_env(extra: dict | None = None) -> dict:
    """The environment for an nbgrader subprocess.

    nbgrader shells out to ``alembic`` to create and upgrade the gradebook, so
    the folder of this interpreter's console scripts goes first on ``PATH``
    (it is not there when the kit runs from a virtual environment that was
    never activated).
    """
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    env.update(extra or {})
    return env


def run_nbgrader(args: list[str], cwd: Path, timeout: float = 600, env: dict | None = None,
                 ) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder ``cwd`` and capture its output.

    Returns
    -------
    subprocess.CompletedProcess
        With text ``stdout``/``stderr``; the caller decides what a failure means.
    """
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=nbgrader_env(env))
