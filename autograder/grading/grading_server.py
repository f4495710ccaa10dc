"""A fork server for gradings: one process, its imports done once, forks a fresh grading per submission.

Each ``python -m autograder grade`` starts an interpreter and imports numpy,
pytest and the grader before it grades anything: about 0.3 s of CPU, a third of
a blank release's grading (see BENCHMARKS.md, "Per-submission grading time").
A :class:`GradingServer` is one process that has made those imports. For each
grading it forks a child, which is what ``python -m autograder grade`` would
be after its imports: it runs the same command (``autograder.cli.main``) with
the requester's environment, working folder and arguments, its output going to
the requester's files, and exits with the command's status.

What a grading process guarantees is unchanged, and :func:`grading_process.grade_in_child`
enforces it the same way for a forked grading as for a started one:

- each grading is a process in a session of its own; student code runs in the
  sandbox that grading starts, never in the server (which grades nothing and
  so stays as it was after its imports: every grading forks the same state);
- a timeout or an interrupt kills the grading's whole session (``killpg``),
  and a finished grading's session is killed as well, so nothing it started
  outlives it;
- the server and every grading die with the thread that started the server
  (``PR_SET_PDEATHSIG``), so a grade-all or autograde killed with kill -9
  leaves no grading behind.

Protocol, over a Unix socket in a private folder (mode 0700), one connection
per grading: the requester sends one JSON line ``{"argv", "env", "cwd",
"stdout", "stderr"}``; the forked grading answers ``pid N`` and waits for the
byte ``g`` (go), so that no grading runs whose pid its requester does not know
(a requester that gives up closes the connection instead, and the child exits
without grading); when the command has finished it answers ``exit N``, then
waits until the requester, having killed its session, closes the connection.

Run as ``python -m autograder.grading.grading_server SOCKET``; it prints
``ready`` once it listens and ends when its standard input closes.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

from autograder.scratch import owned_temporary_folder, remove_abandoned, socket_parent

PR_SET_PDEATHSIG = 1
STARTUP_TIMEOUT = 120  # seconds the server may take to make its imports before gradings start their own process


class ServerUnavailable(OSError):
    """The grading server is not running or did not answer; the caller starts a grading process instead."""


def die_with_parent() -> None:
    """Ask the kernel to kill this process (SIGKILL) when the thread that created it ends."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# -- the server process --------------------------------------------------------------------------

def preload() -> None:
    """Import what every grading imports: the grader, pytest and its built-in plugins, numpy."""
    import importlib

    import _pytest.config

    import autograder.cli  # noqa: F401
    import autograder.grading.grade  # noqa: F401
    import autograder.grading.pytest_plugin  # noqa: F401
    import autograder.sandbox.sandbox  # noqa: F401
    for name in _pytest.config.default_plugins:
        with contextlib.suppress(ImportError):
            importlib.import_module(f"_pytest.{name}")


def become_grading(connection: socket.socket, request: dict) -> bool:
    """In a forked child: become the requested grading (its session, files, environment, folder); False if
    the requester gave up before it knew this grading's pid (nothing may run then)."""
    os.setsid()
    die_with_parent()  # the parent is single-threaded: the server, or a suite process
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the grading waits for its sandbox
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY | os.O_CREAT),
                            (2, request["stderr"], os.O_WRONLY | os.O_CREAT)):
        target = os.open(path, flags, 0o600)
        os.dup2(target, fd)
        os.close(target)
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # the requester's TMPDIR, not the one the server's imports found
    os.chdir(request["cwd"])
    sys.argv = [sys.executable, "-m", "autograder", *request["argv"]]
    connection.sendall(f"pid {os.getpid()}\n".encode())
    return connection.recv(1) == b"g"


def end_grading(connection: socket.socket, code: int) -> int:
    """In a grading: finish as the command's process would, tell the requester ``exit N``; ``code``."""
    with contextlib.suppress(Exception):
        import atexit

        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    connection.sendall(f"exit {code}\n".encode())
    with contextlib.suppress(OSError):
        connection.recv(1)  # the requester kills this session, then closes the connection
    return code


def run_grading(connection: socket.socket, suites: dict[str, str]) -> int:
    """In a forked child: read the request, run the command as ``python -m autograder`` would; its status.

    A request the assignment's suite process can take (:mod:`.prepared_suite`) is handed over to it.
    """
    from autograder.grading import prepared_suite

    die_with_parent()  # the parent is the single-threaded server
    reader = connection.makefile("rb")
    line = reader.readline()
    if not line.strip():  # a connection that asks nothing, or a requester gone: nothing to grade
        return 1
    request = json.loads(line)
    if prepared_suite.forward(request, line, connection, suites):
        return 0
    if not become_grading(connection, request):  # grade nothing
        return 1
    try:
        from autograder.cli import main

        code = main(request["argv"])
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, int) and done.code is not None:
            print(done.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - reported as the command line would, then a status
        traceback.print_exc()
        code = 1
    return end_grading(connection, 0 if code is None else int(code))


def serve(path: str, prepare: list[str] = ()) -> None:
    """Listen on the Unix socket ``path`` and fork a grading per connection, until stdin closes.

    Each assignment of ``prepare`` gets a suite process (:func:`.prepared_suite.start`), listening
    beside ``path``, that the batch's gradings are forked from once it has collected its suite.
    """
    from autograder.grading import prepared_suite

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the requester decides when gradings stop
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # finished gradings are reaped by the kernel
    preload()
    suites = {}
    for number, assignment in enumerate(dict.fromkeys(prepare)):
        suites[assignment] = path + SUITE_SOCKET_SUFFIX.format(number=number)
        prepared_suite.start(assignment, suites[assignment])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ)
    events.register(sys.stdin, selectors.EVENT_READ)
    while True:
        for key, _ in events.select():
            if key.fileobj is sys.stdin:
                if not sys.stdin.buffer.read1(4096):
                    return
                continue
            connection, _ = listener.accept()
            if os.fork() == 0:
                code = 1
                try:
                    listener.close()
                    code = run_grading(connection, suites)
                finally:
                    os._exit(code)
            connection.close()


