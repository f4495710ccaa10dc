"""Gradings forked from the grading server: the same verdicts, killed whole, dying with their requester.

Real gradings (the hidden suite, bubblewrap) forked from a real server; processes are found in /proc.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from autograder.classwide.engine import Gradings
from autograder.grading import grading_server
from autograder.grading.grading_process import GradingGroup, GradingProcessFailed, grade_in_child
from autograder.grading.grading_server import GradingServer
from submissions import HANG_AT_IMPORT, RELEASE, REPO, SOLVED, copy_of, solved_with


def process_stats():
    """``(pid, fields)`` of every process, ``fields`` its /proc stat after the command name (state, ppid, pgrp...)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    return [child for child, fields in process_stats() if int(fields[1]) == pid]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def suite_socket(server: GradingServer, number: int = 0) -> Path:
    """Where the server's suite process for its ``number``-th prepared assignment listens, once it has collected."""
    return Path(server.path + grading_server.SUITE_SOCKET_SUFFIX.format(number=number))


def started_server(prepare: tuple[str, ...] = ()) -> GradingServer:
    """A grading server, listening, and its suite processes (`prepare`) listening too; their pids noted."""
    running = GradingServer(prepare=prepare)
    running.wait_until_ready()
    for number in range(len(prepare)):
        assert wait_until(suite_socket(running, number).exists, 120), "the suite process did not collect the suite"
    running.suite_pids = set(children_of(running._proc.pid))  # before any grading: the suite processes
    return running


def gradings_of(server: GradingServer) -> list[int]:
    """The server's gradings and what they started (its suite processes left out)."""
    return [pid for pid in descendants_of(server._proc.pid) if pid not in server.suite_pids]


@pytest.fixture(scope="module", params=[(), ("cnn",)], ids=["server", "suite"])
def server(request):
    """A grading server; with "suite", the cnn gradings are forked from its suite process (.prepared_suite)."""
    with started_server(request.param) as running:
        yield running


def verdicts(results: dict) -> dict:
    return {test["name"]: (test["status"], test["score"]) for test in results["tests"]}


@pytest.mark.parametrize("submission", [SOLVED, RELEASE], ids=["solved", "blank"])
def test_a_forked_grading_gives_the_verdicts_of_a_started_one(server, submission, tmp_path):
    folder = copy_of(submission, tmp_path / "student")
    forked = grade_in_child(folder, "cnn", 300, server)
    started = grade_in_child(folder, "cnn", 300)
    assert verdicts(forked) == verdicts(started) and forked["score"] == started["score"]
    assert forked["extra_data"]["isolation"] == "bubblewrap"
    assert wait_until(lambda: gradings_of(server) == [], 10), "a finished grading is still running"


def test_a_forked_grading_over_its_time_limit_is_killed_whole(server, tmp_path):
    folder = solved_with(tmp_path / "ann", HANG_AT_IMPORT)
    started = time.monotonic()
    with pytest.raises(GradingProcessFailed, match="did not finish within 1 s"):
        grade_in_child(folder, "cnn", 1.0, server)
    assert time.monotonic() - started < 30
    assert wait_until(lambda: gradings_of(server) == [], 10), "the timed-out grading is still running"
    leftover = subprocess.run(["pgrep", "-f", str(folder)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "its sandbox is still running"


def copies_of(marker: str, skip: Path) -> list[Path]:
    """Every file named ``marker`` under the temporary folder, outside ``skip``.

    os.walk, not glob: other tests' folders come and go meanwhile (os.walk passes over those that vanish)."""
    found = []
    for directory, subdirs, files in os.walk(tempfile.gettempdir()):
        if Path(directory) == skip:
            subdirs[:] = []
        elif marker in files:
            found.append(Path(directory) / marker)
    return found


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "started"])
def test_a_timed_out_grading_leaves_no_copy_of_the_submission(server, forked, tmp_path):
    # the grading is killed whole, its sandbox too, before either can remove its scratch folder:
    # the requester removes it (the sandbox's private copy of the student's files among it)
    folder = solved_with(tmp_path / "ann", HANG_AT_IMPORT)
    marker = f"marker-{uuid.uuid4().hex}.txt"
    (folder / "nnl" / marker).write_text("a student's file\n")
    with pytest.raises(GradingProcessFailed, match="did not finish within 4 s"):
        grade_in_child(folder, "cnn", 4.0, server if forked else None)
    assert copies_of(marker, tmp_path) == []


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "started"])
def test_a_stopped_group_grades_nothing_more(server, forked, tmp_path):
    group = GradingGroup()
    group.stop()
    with pytest.raises(GradingProcessFailed, match="stopped before this grading started"):
        grade_in_child(copy_of(SOLVED, tmp_path / "ann"), "cnn", 300, server if forked else None, group)
    # a grading whose pid becomes known after the stop (it was starting as the batch stopped) is killed at once
    late = subprocess.Popen(["sleep", "600"], start_new_session=True)
    group.started(late.pid)
    assert late.wait(timeout=10) == -signal.SIGKILL


