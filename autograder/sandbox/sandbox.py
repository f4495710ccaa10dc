"""Run one student's code in a sandboxed worker process and call it safely from the grader.

The hidden suites live in the parent process; student code runs only in the
worker (``sandbox_worker.py``), started under bubblewrap with its own pid,
network, IPC and UTS namespaces, a read-only file system view holding only
the interpreter, numpy, a copy of the submission and the worker script, and
resource limits. Everything the worker sends back is decoded here by a strict
decoder that never unpickles: arrays become plain ``float64`` / ``int64``
``np.ndarray``, anything else stays in the worker behind a `Handle`.

Example
-------
>>> with Sandbox(submission_dir) as sb:                                  # doctest: +SKIP
...     out, cache = sb.call("nnl.conv_layers", "conv_forward_naive", x, w, b, {"stride": 1, "pad": 1})
...     dx, dw, db = sb.call("nnl.conv_layers", "conv_backward_naive", dout, cache)

Notes
-----
* As root, bwrap runs without a user namespace and the worker drops to a
  per-sandbox unprivileged uid before it imports anything of the student's,
  so ``RLIMIT_NPROC`` applies. As another user, bwrap makes a user namespace
  and the worker keeps that user's uid.
* ``--die-with-parent`` ties the sandbox to the *thread* that started it:
  create and use a `Sandbox` from one long-lived thread.
* ``cpu_seconds`` limits the worker's whole life (restarts start afresh);
  ``call_timeout`` limits the wall-clock time of each request.
"""
from __future__ import annotations

import fcntl
import itertools
import json
import os
import resource
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autograder.scratch import claim

MAGIC = b"SBX1"
WORKER_SCRIPT = Path(__file__).with_name("worker.py")
SANDBOX_ROOT = "/submission"
SANDBOX_WORKER_DIR = "/sandbox"
MAX_HEADER_BYTES = 4 << 20
MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_TEXT = 2000
PASSTHROUGH_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_instances = itertools.count()


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed worker.

    Attributes
    ----------
    memory_mb : int
        Address-space limit (``RLIMIT_AS``) of every sandboxed process.
    cpu_seconds : int
        CPU time limit (``RLIMIT_CPU``) over the worker's whole life.
    call_timeout : float
        Wall-clock seconds a single request may take before the sandbox is killed.
    max_output_kb : int
        How much of the worker's stdout and of its stderr is kept (each); the rest is drained and dropped.
    max_processes : int
        ``RLIMIT_NPROC`` of the sandbox user (enforced when the sandbox user is not root).
    max_file_mb : int
        ``RLIMIT_FSIZE``: largest file the worker may write (its ``/tmp`` is a tmpfs of this size too).
    max_message_mb : int
        Largest protocol message accepted from the worker.
    startup_timeout : float
        Seconds the worker may take to start and import numpy.
    """

    memory_mb: int = 2048
    cpu_seconds: int = 60
    call_timeout: float = 20.0
    max_output_kb: int = 64
    max_processes: int = 64
    max_file_mb: int = 16
    max_message_mb: int = 256
    startup_timeout: float = 30.0


class StudentError(Exception):
    """Student code failed; the failure is data about the student, never a grader crash.

    Attributes
    ----------
    kind : str
        ``"exception"`` (the student's code raised), ``"import"`` (a module failed to import:
        syntax error, exception or ``sys.exit`` at import time), ``"timeout"`` (the request ran
        past the wall-clock limit), ``"crash"`` (``sys.exit``, ``os._exit``, a signal, memory
        exhausted, or an object lost in an earlier crash), ``"too_large"`` (what the code returned
        is too large to send back; the message gives its size and the limit) or ``"protocol"``
        (the worker sent something that is not a valid reply).
    type_name : str
        Name of the exception type raised in the worker, or ``""``.
    message : str
        Short explanation, capped in length.
    traceback : list of str
        ``"file:line in function: source"`` lines from the student's own files only.
    importing : tuple of str
        For a timeout while the worker imported student modules: the dotted names of the modules
        whose top-level code was running, outermost first (the last one is where it was stuck), as
        the worker reported shortly before the limit; empty otherwise or without a report.
    """

    def __init__(self, kind: str, type_name: str = "", message: str = "", traceback: list[str] | None = None,
                 importing: tuple[str, ...] = ()):
        self.kind = kind
        self.type_name = type_name[:100]
        self.message = message[:MAX_TEXT]
        self.traceback = list(traceback or [])
        self.importing = tuple(importing)
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.kind}: {self.type_name + ': ' if self.type_name else ''}{self.message}"
        return "\n".join([head] + ["  " + line for line in self.traceback])


@dataclass(frozen=True)
class Handle:
    """An object that stays in the worker (a cache, a model); pass it back to later calls.

    Attributes
    ----------
    id : int
        The worker's number for the object.
    type_name : str
        The object's type name as the worker reported it (untrusted, for messages only).
    generation : int
        Which worker incarnation owns it; handles die with their worker.
    """

    id: int
    type_name: str
    generation: int

    def __repr__(self) -> str:
        return f"<Handle {self.type_name} #{self.id}>"


@dataclass
class CapturedOutput:
    """What the worker wrote to its stdout and stderr, capped at ``Limits.max_output_kb`` each."""

    stdout: str
    stderr: str
    truncated: bool


class ProtocolError(Exception):
    """The worker's bytes are not a valid message."""


