"""Many gradings at once: a pool of grading processes on this machine, or a Dask distributed cluster.

`grade-all` and the kit's `nbgrader autograde` both hand their submissions to `Gradings`: each
grading is its own ``python -m autograder grade`` process (student code in that process's
sandbox; on this machine forked from one grading server, :mod:`autograder.grading.grading_server`,
that has made the grader's imports), ``jobs`` at once, or a task on a Dask cluster (the folder packed in memory). Results
come back as futures, in any order; progress is a bar on a terminal and a plain line per
finished grading in a log.
"""
from __future__ import annotations

import io
import logging
import sys
import tarfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from autograder.grading.grading_process import GradingGroup, GradingProcessFailed, grade_in_child
from autograder.grading.grading_server import GradingServer, ServerUnavailable
from autograder.scratch import owned_temporary_folder, remove_abandoned

SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


class EngineError(ValueError):
    """The gradings cannot be started (no Dask installed, the scheduler unreachable); the message says why."""


def files_of(folder: Path) -> list[Path]:
    """The regular files under ``folder`` (caches and symbolic links left out), sorted."""
    return sorted(p for p in Path(folder).rglob("*")
                  if p.is_file() and not p.is_symlink() and not SKIP_PARTS & set(p.relative_to(folder).parts))


def zero_report(message: str) -> dict:
    """Results of a grading that did not complete: nothing earned, the reason said."""
    return {"score": 0.0, "execution_time": 0.0, "output": message, "tests": [],
            "extra_data": {"status": "error", "error": message}}


def grade_folder(folder: Path, assignment: str, timeout: float, server: GradingServer | None = None,
                 group: GradingGroup | None = None) -> dict:
    """Grade one assignment folder with ``python -m autograder grade`` in a child process.

    With ``server``, the child is forked from that grading server; stopping ``group`` kills it
    (see ``grade_in_child``).

    Returns
    -------
    dict
        The Gradescope results, with ``extra_data.status`` ``"graded"``, or a zero report with
        ``status`` ``"error"`` and ``error`` saying why (grader failure, timeout, crash).
    """
    started = time.monotonic()
    try:
        results = grade_in_child(folder, assignment, timeout, server, group)
        results.setdefault("extra_data", {})["status"] = "graded"
    except GradingProcessFailed as err:
        results = zero_report(str(err))
    results["extra_data"]["wall_seconds"] = round(time.monotonic() - started, 3)
    return results


