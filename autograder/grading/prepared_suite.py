"""A hidden suite configured and collected once per batch, each grading forked after its collection.

Before its first test, a grading spends about a quarter to a third of its CPU in the grader's process
on work that is the same for every submission of a batch: pytest's configuration, the suite's modules
imported (their asserts rewritten), the rubric, the reference's catalogue of mistakes and the tests
collected (see BENCHMARKS.md, "Whole-suite grading time"). A grading server started for an assignment
forks one suite process for it (:func:`start`), which does that work once, inside an ordinary run of
the suite (`grade.SuiteRun`), and stops at the end of collection, where it listens on a socket of its
own in the server's private folder.

A grading the server forks for a request of the batch's form (``grade SUBMISSION --assignment A
--json OUT``, the environment pytest reads as the server's) hands its connection over to the suite
process (:func:`forward`) and exits. The suite process forks a grading for it, which takes the
request as any grading does (its own session, the requester's environment, working folder and output
files; its pid sent, then the requester's go), sets the submission, starts the submission's sandbox
and lets pytest go on from the collected tests: the same run, tests and results as the command's.
Student code still runs only in that grading's sandbox; the suite process never starts one. When the
suite process is not listening (still collecting, or its collection failed), the request is graded by
the grading the server forked, as without it.

The suite process dies with the server, and its gradings with it (``PR_SET_PDEATHSIG``), as the
server's own gradings do.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
import traceback
from pathlib import Path

import pytest

from autograder.cli import grade_summary
from autograder.grading import grading_server, pytest_plugin
from autograder.grading.grade import AUTOLOAD_OFF, GradingError, SuiteRun, outcome_to_file

# What pytest reads from the environment when it configures itself, or when it writes its output:
# a request whose values differ from the suite process's is graded without it.
PYTEST_ENVIRONMENT = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DEBUG", "PY_COLORS", "NO_COLOR", "FORCE_COLOR",
                      "COLUMNS")
HANDOVER_TIMEOUT = 10  # seconds a grading may wait for the suite process to take its connection
FORKED, REFUSED = b"f", b"n"  # the suite process's answers to a handover


def assignment_of(request: dict) -> str | None:
    """The assignment of a request of the batch's form (``grade SUB --assignment A --json OUT``), else None."""
    argv = request.get("argv")
    if (isinstance(argv, list) and len(argv) == 6 and all(isinstance(part, str) for part in argv)
            and argv[0] == "grade" and argv[2] == "--assignment" and argv[4] == "--json"):
        return argv[3]
    return None


def _same_pytest_environment(env: dict) -> bool:
    return all(env.get(name) == os.environ.get(name) for name in PYTEST_ENVIRONMENT)


def forward(request: dict, line: bytes, connection: socket.socket, suites: dict[str, str]) -> bool:
    """In a grading forked by the server: hand the connection to the request's suite process, if it can take it.

    Returns
    -------
    bool
        False when this grading must grade the request itself: there is no suite process for it, it
        is not listening (yet), or it refused the request. True once the connection is handed over and
        not refused: a grading forked from the suite process answers it, or, if the suite process died
        meanwhile, nobody (the requester then sees the connection close), never two gradings.
    """
    path = suites.get(assignment_of(request) or "")
    if path is None or not isinstance(request.get("env"), dict) or not _same_pytest_environment(request["env"]):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as suite:
        suite.settimeout(HANDOVER_TIMEOUT)
        try:
            suite.connect(path)
            socket.send_fds(suite, [b"c"], [connection.fileno()])
            suite.sendall(line)
            suite.shutdown(socket.SHUT_WR)
        except OSError:  # not listening, or gone: it forks nothing for a handover it could not read
            return False
        suite.settimeout(None)  # handed over: its answer, however long it takes
        try:
            answer = suite.recv(1)
        except OSError:
            answer = b""
    return answer != REFUSED


def start(assignment: str, path: str) -> int:
    """In the server, before it listens: fork the suite process of ``assignment``, to listen at ``path``.

    Returns
    -------
    int
        The suite process's pid.
    """
    pid = os.fork()
    if pid == 0:
        try:
            _suite_process(assignment, path)
        finally:
            os._exit(1)
    return pid