class SandboxUnavailable(RuntimeError):
    """Bubblewrap is installed but could not start the worker: student code is not run with less.

    Where bubblewrap is missing altogether the sandbox falls back to resource limits and says so
    (`Sandbox.isolation`). Where it is installed but fails (a container that forbids namespaces,
    a broken install), falling back silently would hand student code the grader's rights, so the
    sandbox refuses unless ``GRADER_SANDBOX_ALLOW_FALLBACK=1`` says the weaker isolation is wanted
    (the older name ``CNN_SANDBOX_ALLOW_FALLBACK`` is still accepted).
    A worker that once ran under bubblewrap never restarts without it.
    """


ALLOW_FALLBACK_ENV = "GRADER_SANDBOX_ALLOW_FALLBACK"
LEGACY_ALLOW_FALLBACK_ENV = "CNN_SANDBOX_ALLOW_FALLBACK"  # the kit's first name for it, still accepted


def fallback_allowed() -> bool:
    """True when the environment allows the rlimits-only fallback after bubblewrap failed."""
    value = os.environ.get(ALLOW_FALLBACK_ENV, os.environ.get(LEGACY_ALLOW_FALLBACK_ENV, ""))
    return value.strip().lower() in ("1", "true", "yes")


class _Capture:
    """Drain one pipe in a thread; keep the first ``cap`` bytes.

    The pipe is read only under ``lock``, so `take` can first read what the pipe holds at that
    moment: the worker flushes stdout and stderr before it replies, and what it printed before a
    reply is then part of the output seen after that reply (not left to the drain thread's timing).
    `take` reads no more than was pending when it started, so student code that never stops
    printing cannot keep it reading.
    """

    def __init__(self, pipe, cap: int):
        self.pipe, self.cap = pipe, cap
        self.data = bytearray()
        self.truncated = False
        self.ended = False
        self.lock = threading.Lock()
        os.set_blocking(pipe.fileno(), False)
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while not self.ended:
            try:
                select.select([self.pipe], [], [])
            except (OSError, ValueError):
                return
            with self.lock:
                self._read(65536)

    def _read(self, size: int) -> int:
        """One read of up to ``size`` bytes (call with ``lock`` held); returns how many; sets ``ended`` at EOF."""
        try:
            chunk = os.read(self.pipe.fileno(), size)
        except BlockingIOError:
            return 0
        except (OSError, ValueError):
            chunk = b""
        if not chunk:
            self.ended = True
            return 0
        room = self.cap - len(self.data)
        self.data += chunk[:max(room, 0)]
        self.truncated |= len(chunk) > room
        return len(chunk)

    def _pending(self) -> int:
        """Bytes waiting in the pipe now."""
        try:
            return struct.unpack("i", fcntl.ioctl(self.pipe.fileno(), termios.FIONREAD, b"\0" * 4))[0]
        except (OSError, ValueError):
            return 0

    def take(self, clear: bool) -> tuple[bytes, bool]:
        with self.lock:
            pending = self._pending()
            while pending > 0 and not self.ended:
                got = self._read(min(pending, 65536))
                if not got:
                    break
                pending -= got
            data, truncated = bytes(self.data), self.truncated
            if clear:
                self.data.clear()
                self.truncated = False
        return data, truncated


# The worker's type of the objects the parent keeps (parts of a substituted reference's cache),
# as student code that looks inside one reads it in its error.
REFERENCE_CACHE_PART = "ReferenceCachePart"


def _is_leaf(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, np.ndarray, np.generic))