def test_stopping_a_group_kills_its_running_gradings(server, tmp_path):
    group = GradingGroup()
    folder = solved_with(tmp_path / "ann", HANG_AT_IMPORT)
    stopper = threading.Timer(3.0, group.stop)
    stopper.start()
    started = time.monotonic()
    try:
        with pytest.raises(GradingProcessFailed, match="stopped while this grading ran"):
            grade_in_child(folder, "cnn", 300, server, group)
    finally:
        stopper.cancel()
    assert time.monotonic() - started < 9, "the grading ran on to the sandbox's 10 s call limit"
    assert wait_until(lambda: gradings_of(server) == [], 10), "the stopped grading is still running"


def test_a_server_under_a_deep_temporary_folder_still_listens(monkeypatch, tmp_path):
    # a Unix socket's path holds at most 107 bytes: under this TMPDIR the server's could not
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    with GradingServer() as deep_server:
        assert len(os.fsencode(deep_server.path)) <= 107
        results = grade_in_child(copy_of(RELEASE, tmp_path / "bob"), "cnn", 300, deep_server)
        assert not deep_server.failed and results["score"] == 0.0


@pytest.mark.parametrize("limit", [1e-4, 1e-3, 0.01, 0.03, 0.1])
def test_a_limit_reached_around_the_fork_is_a_timeout_not_a_second_grading(server, limit, tmp_path, caplog):
    # the limit runs out while the server forks, or just after: the same verdict as a started
    # grading's timeout, and no fallback grading in a new process
    folder = copy_of(SOLVED, tmp_path / "student")
    with pytest.raises(GradingProcessFailed, match=f"did not finish within {limit:g} s"):
        grade_in_child(folder, "cnn", limit, server)
    assert "in a new process" not in caplog.text
    assert wait_until(lambda: gradings_of(server) == [], 10), "the timed-out grading is still running"


def test_a_grading_given_up_before_its_pid_is_known_never_runs(server, tmp_path):
    results = tmp_path / "results.json"
    connection = server.connect({"argv": ["grade", str(copy_of(SOLVED, tmp_path / "student")), "--assignment",
                                          "cnn", "--json", str(results)],
                                 "env": dict(os.environ), "cwd": str(REPO),
                                 "stdout": str(tmp_path / "out"), "stderr": str(tmp_path / "err")}, 300)
    with connection, connection.makefile("rb") as reader:
        pid = int(reader.readline().split()[1])
    assert wait_until(lambda: not alive(pid), 120), "the given-up grading is still running"
    assert not results.exists(), "a grading nobody could kill ran"


def test_a_failing_command_reports_its_error(server, tmp_path):
    with pytest.raises(GradingProcessFailed, match="no submission folder"):
        grade_in_child(tmp_path / "nobody", "cnn", 60, server)


def test_without_its_server_a_grading_starts_a_process(tmp_path, caplog):
    stopped = GradingServer()
    stopped.close()
    results = grade_in_child(copy_of(RELEASE, tmp_path / "student"), "cnn", 300, stopped)
    assert results["score"] == 0.0 and results["tests"]
    assert "grading server" in caplog.text and "in a new process" in caplog.text


