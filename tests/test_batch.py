"""`python -m autograder grade-all`: a class graded in parallel, resumable, on a pool or a Dask cluster."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.classwide.engine import grade_folder
from autograder.classwide.grade_all import BatchError, find_submissions
from submissions import HANG_AT_IMPORT, RELEASE, REPO, SOLVED, copy_of, hanging_everywhere, solved_with

def grade_all(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``grade-all ARGS`` for the cnn assignment (unless ARGS name one)."""
    named = () if "--assignment" in args else ("--assignment", "cnn")
    return subprocess.run([sys.executable, "-m", "autograder", "grade-all", *args, *named, "--no-progress"], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def class_rows(out: Path) -> list[dict]:
    with open(out / "class.csv") as rows:
        return list(csv.DictReader(rows))


def results(out: Path, student: str) -> dict:
    return json.loads((out / "results" / f"{student}.json").read_text())


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """Four students in nbgrader's submitted/ layout: solved, blank, one mistake, one that hangs at import."""
    root = tmp_path_factory.mktemp("submitted")
    copy_of(SOLVED, root / "ann" / "cnn")
    copy_of(RELEASE, root / "bob" / "cnn")
    solved_with(root / "cat" / "cnn", {"nnl/layers.py": {"relu_forward": "def relu_forward(x):\n    return x, x\n"}})
    solved_with(root / "dan" / "cnn", HANG_AT_IMPORT)
    return root


@pytest.fixture(scope="module")
def graded(classroom, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    done = grade_all(str(classroom), "--assignment", "cnn", "--out", str(out), "--jobs", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


def test_finds_both_layouts(tmp_path):
    copy_of(RELEASE, tmp_path / "nbgrader" / "ann" / "cnn")
    copy_of(RELEASE, tmp_path / "plain" / "bob")
    (tmp_path / "plain" / ".hidden").mkdir()
    assert [(s.student, s.folder) for s in find_submissions(tmp_path / "nbgrader", "cnn")] == \
        [("ann", tmp_path / "nbgrader" / "ann" / "cnn")]
    assert [(s.student, s.folder) for s in find_submissions(tmp_path / "plain", "cnn")] == \
        [("bob", tmp_path / "plain" / "bob")]


@pytest.mark.parametrize("make, message", [
    (lambda root: None, "no student folders"),
    (lambda root: (root / "bad name;rm").mkdir(), "letters, digits"),
])
def test_unusable_submissions_folder_is_refused(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(BatchError, match=message):
        find_submissions(tmp_path, "cnn")
    with pytest.raises(BatchError, match="not a folder"):
        find_submissions(tmp_path / "missing", "cnn")


def test_every_student_gets_a_results_file_and_a_csv_row(graded):
    out, done = graded
    rows = {row["student"]: row for row in class_rows(out)}
    assert sorted(rows) == ["ann", "bob", "cat", "dan"]
    assert float(rows["ann"]["score"]) == 100.0 and float(rows["bob"]["score"]) == 0.0
    assert float(rows["cat"]["relu_forward"]) == 0.0 and float(rows["cat"]["score"]) == pytest.approx(99.0)
    assert all(row["status"] == "graded" for row in rows.values())
    assert "4 graded now, 0 unchanged" in done.stdout


def test_results_match_the_single_grading_command(graded, classroom, tmp_path):
    out, _ = graded
    single = tmp_path / "cat.json"
    subprocess.run([sys.executable, "-m", "autograder", "grade", str(classroom / "cat" / "cnn"), "--assignment", "cnn",
                    "--json",
                    str(single)], cwd=REPO, check=True, capture_output=True)
    alone = json.loads(single.read_text())
    batch = results(out, "cat")
    assert [(t["name"], t["score"], t["status"]) for t in batch["tests"]] == \
        [(t["name"], t["score"], t["status"]) for t in alone["tests"]]


def test_a_hanging_submission_costs_only_its_own_functions(graded):
    out, _ = graded
    dan = {row["student"]: row for row in class_rows(out)}["dan"]
    assert float(dan["sgd"]) == 0.0 and float(dan["adam"]) == 0.0
    assert float(dan["conv_forward_naive"]) == 10.0


def test_rerun_skips_unchanged_students_and_regrades_changed_ones(graded, classroom):
    out, _ = graded
    before = (out / "class.csv").read_text()
    again = grade_all(str(classroom), "--out", str(out))
    assert again.returncode == 0 and "0 graded now, 4 unchanged" in again.stdout, again.stdout
    assert (out / "class.csv").read_text() == before
    shutil.copy(SOLVED / "nnl" / "layers.py", classroom / "cat" / "cnn" / "nnl" / "layers.py")
    third = grade_all(str(classroom), "--out", str(out))
    assert "1 graded now, 3 unchanged" in third.stdout
    assert float({r["student"]: r for r in class_rows(out)}["cat"]["score"]) == 100.0


def test_a_grading_over_its_time_limit_is_an_error_and_leaves_no_process(tmp_path):
    # A student module that hangs at import: the grading outlasts its limit however fast the machine
    # (the solved copy's whole grading now takes about as long as the 1 s limit).
    folder = solved_with(tmp_path / "ann", HANG_AT_IMPORT)
    started = time.monotonic()
    report = grade_folder(folder, "cnn", timeout=1.0)
    assert time.monotonic() - started < 30
    assert report["extra_data"]["status"] == "error" and report["score"] == 0.0
    assert "did not finish within 1 s" in report["extra_data"]["error"]
    leftover = subprocess.run(["pgrep", "-f", f"autograder grade {folder}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "the timed-out grader (or its sandbox) is still running"


def test_killed_run_completes_on_rerun_with_each_student_once(tmp_path):
    root = tmp_path / "class"
    for i in range(4):
        copy_of(SOLVED if i % 2 == 0 else RELEASE, root / f"s{i}")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", str(root), "--assignment", "cnn",
                             "--out", str(out),
                             "--jobs", "1", "--no-progress"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (out / "results").is_dir() or not any((out / "results").glob("*.json")):
        assert proc.poll() is None and time.monotonic() < deadline, "grade-all ended before it could be killed"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = sorted(p.name for p in (out / "results").glob("*.json"))
    assert 1 <= len(kept) < 4
    done = grade_all(str(root), "--out", str(out))
    assert done.returncode == 0
    assert f"{4 - len(kept)} graded now, {len(kept)} unchanged" in done.stdout
    rows = class_rows(out)
    assert sorted(r["student"] for r in rows) == ["s0", "s1", "s2", "s3"]
    assert [float(r["score"]) for r in sorted(rows, key=lambda r: r["student"])] == [100.0, 0.0, 100.0, 0.0]


def test_ctrl_c_stops_every_grading_at_once_and_leaves_nothing_behind(tmp_path):
    """Ctrl-C with two gradings that would hang for minutes: a short message, exit 130, at once; no
    grading process, sandbox or temporary file of theirs is left, the students graded before are kept."""
    root = tmp_path / "class"
    copy_of(SOLVED, root / "a_done")
    for student in ("b_hangs", "c_hangs"):
        hanging_everywhere(root / student)
    out, scratch = tmp_path / "out", tmp_path / "tmpdir"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", str(root), "--assignment", "cnn",
                             "--out", str(out), "--jobs", "2", "--no-progress"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 300
    while len(list(scratch.glob("grading-scratch-*/sandbox-*/submission"))) < 2 \
            or not (out / "results" / "a_done.json").exists():  # both hanging gradings are under way
        assert proc.poll() is None and time.monotonic() < deadline, "grade-all ended before it could be interrupted"
        time.sleep(0.1)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    interrupted = time.monotonic()
    _, stderr = proc.communicate(timeout=300)
    # each hanging grading had minutes to go (every graded function costs the sandbox's 10 s call limit)
    assert time.monotonic() - interrupted < 60, "Ctrl-C waited for the running gradings"
    assert proc.returncode == 130, stderr[-2000:]
    assert "grade-all: interrupted" in stderr and "Traceback" not in stderr, stderr[-2000:]
    assert sorted(p.name for p in (out / "results").glob("*.json")) == ["a_done.json"]
    leftover = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "a grading or its sandbox is still running"
    assert list(scratch.iterdir()) == [], "temporary files were left behind"


# -- Dask ---------------------------------------------------------------------------------------------

def test_dask_cluster_gives_the_local_results(graded, classroom, dask_cluster, tmp_path):
    local, _ = graded
    out = tmp_path / "dask-out"
    done = grade_all(str(classroom), "--out", str(out), "--dask-scheduler", dask_cluster)
    assert done.returncode == 0, done.stderr[-3000:]
    for student in ("ann", "bob", "cat", "dan"):
        remote, here = results(out, student), results(local, student)
        assert remote["score"] == here["score"], student
        assert [(t["name"], t["score"]) for t in remote["tests"]] == [(t["name"], t["score"]) for t in here["tests"]]
        assert remote["extra_data"]["submission_sha256"] == here["extra_data"]["submission_sha256"]


def test_an_unreachable_dask_scheduler_is_a_clear_error(tmp_path):
    copy_of(RELEASE, tmp_path / "class" / "ann")
    done = grade_all(str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--dask-scheduler",
                     "tcp://127.0.0.1:9", timeout=120)
    assert done.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in done.stderr


def test_progress_is_a_line_per_student_in_a_log_and_nothing_with_no_progress(tmp_path):
    """Without a terminal, progress is one plain line per graded student (no bar); --no-progress shows none."""
    for student in ("ann", "bob"):
        copy_of(RELEASE, tmp_path / "class" / student)
    command = [sys.executable, "-m", "autograder", "grade-all", str(tmp_path / "class"), "--assignment", "cnn"]
    logged = subprocess.run([*command, "--out", str(tmp_path / "logged")], cwd=REPO, capture_output=True, text=True,
                            timeout=600, check=True)
    lines = [line for line in logged.stderr.splitlines() if line.startswith("grading cnn: ")]
    assert sorted(line.split()[3] for line in lines) == ["ann", "bob"], logged.stderr
    assert "\r" not in logged.stderr and "it/s" not in logged.stderr and "student/s" not in logged.stderr
    quiet = subprocess.run([*command, "--out", str(tmp_path / "quiet"), "--no-progress"], cwd=REPO,
                           capture_output=True, text=True, timeout=600, check=True)
    assert "grading cnn" not in quiet.stderr, quiet.stderr


def test_a_grader_that_crashes_is_recorded_and_the_class_goes_on(tmp_path):
    """A grading process that dies (here: the grader refuses an unknown suite) is an error entry, not a stop."""
    report = grade_folder(copy_of(RELEASE, tmp_path / "ann"), "no_such_assignment", timeout=120)
    assert report["extra_data"]["status"] == "error" and report["score"] == 0.0
    assert "the grader exited 2" in report["extra_data"]["error"]
    assert "no assignment 'no_such_assignment'" in report["extra_data"]["error"] and "known: cnn" in report["extra_data"]["error"]
