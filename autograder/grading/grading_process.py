"""One grading in a child process: ``python -m autograder grade`` in a session of its own.

``nbgrader autograde`` (:mod:`autograder.nbgrader.autograde`) and ``grade-all``
(:mod:`autograder.classwide.grade_all`) both grade this way, so that a submission that hangs
costs one timeout, and a timeout or an interrupt stops the grader together with
its sandbox and everything student code started. The child is either started
(``python -m autograder grade``) or, when the caller has a
:class:`~autograder.grading.grading_server.GradingServer`, forked from it with
its imports already made; both are killed, whole, the same way.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from autograder.grading.grading_server import GradingServer, ServerUnavailable
from autograder.paths import REPO_ROOT
from autograder.scratch import owned_temporary_folder

log = logging.getLogger(__name__)


class GradingProcessFailed(RuntimeError):
    """The grading command did not complete: it timed out, exited non-zero or wrote no results."""


class GradingGroup:
    """The gradings of one batch, stopped together (Ctrl-C), none started after the stop.

    :func:`grade_in_child` registers each grading's session here while it runs; :meth:`stop` kills
    every running one at once instead of waiting for each to end (a hung grading could hold a
    stopped batch for its whole time limit), and any grading that starts afterwards is killed as
    soon as its pid is known, before it grades.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._sessions: set[int] = set()
        self.stopped = False

    def started(self, pid: int) -> None:
        """Grading session ``pid`` runs (killed at once when the group is already stopped)."""
        with self._lock:
            if self.stopped:
                _kill_session(pid)
            else:
                self._sessions.add(pid)

    def finished(self, pid: int) -> None:
        with self._lock:
            self._sessions.discard(pid)

    def stop(self) -> None:
        """Kill every running grading of the group; later ones are killed as they start."""
        with self._lock:
            self.stopped = True
            for pid in self._sessions:
                _kill_session(pid)
            self._sessions.clear()


def grade_in_child(folder: Path, assignment: str, timeout: float, server: GradingServer | None = None,
                   group: GradingGroup | None = None) -> dict:
    """Grade ``folder`` with the hidden suite of ``assignment`` in a child process.

    Inputs
    ------
    folder : Path
        One student's assignment folder (notebooks and ``nnl/``).
    assignment : str
        Which hidden suite.
    timeout : float
        Seconds the whole grading may take.
    server : GradingServer, optional
        Fork the child from this server instead of starting an interpreter; when the server
        cannot be reached the child is started as usual (a warning is logged).
    group : GradingGroup, optional
        The batch this grading belongs to: stopping it kills the grading.

    Returns
    -------
    dict
        The Gradescope-format results the command wrote.

    Raises
    ------
    GradingProcessFailed
        When the command times out, exits non-zero or writes no results (its group was stopped);
        the message says which, with the end of the grader's error output.
    KeyboardInterrupt, SystemExit
        Passed on, once the child's whole session is killed.
    """
    # the grading's TMPDIR, removed here however the grading ended: one killed whole (its time limit,
    # Ctrl-C) cannot remove what it and its sandbox wrote there (the sandbox's copy of the student's
    # files). Others may traverse it, not list it, as a sandbox user needs to reach its folder inside.
    with owned_temporary_folder("grading-") as tmp, owned_temporary_folder("grading-scratch-", 0o711) as scratch:
        out = Path(tmp) / "results.json"
        argv = ["grade", str(folder), "--assignment", assignment, "--json", str(out)]
        env = {**os.environ, "TMPDIR": scratch}
        group = group or GradingGroup()
        if group.stopped:
            raise GradingProcessFailed("the batch was stopped before this grading started")
        returncode = None
        if server is not None and not server.failed:  # one that did not start was reported already
            try:
                returncode, stdout, stderr = _forked(server, argv, env, Path(tmp), timeout, group)
            except ServerUnavailable as err:
                log.warning("%s; grading %s in a new process", err, folder)
        if returncode is None:
            returncode, stdout, stderr = _started(argv, env, timeout, group)
        if group.stopped:
            raise GradingProcessFailed("the batch was stopped while this grading ran")
        if returncode != 0 or not out.is_file():
            tail = (stderr or stdout).strip()[-2000:]
            raise GradingProcessFailed(f"the grader exited {returncode}: {tail}")
        return json.loads(out.read_text())


def _kill_session(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _started(argv: list[str], env: dict[str, str], timeout: float, group: GradingGroup) -> tuple[int, str, str]:
    """Run ``python -m autograder ARGV`` in a new session with ``env``; its status, stdout and stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "autograder", *argv], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    group.started(proc.pid)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise GradingProcessFailed(f"grading did not finish within {timeout:g} s") from None
    finally:  # whatever happened: nothing of the grading outlives it
        _kill_session(proc.pid)
        group.finished(proc.pid)
        proc.communicate()  # reap it and close its pipes
    return proc.returncode, stdout, stderr


def _forked(server: GradingServer, argv: list[str], env: dict[str, str], tmp: Path, timeout: float,
            group: GradingGroup) -> tuple[int, str, str]:
    """Run the command with ``env`` in a child forked from ``server``; its status, stdout and stderr.

    The time limit counts from the request, fork included. The child grades only once it has
    been told to go, after its pid is known here, so a grading given up before then never runs.

    Raises
    ------
    ServerUnavailable
        When the server did not start, cannot be reached or forks nothing (nothing was graded).
    GradingProcessFailed
        When the time limit is reached, before or after the fork.
    """
    server.wait_until_ready()  # the server's own start-up is not the grading's time
    deadline = time.monotonic() + timeout
    stdout, stderr = tmp / "stdout", tmp / "stderr"
    connection = server.connect({"argv": argv, "env": env, "cwd": str(REPO_ROOT),
                                 "stdout": str(stdout), "stderr": str(stderr)}, timeout)
    pid = None
    try:
        reader = connection.makefile("rb")
        started = _line_before(deadline, connection, reader)
        if len(started) != 2 or started[0] != b"pid":
            raise ServerUnavailable("the grading server did not fork a grading")
        pid = int(started[1])
        group.started(pid)  # killed here, before it grades, when the batch is stopped
        connection.sendall(b"g")  # go: the pid is known, the grading may start
        finished = _line_before(deadline, connection, reader)
    except ServerUnavailable:
        raise
    except TimeoutError:  # a socket timeout
        raise GradingProcessFailed(f"grading did not finish within {timeout:g} s") from None
    except OSError as err:
        if pid is None:  # the server went away before it forked: nothing was graded
            raise ServerUnavailable(f"the grading server did not fork a grading: {err}") from None
        finished = []  # the grading's end of the connection went away: it was killed
    finally:  # whatever happened: nothing of the grading outlives it
        if pid is not None:
            _kill_session(pid)
            group.finished(pid)
        connection.close()
    returncode = int(finished[1]) if len(finished) == 2 and finished[0] == b"exit" else -signal.SIGKILL
    return returncode, _read(stdout), _read(stderr)


def _line_before(deadline: float, connection: socket.socket, reader) -> list[bytes]:
    """The next line from the grading, split; ``TimeoutError`` when it has not come by ``deadline``."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline has passed")
    connection.settimeout(left)
    return reader.readline().split()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