def descendants_of(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = children_of(todo.pop())
        found += children
        todo += children
    return found


def grading_request(folder: Path, tmp_path: Path, assignment: str = "cnn", extra=(), env: dict | None = None,
                    name: str = "") -> dict:
    """A request of the server's protocol for a grading of ``folder``, its files under ``tmp_path``."""
    return {"argv": ["grade", str(folder), "--assignment", assignment, "--json", str(tmp_path / f"results{name}.json"),
                     *extra],
            "env": env or dict(os.environ), "cwd": str(REPO),
            "stdout": str(tmp_path / f"out{name}"), "stderr": str(tmp_path / f"err{name}")}


def test_the_requesters_environment_and_folder_reach_the_grading(server, tmp_path, monkeypatch):
    # set after the server started: only the request carries it; the sandbox passes it to student code
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "262144")
    folder = solved_with(tmp_path / "ann", HANG_AT_IMPORT)
    connection = server.connect(grading_request(folder, tmp_path), 300)
    with connection, connection.makefile("rb") as reader:
        pid = int(reader.readline().split()[1])
        connection.sendall(b"g")
        try:
            assert os.readlink(f"/proc/{pid}/cwd") == str(REPO)

            def sandbox_has_it():
                for child in descendants_of(pid):
                    try:
                        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
                    except OSError:
                        continue
                    if b"OPENBLAS_L2_SIZE=262144" in environ and any(v.startswith(b"SANDBOX_TOKEN=") for v in environ):
                        return True
                return False

            assert wait_until(sandbox_has_it, 120), "the sandbox did not get the requester's environment"
        finally:
            os.killpg(pid, signal.SIGKILL)


