"""One grading in a child process: ``python -m autograder grade`` in a session of its own.

``nbgrader autograde`` (:mod:`autograder.nbgrader.autograde`) and ``grade-all``
(:mod:`autograder.classwide.grade_all`) both grade this way, so that a submission that hangs
costs one timeout, and a timeout or an interrupt stops the grader together with
its sandbox and everything student code started.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.paths import REPO_ROOT


class GradingProcessFailed(RuntimeError):
    """The grading command did not complete: it timed out, exited non-zero or wrote no results."""


def grade_in_child(folder: Path, assignment: str, timeout: float) -> dict:
    """Grade ``folder`` with the hidden suite of ``assignment`` in a child process.

    Inputs
    ------
    folder : Path
        One student's assignment folder (notebooks and ``nnl/``).
    assignment : str
        Which hidden suite.
    timeout : float
        Seconds the whole grading may take.

    Returns
    -------
    dict
        The Gradescope-format results the command wrote.

    Raises
    ------
    GradingProcessFailed
        When the command times out, exits non-zero or writes no results; the message says which,
        with the end of the grader's error output.
    KeyboardInterrupt, SystemExit
        Passed on, once the child's whole session is killed.
    """
    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        out = Path(tmp) / "results.json"
        proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(folder), "--assignment", assignment,
                                 "--json", str(out)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GradingProcessFailed(f"grading did not finish within {timeout:g} s") from None
        finally:  # whatever happened: nothing of the grading outlives it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()  # reap it and close its pipes
        if proc.returncode != 0 or not out.is_file():
            tail = (stderr or stdout).strip()[-2000:]
            raise GradingProcessFailed(f"the grader exited {proc.returncode}: {tail}")
        return json.loads(out.read_text())