# -- the requester's side --------------------------------------------------------------------------

FOLDER_PREFIX = "grading-server-"
SOCKET_NAME = "socket"
SUITE_SOCKET_SUFFIX = ".suite{number}"  # beside the server's socket: a suite process's (.prepared_suite)
SUITE_SOCKET_ROOM = len(SUITE_SOCKET_SUFFIX.format(number=99)) + len(".new")


def folders_parent() -> Path:
    """Where the servers' private folders go: one a socket's path fits in (:func:`.socket_parent`).

    Raises
    ------
    ServerUnavailable
        When there is none.
    """
    try:
        return socket_parent(len(SOCKET_NAME) + SUITE_SOCKET_ROOM)
    except OSError as err:
        raise ServerUnavailable(f"no folder for the grading server's socket: {err}") from None


def server_command(path: str, prepare: tuple[str, ...] = ()) -> list[str]:
    """The command that runs a grading server listening at ``path``, with a suite process for each of ``prepare``."""
    return [sys.executable, "-m", "autograder.grading.grading_server", path, *prepare]


class GradingServer:
    """A running fork server; a context manager (leaving it stops the server, not running gradings).

    Each assignment of ``prepare`` gets a suite process: that assignment's gradings of the batch's
    form are forked after its suite is collected, once for all (:mod:`.prepared_suite`).

    Start it from a thread that outlives the gradings (the server dies with that thread). It is
    not waited for: its caller prepares its first submissions while the server makes its imports,
    and the first request waits until it listens (:meth:`wait_until_ready`), outside that grading's
    time limit. A server that does not start leaves each grading to a process of its own.

    Raises
    ------
    ServerUnavailable
        On creation, when there is no folder its socket's path fits in (:func:`folders_parent`).
    """

    def __init__(self, prepare: tuple[str, ...] = ()):
        parent = folders_parent()
        remove_abandoned(parent)  # folders of killed runs (kill -9) there
        self._folder = contextlib.ExitStack()
        self.path = str(Path(self._folder.enter_context(owned_temporary_folder(FOLDER_PREFIX, dir=parent)))
                        / SOCKET_NAME)
        from autograder.paths import REPO_ROOT

        # not waited for here: the caller prepares its first submissions while the server imports
        self._proc = subprocess.Popen(server_command(self.path, tuple(prepare)), cwd=REPO_ROOT, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, start_new_session=True)
        self._starting = threading.Lock()
        self._ready: bool | None = None  # None: not known yet

    def wait_until_ready(self) -> None:
        """Wait until the server listens (at most ``STARTUP_TIMEOUT`` s, once for all callers).

        Raises
        ------
        ServerUnavailable
            When the server did not start (or has been closed).
        """
        with self._starting:
            if self._ready is None:
                try:
                    answered, _, _ = select.select([self._proc.stdout], [], [], STARTUP_TIMEOUT)
                    self._ready = bool(answered) and self._proc.stdout.readline().strip() == b"ready"
                except (OSError, ValueError):  # its output closed: the server was closed
                    self._ready = False
        if not self._ready:
            raise ServerUnavailable("the grading server did not start")

    @property
    def failed(self) -> bool:
        """Whether the server is known not to have started (gradings then start their own process)."""
        return self._ready is False

    def __enter__(self) -> "GradingServer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server (its standard input closed; killed at once if it never listened) and remove its socket."""
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        if self._ready is not True:  # it never listened, so it forked no grading: nothing to let finish
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        with self._starting:  # not while a caller waits for its start (which the server's exit ends)
            self._proc.stdout.close()
        self._folder.close()

    def connect(self, request: dict, timeout: float) -> socket.socket:
        """Send one grading request; the connection on which its ``pid`` and ``exit`` lines come.

        Raises
        ------
        ServerUnavailable
            When the server did not start or cannot be reached.
        """
        self.wait_until_ready()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(min(timeout, 30))
        try:
            connection.connect(self.path)
            connection.sendall(json.dumps(request).encode() + b"\n")
        except OSError as err:
            connection.close()
            raise ServerUnavailable(f"the grading server at {self.path} is not reachable: {err}") from None
        return connection


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