def test_a_killed_requester_leaves_no_server_and_no_grading_and_the_next_batch_removes_its_files(
        tmp_path, monkeypatch, request):
    classroom = tmp_path / "class"
    solved_with(classroom / "ann", HANG_AT_IMPORT)
    # short enough for the server's socket: its folder goes there, not to the shared /tmp, where a
    # batch of a test running beside this one would sweep it as soon as its server is killed
    scratch = Path(tempfile.mkdtemp(prefix="kill-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(scratch, ignore_errors=True))
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", str(classroom), "--assignment", "cnn",
                             "--out", str(tmp_path / "out"), "--timeout", "600", "--no-progress"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    try:
        # the grading (forked from the server, or from the server's suite process) has started its sandbox
        assert wait_until(lambda: any(b"sandbox_worker" in cmdline_of(pid) for pid in descendants_of(proc.pid)), 120), \
            "no grading was forked"
        (server,) = [pid for pid in children_of(proc.pid) if children_of(pid)]
        gradings = descendants_of(server)
        arguments = Path(f"/proc/{server}/cmdline").read_bytes().split(b"\0")
        server_folder = Path(arguments[arguments.index(b"autograder.grading.grading_server") + 1].decode()).parent
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # kill -9: grade-all runs no more code
        proc.wait()
    # left alone, this grading would end by itself about 11 s after it started
    assert wait_until(lambda: not alive(server) and not any(alive(pid) for pid in gradings), 5), \
        "the grading server or a grading outlived grade-all"
    assert wait_until(lambda: subprocess.run(["pgrep", "-f", str(classroom)], capture_output=True).stdout == b"", 5), \
        "a sandbox outlived grade-all"
    # what the killed run could not remove (its server's folder, the grading's, the sandbox's copy of
    # the student's files) is removed when the next batch starts
    left = sorted(path.name.rsplit("-", 1)[0] for path in scratch.iterdir())
    assert server_folder.parent == scratch, server_folder
    assert {"grading", "grading-scratch", "grading-server"} <= set(left) and server_folder.is_dir(), left
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with Gradings("cnn", jobs=1):
        pass
    assert list(scratch.iterdir()) == [] and not server_folder.exists()


def test_a_probe_of_a_live_server_grades_nothing_prints_nothing_and_the_server_serves_on(capfd, tmp_path):
    # remove_stale_folders connects and closes without a request: the forked child must exit quietly
    import socket

    with GradingServer() as running:
        running.wait_until_ready()
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(running.path)
        probe.close()
        assert wait_until(lambda: children_of(running._proc.pid) == [], 10)
        assert grade_in_child(copy_of(RELEASE, tmp_path / "student"), "cnn", 300, running)["score"] == 0.0
    assert "Traceback" not in capfd.readouterr().err


# -- the server's start-up: not waited for by its caller, not counted in a grading's time -----------

def started_late(seconds: float):
    """A server command that starts the real server ``seconds`` late (a slow machine's imports)."""
    real = grading_server.server_command

    def command(path, prepare=()):
        return ["sh", "-c", f'sleep {seconds}; exec "$@"', "sh", *real(path, prepare)]
    return command


def test_a_servers_start_up_is_not_counted_in_a_gradings_time_limit(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(grading_server, "server_command", started_late(3))
    with GradingServer() as late:
        # a command that fails at once, with a limit shorter than the server's start-up: its own error
        with pytest.raises(GradingProcessFailed, match="no submission folder"):
            grade_in_child(tmp_path / "nobody", "cnn", 2.0, late)
        assert not late.failed
    assert "in a new process" not in caplog.text


@pytest.mark.parametrize("command", [["sh", "-c", "exit 3"], ["sh", "-c", "sleep 600"]], ids=["exits", "hangs"])
def test_a_server_that_does_not_start_leaves_each_grading_to_a_process_of_its_own(monkeypatch, tmp_path, caplog,
                                                                                  command):
    monkeypatch.setattr(grading_server, "server_command", lambda path, prepare=(): command)
    monkeypatch.setattr(grading_server, "STARTUP_TIMEOUT", 2)
    with GradingServer() as broken:
        # the grade command's own error: it ran, in a process of its own (a whole grading that way is
        # test_without_its_server_a_grading_starts_a_process)
        with pytest.raises(GradingProcessFailed, match="no submission folder"):
            grade_in_child(tmp_path / "nobody", "cnn", 60, broken)
        assert broken.failed
        assert "the grading server did not start" in caplog.text and "in a new process" in caplog.text
        caplog.clear()  # the next grading knows: it starts its process without trying the server again
        with pytest.raises(GradingProcessFailed, match="no submission folder"):
            grade_in_child(tmp_path / "nobody", "cnn", 60, broken)
        assert "grading server" not in caplog.text
    # closed at once, and nothing it started is left running
    assert wait_until(lambda: not group_members(broken._proc.pid), 5), group_members(broken._proc.pid)


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid`` (from /proc)."""
    return [pid for pid, fields in process_stats() if int(fields[2]) == pgid and fields[0] != "Z"]


def cmdline_of(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone meanwhile
        return b""


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def request_grading(server: GradingServer, folder: Path, tmp_path: Path, extra: list[str] = (),
                    env: dict | None = None) -> tuple[int, int, int]:
    """One grading of ``folder`` over the server's protocol: ``(its pid, its parent's pid, its exit status)``."""
    connection = server.connect(grading_request(folder, tmp_path, extra=extra, env=env), 300)
    with connection, connection.makefile("rb") as reader:
        pid = int(reader.readline().split()[1])
        parent = parent_of(pid)
        connection.sendall(b"g")
        try:
            code = int(reader.readline().split()[1])
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    return pid, parent, code


def without_times(results: dict) -> dict:
    results = dict(results, extra_data=dict(results.get("extra_data", {})))
    results.pop("execution_time", None)
    results["extra_data"].pop("execution_time", None)
    return results


@pytest.fixture(scope="module")
def prepared():
    """A grading server whose suite process for cnn has collected the suite."""
    with started_server(("cnn",)) as running:
        yield running


@pytest.mark.parametrize("submission", ["solved", "blank", "mistake"])
def test_a_batch_grading_is_forked_from_the_collected_suite_and_gives_the_commands_results(
        prepared, submission, tmp_path):
    if submission == "mistake":  # a caught mistake: failing tests, their feedback and its diagnosis
        folder = solved_with(tmp_path / "ann", {"nnl/layers.py": {"relu_forward": """
            def relu_forward(x):
                return x, x
            """}})
    else:
        folder = copy_of(SOLVED if submission == "solved" else RELEASE, tmp_path / "ann")
    pid, parent, code = request_grading(prepared, folder, tmp_path)
    assert code == 0
    # forked by the suite process, itself forked by the server: not by the server
    assert parent != prepared._proc.pid and parent_of(parent) == prepared._proc.pid
    forked = json.loads((tmp_path / "results.json").read_text())
    started = grade_in_child(folder, "cnn", 300)
    assert without_times(forked) == without_times(started)
    assert (tmp_path / "out").read_text().startswith(f"{folder}: ")  # the command's summary line


@pytest.mark.parametrize("how", ["another form", "another environment"])
def test_a_request_the_suite_cannot_take_is_graded_by_the_servers_own_fork(prepared, how, tmp_path):
    extra = ["--seed", "231"] if how == "another form" else []
    env = {**os.environ, "COLUMNS": "57"} if how == "another environment" else None
    folder = copy_of(RELEASE, tmp_path / "ann")
    pid, parent, code = request_grading(prepared, folder, tmp_path, extra, env)
    assert code == 0 and parent == prepared._proc.pid
    assert json.loads((tmp_path / "results.json").read_text())["score"] == 0


def test_a_missing_submission_is_reported_by_the_suite_as_by_the_command(prepared, tmp_path):
    pid, parent, code = request_grading(prepared, tmp_path / "nobody", tmp_path)
    assert code == 2 and parent != prepared._proc.pid
    assert "grading failed: no submission folder at" in (tmp_path / "err").read_text()
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["score"] == 0 and "no submission folder" in report["output"]


def test_a_suite_that_cannot_be_collected_leaves_its_gradings_to_the_server(tmp_path):
    with GradingServer(prepare=("no-such-homework", "cnn")) as running:
        running.wait_until_ready()
        assert wait_until(suite_socket(running, 1).exists, 120)
        assert not suite_socket(running, 0).exists()  # that suite process ended without listening
        pid, parent, code = request_grading(running, copy_of(RELEASE, tmp_path / "ann"), tmp_path)
        assert code == 0 and parent != running._proc.pid
        connection = running.connect(grading_request(tmp_path / "ann", tmp_path, "no-such-homework", name="2"), 60)
        with connection, connection.makefile("rb") as reader:
            pid = int(reader.readline().split()[1])
            assert parent_of(pid) == running._proc.pid
            connection.sendall(b"g")
            assert reader.readline().split() == [b"exit", b"2"]
        assert "no assignment 'no-such-homework'" in (tmp_path / "err2").read_text()  # the command's own error


def test_the_suite_process_and_its_gradings_end_with_the_server(tmp_path):
    folder = solved_with(tmp_path / "ann", HANG_AT_IMPORT)
    running = GradingServer(prepare=("cnn",))
    try:
        running.wait_until_ready()
        assert wait_until(suite_socket(running).exists, 120)
        (suite,) = children_of(running._proc.pid)
        connection = running.connect(grading_request(folder, tmp_path), 300)
        with connection, connection.makefile("rb") as reader:
            pid = int(reader.readline().split()[1])
            connection.sendall(b"g")
            assert parent_of(pid) == suite
            assert wait_until(lambda: any(b"sandbox_worker" in cmdline_of(child) for child in descendants_of(pid)), 120)
            sandbox = descendants_of(pid)
            running.close()  # the requester stops the batch: the server ends
            assert wait_until(lambda: not alive(suite) and not alive(pid) and not any(map(alive, sandbox)), 10), \
                "the suite process, its grading or the grading's sandbox outlived the server"
    finally:
        running.close()


@pytest.mark.parametrize("line", [b'{"argv": ["grade", "x", "--assignment", "fcnet", "--json", "o"]}\n',
                                  b"not json\n", b'["a list"]\n'], ids=["another assignment", "not json", "not a request"])
def test_a_suite_process_refuses_a_handover_it_cannot_grade(prepared, line):
    # what a server's grading sends when it hands a connection over; the suite forks nothing for this one
    ours, theirs = socket.socketpair()
    with ours, theirs, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as suite:
        suite.connect(str(suite_socket(prepared)))
        socket.send_fds(suite, [b"c"], [theirs.fileno()])
        suite.sendall(line)
        suite.shutdown(socket.SHUT_WR)
        assert suite.recv(1) == b"n"
    assert gradings_of(prepared) == []