class _NoSandboxYet:
    """The suite process's stand-in for a grading's sandbox: there is no submission before the fork."""

    def get(self):
        raise pytest_plugin.GraderError("a prepared suite has no submission")

    def close(self) -> None:
        pass


class _ForkAfterCollection:
    """A pytest plugin object: at the end of collection, serve forked gradings; only they go on running tests."""

    def __init__(self, run: SuiteRun, path: str):
        self.run, self.path = run, path
        self.grading: tuple[socket.socket, dict] | None = None  # set in a forked grading only
        self.sandbox = None

    def pytest_configure(self, config):
        config.stash[pytest_plugin.EARLY] = _NoSandboxYet()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        connection, request = self._serve()  # returns in a forked grading only
        self.grading = (connection, request)
        if not grading_server.become_grading(connection, request):
            os._exit(1)  # the requester gave up before it knew this grading's pid
        os.environ[AUTOLOAD_OFF] = "1"  # as during any grading's run of pytest
        try:
            self.run.for_submission(Path(request["argv"][1]))
        except GradingError as err:  # reported as the command reports it, before any test
            _finish_grading(connection, request, err)
        session.config.stash[pytest_plugin.SUBMISSION] = str(self.run.submission)
        self.run.collector.started = time.perf_counter()
        self.sandbox = session.config.stash[pytest_plugin.EARLY] = self.run.start_sandbox()

    def _serve(self) -> tuple[socket.socket, dict]:
        """Listen at `path`; fork a grading per handed-over connection, until the server ends (this process with it)."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path + ".new")
        listener.listen(64)
        os.rename(self.path + ".new", self.path)  # listening: gradings may hand over from now on
        while True:
            handover, _ = listener.accept()
            fds, request = [], None
            try:
                handover.settimeout(HANDOVER_TIMEOUT)
                _, fds, _, _ = socket.recv_fds(handover, 1, 1)
                request = json.loads(b"".join(iter(lambda: handover.recv(65536), b"")))
            except (OSError, ValueError):
                pass
            if len(fds) != 1 or not isinstance(request, dict) or assignment_of(request) != self.run.assignment:
                # graded by the server's grading instead
                for fd in fds:
                    os.close(fd)
                with contextlib.suppress(OSError):
                    handover.sendall(REFUSED)
                handover.close()
                continue
            if os.fork() == 0:
                listener.close()
                handover.close()
                return socket.socket(fileno=fds[0]), request
            os.close(fds[0])
            with contextlib.suppress(OSError):
                handover.sendall(FORKED)
            handover.close()


def _suite_process(assignment: str, path: str) -> None:
    """The suite process: configure and collect; every grading forked from it finishes its run here."""
    grading_server.die_with_parent()  # the parent is the single-threaded server
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # finished gradings are reaped by the kernel
    for fd in (0, 1):  # not the server's: its standard output is how the server says it is ready
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, fd)
        os.close(null)
    run = SuiteRun(assignment)
    plugin = _ForkAfterCollection(run, path)
    crash = None
    with run.pytest_context():
        try:
            code = pytest.main(run.pytest_args(), plugins=[pytest_plugin, run.collector, plugin])
        except Exception:  # noqa: BLE001 - pytest itself failed: reported as `grade` reports it
            code, crash = None, traceback.format_exc(limit=3)
        finally:
            if plugin.sandbox is not None:
                plugin.sandbox.close()
    if plugin.grading is None:  # the suite process: its collection failed, so it never listened
        os._exit(1)
    connection, request = plugin.grading
    try:
        if crash is not None:
            raise GradingError(f"the hidden suite crashed: {crash}")
        outcome = run.results(code)
    except GradingError as err:
        outcome = err
    _finish_grading(connection, request, outcome)


def _finish_grading(connection: socket.socket, request: dict, outcome) -> None:
    """End a forked grading as the grade command ends: its results file, its summary line, its status.

    ``outcome`` is the `GradingResults`, or the `GradingError` that stopped the grading.
    """
    def results():
        if isinstance(outcome, GradingError):
            raise outcome
        return outcome

    status, written = outcome_to_file(results, Path(request["argv"][5]))
    if written is not None:
        print(grade_summary(request["argv"][1], written))
    os._exit(grading_server.end_grading(connection, status))