class Sandbox:
    """One student's submission behind a sandboxed worker process.

    Parameters
    ----------
    submission_dir : str or Path
        The student's assignment folder (notebooks, ``nnl/``, ``utils/``). It is copied (symlinks
        that leave it are skipped) and never modified; student modules are imported from the copy,
        which is the worker's working directory and first on ``sys.path``.
    limits : Limits, optional
        Resource limits; `Limits()` by default.
    use_bwrap : bool, optional
        ``False`` forces the rlimits-only fallback (a plain subprocess with limits and a private cwd).
    sandbox_uid : int, optional
        The unprivileged uid the worker runs as when the grader is root; by default one per
        `Sandbox` so that ``RLIMIT_NPROC`` counts this sandbox's processes only.

    Attributes
    ----------
    isolation : str
        ``"bubblewrap"``, or ``"rlimits-only: <reason>"`` when bubblewrap is missing, was turned off,
        or failed to start where ``GRADER_SANDBOX_ALLOW_FALLBACK=1`` allows the fallback (otherwise
        that failure raises `SandboxUnavailable`). Results should report it.
    token : str
        A random marker in the worker's command line and environment (for leftover-process checks).
    """

    def __init__(self, submission_dir, limits: Limits | None = None, *, use_bwrap: bool = True,
                 sandbox_uid: int | None = None):
        self.submission_dir = Path(submission_dir).resolve()
        if not self.submission_dir.is_dir():
            raise FileNotFoundError(f"no submission folder at {self.submission_dir}")
        self.limits = limits or Limits()
        self.use_bwrap = use_bwrap
        self.token = "sbx" + os.urandom(8).hex()
        number = next(_instances)
        self.sandbox_uid = sandbox_uid if sandbox_uid is not None else 200_000 + (os.getpid() * 64 + number) % 600_000
        self.isolation = "not started"
        self.generation = 0
        self._proc: subprocess.Popen | None = None
        self._tmp: Path | None = None
        self._claim: int | None = None  # held while _tmp exists: a later run's sweep removes it if this dies
        self._captures: list[_Capture] = []
        self._fd_to_worker = self._fd_from_worker = -1
        self._inbox = bytearray()  # read from the worker's pipe, not yet taken by _read_exact
        self._tuples: dict[int, tuple[tuple, int]] = {}
        self._parent_objects: dict[int, Any] = {}
        self._earlier_output = [b"", b"", False]
        self._refused: dict[str, str] = {}  # module -> why every worker fails its import at once

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> None:
        """Copy the submission and start a worker (done by ``with``; restarts use `restart`).

        Raises
        ------
        SandboxUnavailable
            When bubblewrap is installed but fails and the fallback is not allowed, or fails on a
            restart of a worker that ran under it.
        """
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="sandbox-"))
            self._claim = claim(self._tmp)
            _copy_submission(self.submission_dir, self._tmp / "submission")
            (self._tmp / "worker").mkdir()
            shutil.copy(WORKER_SCRIPT, self._tmp / "worker" / "sandbox_worker.py")
            _open_up(self._tmp)
        reason = None
        if self.use_bwrap:
            bwrap = shutil.which("bwrap")
            if bwrap is None:
                reason = "bubblewrap (bwrap) is not installed"
            else:
                try:
                    self._launch(self._bwrap_command(bwrap), sandboxed=True)
                    self.isolation = "bubblewrap"
                    return
                except (OSError, ProtocolError, StudentError) as exc:
                    reason = f"bubblewrap failed to start: {str(exc)[:300]}"
                    self._kill()
                    if self.isolation == "bubblewrap":
                        raise SandboxUnavailable(f"{reason} (it ran this submission's worker before; "
                                                 "no restart without it)") from None
                    if not fallback_allowed():
                        raise SandboxUnavailable(
                            f"{reason}; student code is not run with resource limits alone (set "
                            f"{ALLOW_FALLBACK_ENV}=1 to allow that weaker isolation)") from None
        else:
            reason = "bubblewrap turned off (use_bwrap=False)"
        self._launch(self._plain_command(), sandboxed=False)
        self.isolation = f"rlimits-only: {reason}{self._fallback_note}"

    def restart(self) -> None:
        """Kill the worker and everything it started, then start a fresh one (handles die)."""
        self._kill()
        self.start()

    def close(self) -> None:
        """Kill everything the sandbox started and remove its temporary files."""
        self._kill()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            if self._claim is not None:
                os.close(self._claim)
            self._tmp = self._claim = None

    # ------------------------------------------------------------------ public calls

    def import_module(self, module: str, *, timeout: float | None = None) -> None:
        """Import a student module; raise `StudentError` (kind ``"import"``) if it does not import."""
        self._request({"op": "import", "module": module}, [], timeout)

    def refuse_import(self, module: str, reason: str) -> None:
        """Make ``module`` fail at once to import, in this worker and every later one of this sandbox.

        For a module whose import timed out: importing it again, directly or from another student
        module, would cost another timeout each time. Its importers get an ``ImportError`` whose
        message is ``reason``, raised at their own import line.
        """
        self._refused[module] = reason
        if self._proc is not None and self._proc.poll() is None:
            self._request({"op": "refuse", "modules": {module: reason}}, [], None)

    def call(self, module: str, name: str, *args, mutated: bool = False, substitute: dict | None = None,
             timeout: float | None = None, **kwargs):
        """Call ``module.name(*args, **kwargs)`` in the worker and return its decoded result.

        Parameters
        ----------
        module, name : str
            Dotted module name (``"nnl.conv_layers"``) and attribute (a function or a class).
        *args, **kwargs
            Arrays, numbers, str, None, bool, numpy dtypes, tuples/lists/dicts of those, or `Handle`.
            ``mutated``, ``substitute`` and ``timeout`` are reserved keyword names.
        mutated : bool, optional
            Also return the arguments' state after the call: ``(result, (args_after, kwargs_after))``,
            so a dict the callee updated (``bn_param`` gaining ``running_mean``) can be checked.
        substitute : dict of str to callable, optional
            Student functions to replace, for this call only, by parent-side callables (the reference).
            In the worker, every attribute of the called module's package (``pkg.*``) bound to the
            student's function of that name (in the module under test or another module of the
            package) becomes a proxy that calls back
            here; the callable gets decoded arguments, dict/list arguments it mutates are mirrored back,
            and its result goes back with non-array parts (a cache) kept here as opaque references.
        timeout : float, optional
            Wall-clock limit for this request instead of ``limits.call_timeout``.

        Returns
        -------
        object
            Arrays and numbers as plain ``np.ndarray`` (``float64`` or ``int64``; numbers are 0-d),
            tuples/lists/dicts of those, str/None/bool, and `Handle` for anything else.

        Raises
        ------
        StudentError
            When the student's code raises, fails to import, exits, crashes or times out. After a
            crash or timeout the next request starts a fresh worker.
        """
        header = {"op": "call", "module": module, "name": name, "mutated": bool(mutated)}
        return self._call(header, args, kwargs, substitute, timeout, mutated)

    def call_method(self, target: Handle, name: str, *args, mutated: bool = False,
                    substitute: dict | None = None, timeout: float | None = None, **kwargs):
        """Call ``target.name(*args, **kwargs)`` on a worker object; see `call` for everything else."""
        header = {"op": "call_method", "target": self._handle_id(target), "name": name, "mutated": bool(mutated)}
        return self._call(header, args, kwargs, substitute, timeout, mutated)

    def bare_instance(self, module: str, name: str, attributes: dict, *, substitute: dict | None = None,
                      timeout: float | None = None) -> Handle:
        """An instance of the class ``module.name`` made without its ``__init__``, in one round trip.

        The worker calls ``cls.__new__(cls)``, then ``setattr`` for each of ``attributes`` (names to
        values, as `call`'s arguments), in order. Returns its `Handle`; raises as `call` does.
        """
        header = {"op": "bare", "module": module, "name": name, "mutated": False}
        return self._call(header, (), attributes, substitute, timeout, False)

    def call_many(self, module: str, name: str, arg_tuples, *, substitute: dict | None = None,
                  timeout: float | None = None, **kwargs) -> list:
        """Evaluate ``module.name(*a, **kwargs)`` for every ``a`` in ``arg_tuples`` in one round trip.

        Meant for numerical gradients of the student's own forward. Results are decoded as in `call`
        but tuples are not remembered in the worker (no handle round trip). The timeout covers the
        whole batch. The first failing evaluation raises its `StudentError`.
        """
        self._ensure_started()
        blobs: list[bytes] = []
        header = {"op": "call_many", "module": module, "name": name,
                  "batch": self._encode([tuple(a) for a in arg_tuples], blobs),
                  "kwargs": self._encode(kwargs, blobs), "substitute": sorted(substitute or {})}
        return self._request(header, blobs, timeout, substitute or {})

    def getattr(self, target: Handle, name: str, *, timeout: float | None = None):
        """Return the decoded attribute ``target.name`` of a worker object (``model.params``)."""
        return self._request({"op": "getattr", "target": self._handle_id(target), "name": name}, [], timeout)

    def release(self, *handles: Handle) -> None:
        """Let the worker forget objects the grader no longer needs."""
        ids = [h.id for h in handles if h.generation == self.generation]
        if ids and self._proc is not None:
            self._request({"op": "release", "ids": ids}, [], None)

    def output(self, *, clear: bool = False) -> CapturedOutput:
        """Return what student code printed so far (this worker and earlier ones), capped."""
        stdout, stderr, truncated = self._earlier_output
        for index, capture in enumerate(self._captures):
            data, cut = capture.take(clear)
            if index == 0:
                stdout += data
            else:
                stderr += data
            truncated = truncated or cut
        cap = self.limits.max_output_kb * 1024
        if clear:
            self._earlier_output = [b"", b"", False]
        return CapturedOutput(stdout[:cap].decode("utf-8", "replace"), stderr[:cap].decode("utf-8", "replace"),
                              truncated or len(stdout) > cap or len(stderr) > cap)

    # ------------------------------------------------------------------ process management

    _fallback_note = ""

    def _bwrap_command(self, bwrap: str) -> list[str]:
        prefix = os.path.realpath(sys.base_prefix)
        sites = _numpy_site_dirs()
        as_root = os.geteuid() == 0
        command = [bwrap, "--die-with-parent", "--new-session"]
        if as_root:  # no user namespace: the worker drops to sandbox_uid itself, so RLIMIT_NPROC holds
            command += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                        "--unshare-cgroup-try", "--cap-drop", "ALL", "--cap-add", "CAP_SETUID",
                        "--cap-add", "CAP_SETGID"]
        else:
            command += ["--unshare-all"]
        # The writable /tmp comes first: mounted after the binds, it would hide an
        # interpreter or site-packages that lives under /tmp (a virtualenv there).
        command += ["--perms", "1777", "--size", str(self.limits.max_file_mb << 20), "--tmpfs", "/tmp"]
        made: set[str] = {"/tmp"}

        def mkdirs(path: str) -> list[str]:
            steps = []
            parts = Path(path).parts
            for depth in range(2, len(parts)):
                parent = str(Path(*parts[:depth]))
                if parent not in made:
                    made.add(parent)
                    steps += ["--perms", "0755", "--dir", parent]
            return steps

        for top in ("/usr", "/bin", "/lib", "/lib32", "/lib64", "/sbin"):
            if os.path.islink(top):
                command += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                command += mkdirs(top) + ["--ro-bind", top, top]
        for source in [prefix] + sites:
            if not source.startswith("/usr/"):
                command += mkdirs(source) + ["--ro-bind", source, source]
        command += ["--ro-bind", str(self._tmp / "submission"), SANDBOX_ROOT,
                    "--ro-bind", str(self._tmp / "worker"), SANDBOX_WORKER_DIR,
                    "--proc", "/proc", "--dev", "/dev",
                    "--chdir", SANDBOX_ROOT, "--"]
        uid = ["--uid", str(self.sandbox_uid), "--gid", str(self.sandbox_uid)] if as_root else []
        return command + self._worker_argv(SANDBOX_ROOT, f"{SANDBOX_WORKER_DIR}/sandbox_worker.py", sites) + uid

    def _plain_command(self) -> list[str]:
        root = str(self._tmp / "submission")
        command = self._worker_argv(root, str(self._tmp / "worker" / "sandbox_worker.py"), _numpy_site_dirs())
        self._fallback_note = "; runs as the grader's own user" if os.geteuid() == 0 else ""
        if os.geteuid() == 0 and _world_reachable([sys.base_prefix, *_numpy_site_dirs(), str(self._tmp)]):
            command += ["--uid", str(self.sandbox_uid), "--gid", str(self.sandbox_uid)]
            self._fallback_note = f"; runs as uid {self.sandbox_uid}"
        elif os.geteuid() == 0:
            self._fallback_note += " (the interpreter is not reachable by other users), so RLIMIT_NPROC is not enforced"
        return command

    def _worker_argv(self, root: str, script: str, sites: list[str]) -> list[str]:
        executable = os.path.realpath(sys.executable)
        argv = [executable, "-I", "-S", "-B", script, "--fd-in", "{fd_in}", "--fd-out", "{fd_out}",
                "--root", root, "--max-message", str(self.limits.max_message_mb << 20), "--token", self.token]
        for site in sites:
            argv += ["--site", site]
        return argv

    def _environment(self) -> dict[str, str]:
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "PYTHONHASHSEED": "0",
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "SANDBOX_TOKEN": self.token}
        for name in PASSTHROUGH_ENV:
            if name in os.environ:
                env[name] = os.environ[name]
        return env

    def _launch(self, command: list[str], *, sandboxed: bool) -> None:
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        command = [part.format(fd_in=to_worker_r, fd_out=from_worker_w) for part in command]
        limits = self.limits

        def set_limits() -> None:
            memory = limits.memory_mb << 20
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_mb << 20, limits.max_file_mb << 20))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        try:
            self._proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(to_worker_r, from_worker_w), env=self._environment(), start_new_session=True,
                preexec_fn=set_limits, cwd=str(self._tmp) if sandboxed else str(self._tmp / "submission"))
        finally:
            os.close(to_worker_r)
            os.close(from_worker_w)
        self._fd_to_worker, self._fd_from_worker = to_worker_w, from_worker_r
        self._inbox = bytearray()
        cap = limits.max_output_kb * 1024
        self._captures = [_Capture(self._proc.stdout, cap), _Capture(self._proc.stderr, cap)]
        self.generation += 1
        try:
            header, _ = self._receive(time.monotonic() + limits.startup_timeout)
        except (ProtocolError, EOFError, TimeoutError) as exc:
            detail = self._captures[1].take(False)[0].decode("utf-8", "replace").strip()[-300:]
            raise ProtocolError(f"{type(exc).__name__} {exc}; worker stderr: {detail!r}") from None
        if header.get("op") != "ready":
            raise ProtocolError(f"worker did not start: {header!r:.300}")
        if self._refused:  # before any student code runs in the new worker
            self._send({"op": "refuse", "modules": dict(self._refused)}, [])
            header, _ = self._receive(time.monotonic() + limits.startup_timeout)
            if header.get("op") != "result":
                raise ProtocolError(f"worker did not take the refused imports: {header!r:.300}")

    def _ensure_started(self) -> None:
        if self._tmp is None:
            raise RuntimeError("the sandbox is closed; use it in a `with Sandbox(...)` block")
        if self._proc is None or self._proc.poll() is not None:
            self.restart()

    def _kill(self) -> None:
        """SIGKILL the sandbox's process group, then anything still carrying the token."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        _kill_marked(self.token)
        for fd in (self._fd_to_worker, self._fd_from_worker):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fd_to_worker = self._fd_from_worker = -1
        for index, capture in enumerate(self._captures):
            capture.thread.join(timeout=2)
            data, cut = capture.take(True)
            self._earlier_output[index] += data
            self._earlier_output[2] = self._earlier_output[2] or cut
            capture.pipe.close()
        self._captures = []
        self._tuples.clear()
        self._parent_objects.clear()

    # ------------------------------------------------------------------ requests

    def _handle_id(self, target: Handle) -> int:
        if not isinstance(target, Handle):
            raise TypeError(f"expected a Handle from this sandbox, got {type(target).__name__}")
        if target.generation != self.generation:
            raise StudentError("crash", "", f"{target!r} was lost when the worker restarted after an "
                                            "earlier crash or timeout")
        return target.id

    def _call(self, header, args, kwargs, substitute, timeout, mutated):
        self._ensure_started()
        blobs: list[bytes] = []
        header["args"] = self._encode(tuple(args), blobs)
        header["kwargs"] = self._encode(kwargs, blobs)
        header["substitute"] = sorted(substitute or {})
        return self._request(header, blobs, timeout, substitute or {}, mutated)

    def _request(self, header, blobs, timeout, substitute=None, mutated=False):
        """Send one request, serve callbacks, return the decoded result or raise `StudentError`."""
        self._ensure_started()
        limit = self.limits.call_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        importing: tuple[str, ...] = ()
        try:
            self._send({**header, "t": limit}, blobs)
            while True:
                reply, reply_blobs = self._receive(deadline)
                op = reply.get("op")
                if op == "importing":  # the import is about to run out of time: in which modules
                    importing = tuple(_text(name)[:200] for name in _list(reply.get("modules"))[:20])
                    continue
                if op == "callback" and reply.get("name") in (substitute or {}):
                    started = time.monotonic()
                    self._serve_callback(substitute[reply["name"]], reply, reply_blobs)
                    deadline += time.monotonic() - started  # the reference's own time is not the student's
                    continue
                if op == "result":
                    value = self._decode(reply.get("value"), reply_blobs)
                    if mutated:
                        after = self._decode(reply.get("args_after"), reply_blobs)
                        if not (isinstance(after, tuple) and len(after) == 2):
                            raise ProtocolError("missing argument state")
                        return value, after
                    return value
                if op == "error":
                    error = StudentError(_text(reply.get("kind")), _text(reply.get("type")),
                                         _text(reply.get("message")),
                                         [_text(line)[:300] for line in _list(reply.get("traceback"))[:20]])
                    if error.kind not in ("exception", "import", "crash", "too_large"):
                        error.kind = "protocol"
                    if error.kind in ("crash", "protocol"):
                        self._kill()
                    raise error
                raise ProtocolError(f"unexpected message {str(op)[:50]!r}")
        except TimeoutError:
            self._kill()
            raise StudentError("timeout", "", f"no answer within {limit:g} s; the worker was stopped",
                               importing=importing) from None
        except EOFError:
            code = self._proc.poll() if self._proc is not None else None
            if self._proc is not None and code is None:
                try:
                    code = self._proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    code = None
            self._kill()
            raise StudentError("crash", "", f"the worker process ended ({_describe_exit(code)})") from None
        except (ProtocolError, OSError) as exc:
            self._kill()
            raise StudentError("protocol", "", f"invalid reply from the worker: {str(exc)[:300]}") from None

    def _serve_callback(self, function: Callable, request: dict, blobs: list[bytes]) -> None:
        args = self._decode(request.get("args"), blobs)
        kwargs = self._decode(request.get("kwargs"), blobs)
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise ProtocolError("malformed callback")
        out: list[bytes] = []
        try:
            result = function(*args, **kwargs)
            reply = {"op": "cb_result", "value": self._encode_reference_result(result, out),
                     "args_after": self._encode(args, out, opaque=True)}
        except Exception as exc:  # the student's arguments broke the reference: their error
            out = []
            reply = {"op": "cb_error", "message": f"{type(exc).__name__}: {str(exc)[:300]}"}
        self._send(reply, out)

    def _encode_reference_result(self, result, blobs):
        """Arrays and numbers of a reference result travel; what else it holds (a cache) stays here."""
        if type(result) in (tuple, list):
            items = [self._encode(item, blobs) if _is_leaf(item) else self._kept_as_shaped(item) for item in result]
            return {"$": type(result).__name__, "v": items}
        return self._encode(result, blobs) if _is_leaf(result) else self._kept_as_shaped(result)

    def _kept_as_shaped(self, obj, depth: int = 0) -> dict:
        """``obj`` kept here; a tuple travels as a tuple of its kept parts (a tuple of tuples as such).

        Student code that unpacks a reference cache, say ``fc_cache, relu_cache = cache`` on the
        3-tuple of ``affine_forward``, then fails as it would with its own layers ("too many values
        to unpack"), not on an opaque object; the parts, arrays included, still never travel, and
        passed back to the reference they are the very objects it made.
        """
        if type(obj) is tuple and depth < MAX_DEPTH:
            return {"$": "tuple", "v": [self._kept_as_shaped(item, depth + 1) for item in obj]}
        return self._keep(obj)

    def _keep(self, obj) -> dict:
        parent_id = len(self._parent_objects) + 1
        self._parent_objects[parent_id] = obj
        return {"$": "ph", "id": parent_id}

    # ------------------------------------------------------------------ framing and values

    def _send(self, header: dict, blobs: list[bytes]) -> None:
        header = dict(header, blobs=[len(b) for b in blobs])
        text = json.dumps(header).encode("utf-8")
        data = memoryview(MAGIC + struct.pack(">I", len(text)) + text + b"".join(blobs))
        while data:
            try:
                written = os.write(self._fd_to_worker, data)
            except BrokenPipeError:
                raise EOFError from None
            data = data[written:]

    def _read_exact(self, n: int, deadline: float) -> bytes:
        """The next ``n`` bytes from the worker; a read takes what the pipe holds (a whole reply, usually)."""
        inbox = self._inbox
        while len(inbox) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._fd_from_worker], [], [], remaining)
            if not ready:
                raise TimeoutError
            chunk = os.read(self._fd_from_worker, min(max(n - len(inbox), 1 << 16), 1 << 20))
            if not chunk:
                raise EOFError
            inbox += chunk
        data = bytes(inbox[:n])
        del inbox[:n]
        return data

    def _receive(self, deadline: float) -> tuple[dict, list[bytes]]:
        if self._read_exact(4, deadline) != MAGIC:
            raise ProtocolError("bad frame marker")
        (length,) = struct.unpack(">I", self._read_exact(4, deadline))
        if length > MAX_HEADER_BYTES:
            raise ProtocolError(f"header of {length} bytes is over the limit")
        try:
            header = json.loads(self._read_exact(length, deadline).decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(f"header is not JSON: {str(exc)[:100]}") from None
        sizes = header.get("blobs") if isinstance(header, dict) else None
        if not isinstance(header.get("op") if isinstance(header, dict) else None, str) or not isinstance(sizes, list):
            raise ProtocolError("header is not a message")
        if not all(type(s) is int and s >= 0 for s in sizes) or sum(sizes) > self.limits.max_message_mb << 20:
            raise ProtocolError("message too large or malformed")
        return header, [self._read_exact(size, deadline) if size else b"" for size in sizes]

    def _encode(self, value, blobs: list[bytes], opaque: bool = False, depth: int = 0):
        """Encode a parent value (trusted) for the worker."""
        if depth > MAX_DEPTH:
            raise ValueError("value nested too deeply to send")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, np.generic):
            return int(value) if isinstance(value, int) else float(value)
        if isinstance(value, (np.ndarray, np.generic)):
            array = np.asarray(value)
            if array.dtype.kind not in "biufc" or array.dtype.fields is not None:
                raise TypeError(f"cannot send an array of dtype {array.dtype} to the worker")
            blobs.append(array.tobytes(order="C"))
            return {"$": "nd", "i": len(blobs) - 1, "d": array.dtype.str, "s": list(array.shape)}
        if isinstance(value, np.dtype):
            return {"$": "dtype", "v": value.str, "cls": False}
        if isinstance(value, type) and issubclass(value, np.generic):
            return {"$": "dtype", "v": np.dtype(value).str, "cls": True}
        if isinstance(value, Handle):
            return {"$": "h", "id": self._handle_id(value)}
        if type(value) is tuple:
            remembered = self._tuples.get(id(value))
            if remembered is not None and remembered[0] is value:
                return {"$": "h", "id": remembered[1]}
        if type(value) in (tuple, list):
            return {"$": type(value).__name__, "v": [self._encode(v, blobs, opaque, depth + 1) for v in value]}
        if type(value) is dict:
            keys = list(value)
            return {"$": "dict", "k": keys, "v": [self._encode(value[k], blobs, opaque, depth + 1) for k in keys]}
        for parent_id, obj in self._parent_objects.items():
            if obj is value:
                return {"$": "ph", "id": parent_id}
        if opaque:
            return self._keep(value)
        raise TypeError(f"cannot send a {type(value).__name__} to the worker")

    def _decode(self, node, blobs: list[bytes]):
        """Decode an untrusted worker value into plain data; see `call` for what comes back."""
        budget = [MAX_NODES]

        def walk(node, depth):
            budget[0] -= 1
            if budget[0] < 0 or depth > MAX_DEPTH:
                raise ProtocolError("value too large or too deeply nested")
            if node is None or type(node) is bool:
                return node
            if type(node) is str:
                return node[:1 << 20]
            if type(node) in (int, float):
                return np.array(node, dtype=np.int64 if type(node) is int and abs(node) < 2**63 else np.float64)
            if type(node) is not dict:
                raise ProtocolError(f"unexpected JSON value of type {type(node).__name__}")
            tag = node.get("$")
            if tag == "nd":
                return _decode_array(node, blobs)
            if tag in ("tuple", "list"):
                items = node.get("v")
                if type(items) is not list:
                    raise ProtocolError("malformed sequence")
                decoded = [walk(item, depth + 1) for item in items]
                if tag == "list":
                    return decoded
                value = tuple(decoded)
                hid = node.get("h")
                if type(hid) is int:
                    self._tuples[id(value)] = (value, hid)
                return value
            if tag == "dict":
                keys, values = node.get("k"), node.get("v")
                if type(keys) is not list or type(values) is not list or len(keys) != len(values):
                    raise ProtocolError("malformed dict")
                if not all(k is None or type(k) in (str, int, bool) for k in keys):
                    raise ProtocolError("dict keys must be str, int, bool or None")
                return {k: walk(v, depth + 1) for k, v in zip(keys, values)}
            if tag == "h":
                if type(node.get("id")) is not int:
                    raise ProtocolError("malformed handle")
                return Handle(node["id"], _text(node.get("type"))[:100], self.generation)
            if tag == "ph":
                if node.get("id") not in self._parent_objects:
                    raise ProtocolError("unknown reference object")
                return self._parent_objects[node["id"]]
            raise ProtocolError(f"unknown value tag {str(tag)[:30]!r}")

        return walk(node, 0)


# ---------------------------------------------------------------------- helpers

WIRE_DTYPES = {"<f8": np.float64, "<i8": np.int64}  # all the worker may send


def _decode_array(node: dict, blobs: list[bytes]) -> np.ndarray:
    """The array an untrusted ``nd`` node describes: a fresh C-ordered float64 or int64 array.

    Raises
    ------
    ProtocolError
        On anything but a known dtype, a shape of non-negative ints and exactly the bytes it needs.
    """
    index, dtype, shape = node.get("i"), node.get("d"), node.get("s")
    if type(index) is not int or not 0 <= index < len(blobs):
        raise ProtocolError("array reference out of range")
    if dtype not in WIRE_DTYPES:
        raise ProtocolError(f"arrays must be float64 or int64, got {str(dtype)[:20]!r}")
    if type(shape) is not list or len(shape) > 32 or not all(type(n) is int and n >= 0 for n in shape):
        raise ProtocolError("malformed array shape")
    size = 1
    for n in shape:
        size *= n
    if size * 8 != len(blobs[index]):
        raise ProtocolError(f"array of shape {tuple(shape)} needs {size * 8} bytes, got {len(blobs[index])}")
    return np.frombuffer(blobs[index], dtype=WIRE_DTYPES[dtype]).reshape(shape).copy()


def _text(value) -> str:
    return value[:MAX_TEXT] if type(value) is str else ""


def _list(value) -> list:
    return value if type(value) is list else []


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}: os._exit or sys.exit outside a call, or killed for its memory"


def _numpy_site_dirs() -> list[str]:
    """The directory holding numpy (bound alone, never the repository)."""
    return [os.path.realpath(str(Path(np.__file__).resolve().parents[1]))]


def _world_reachable(paths: list[str]) -> bool:
    """Can any user traverse every directory down to each path?"""
    for path in paths:
        current = Path(path).resolve()
        for directory in [current, *current.parents]:
            if not os.stat(directory).st_mode & stat.S_IXOTH:
                return False
    return True


def _copy_submission(source: Path, dest: Path) -> None:
    """Copy a submission, skipping symlinks that point outside it, special files and caches."""
    for directory, subdirs, files in os.walk(source):
        here = Path(directory)
        target = dest / here.relative_to(source)
        target.mkdir(parents=True, exist_ok=True)
        for name in list(subdirs):
            path = here / name
            if name == "__pycache__" or (path.is_symlink() and not _inside(path, source)):
                subdirs.remove(name)
            elif path.is_symlink():
                subdirs.remove(name)
                shutil.copytree(path.resolve(), target / name, symlinks=False, dirs_exist_ok=True,
                                ignore=lambda d, names: [n for n in names if os.path.islink(os.path.join(d, n))])
        for name in files:
            path = here / name
            if path.is_symlink() and not _inside(path, source):
                continue
            if path.resolve().is_file():
                shutil.copyfile(path, target / name)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _open_up(root: Path) -> None:
    """Let the sandbox user read the private copy (it stays read-only inside the sandbox)."""
    for directory, _, files in os.walk(root):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)


def _kill_marked(token: str, wait: float = 3.0) -> None:
    """SIGKILL every process whose command line or environment carries ``token``; wait until gone."""
    needle = token.encode()
    end = time.monotonic() + wait
    while True:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    marked = needle in handle.read()
                if not marked:
                    with open(f"/proc/{entry}/environ", "rb") as handle:
                        marked = needle in handle.read()
            except OSError:
                continue
            if marked:
                found.append(int(entry))
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if not found or time.monotonic() > end:
            return
        time.sleep(0.02)