def pack_folder(folder: Path) -> bytes:
    """A gzipped tar of ``folder``'s files (caches and symlinks left out), to send to a Dask worker."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in files_of(folder):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


def grade_packed(packed: bytes, assignment: str, timeout: float) -> dict:
    """Unpack a :func:`pack_folder` archive into a temporary folder and grade it (a Dask task)."""
    remove_abandoned()  # on a Dask worker's machine, no batch starts to sweep
    with owned_temporary_folder("grade-all-sub-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        return grade_folder(Path(tmp), assignment, timeout)


class Progress:
    """Finished gradings: a tqdm bar (students, rate, time left) on a terminal, else a log line each.

    Parameters
    ----------
    total : int
    label : str
        What is graded (``"grading cnn"``).
    log : logging.Logger, optional
        Where the plain lines go when stderr is not a terminal (default: print to stderr).
    bar : bool, optional
        Force the bar on (True) or off (False); default: on when stderr is a terminal.
    show : bool, optional
        False: count the gradings, show nothing (no bar, no lines). Default True.
    """

    def __init__(self, total: int, label: str, log: logging.Logger | None = None, bar: bool | None = None,
                 show: bool = True):
        from tqdm import tqdm

        self.total, self.label, self.log, self.done, self.show = total, label, log, 0, show
        self.started = time.monotonic()
        use_bar = show and (sys.stderr.isatty() if bar is None else bar)
        self.bar = tqdm(total=total, unit="student", desc=label, file=sys.stderr, disable=not use_bar or not total)

    def update(self, name: str, results: dict) -> None:
        self.done += 1
        self.bar.update()
        if self.show and self.bar.disable:
            elapsed = time.monotonic() - self.started
            left = elapsed / self.done * (self.total - self.done)
            status = results.get("extra_data", {}).get("status", "?")
            line = (f"{self.label}: {self.done}/{self.total} {name} {status} score {results.get('score', 0):g} "
                    f"({elapsed:.0f} s elapsed, about {left:.0f} s left)")
            if self.log is not None:
                self.log.info(line)
            else:
                print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


class Gradings:
    """Run gradings concurrently; a context manager.

    Leaving it drops the gradings that have not started; leaving it on an exception (Ctrl-C) also
    kills the running ones at once, on this machine. On a Dask cluster the client closes, which
    releases its tasks; a task already running finishes on its worker, and its result is dropped.

    Parameters
    ----------
    assignment : str
    jobs : int
        Gradings at once on this machine (ignored with ``dask_scheduler``).
    timeout : float
        Seconds one grading may take before it is stopped and recorded as an error.
    dask_scheduler : str, optional
        ``tcp://host:port`` of a Dask distributed scheduler: the gradings run on its workers.
    assignments : tuple of str, optional
        Other assignments than ``assignment`` that gradings will be submitted for: on this machine each
        of them, as ``assignment``, has its suite collected once for the batch.

    Raises
    ------
    EngineError
        On entering, when Dask is asked for but not installed or not reachable.
    """

    def __init__(self, assignment: str, jobs: int = 2, timeout: float = 600, dask_scheduler: str | None = None,
                 assignments: tuple[str, ...] = ()):
        self.assignment, self.jobs, self.timeout, self.dask_scheduler = assignment, jobs, timeout, dask_scheduler
        # the suites the grading server collects once for the batch (.prepared_suite)
        self.assignments = tuple(dict.fromkeys(((assignment,) if assignment else ()) + tuple(assignments)))
        self._pool = self._client = self._server = None
        self._group = GradingGroup()

    def __enter__(self) -> "Gradings":
        remove_abandoned()  # what killed runs left (their gradings' copies of students' files)
        if self.dask_scheduler:
            try:
                from distributed import Client
            except ImportError as err:
                raise EngineError(f"a Dask scheduler needs Dask distributed: pip install -e '.[dask]' ({err})")
            try:
                self._client = Client(self.dask_scheduler, timeout=10)
            except (OSError, TimeoutError, ValueError) as err:
                raise EngineError(f"cannot reach the Dask scheduler at {self.dask_scheduler}: {err}") from None
        else:
            try:  # every grading forked from one process that has made the grader's imports
                self._server = GradingServer(prepare=self.assignments)
            except (ServerUnavailable, OSError) as err:
                logging.getLogger(__name__).warning("no grading server (%s): each grading starts a new process", err)
            self._pool = ThreadPoolExecutor(max_workers=max(1, self.jobs), thread_name_prefix="grading")
        return self

    def submit(self, name: str, folder: Path, key: str | None = None, assignment: str | None = None) -> Future:
        """Start grading ``folder`` (with ``assignment``'s suite, default the engine's); the future's result is
        the results dict, never an exception."""
        assignment = assignment or self.assignment
        if self._client is not None:
            dask_future = self._client.submit(grade_packed, pack_folder(folder), assignment, self.timeout,
                                              pure=False, key=key or f"grade-{name}")
            future: Future = Future()

            def finished(done):
                try:
                    future.set_result(done.result())
                except Exception as err:  # the worker died or the task failed on it
                    future.set_result(zero_report(f"the Dask task failed: {err!r}"))

            dask_future.add_done_callback(finished)
            return future
        return self._pool.submit(grade_folder, folder, assignment, self.timeout, self._server, self._group)

    @property
    def stopped(self) -> bool:
        """Whether the gradings were stopped (the block was left on an exception): their results are not ones."""
        return self._group.stopped

    def __exit__(self, exc_type, *exc_info) -> None:
        if exc_type is not None:  # Ctrl-C (or an error): nothing more will be recorded, stop every grading
            self._group.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._server is not None:
            self._server.close()
        if self._client is not None:
            self._client.close()
