"""The nbgrader traps of DESIGN.md, each shown avoided with the real `nbgrader autograde`.

Submissions are put in ``submitted/`` directly (as a TA who copied them from
an LMS would), which also covers submissions without ``timestamp.txt``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from nbgrader.api import Gradebook

from autograder.course import copy_course
from autograder.nbgrader.commands import nbgrader_env, run_nbgrader
from autograder.nbgrader.submission_repair import NOTES_FILE
from nbgrader_course import ASSIGNMENT, SOLVED, Course, score_cell_outputs

pytestmark = pytest.mark.nbgrader

HUGE_MB = 60


def _scores(course, student) -> dict[str, tuple[float | None, bool]]:
    """``{score cell: (auto_score, needs_manual_grade)}`` from the gradebook."""
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course.course_id) as gb:
        submission = gb.find_submission(ASSIGNMENT, student)
        return {g.name: (g.auto_score, g.needs_manual_grade) for nb in submission.notebooks for g in nb.grades
                if g.name.startswith("score_")}


def _total(course, student) -> float:
    return sum(score for score, _ in _scores(course, student).values())


def _put(course, student, source=SOLVED):
    folder = course.submitted(student)
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course with a solved submission, a malformed one and one without notebooks, autograded once."""
    tmp = tmp_path_factory.mktemp("traps")
    course = Course.create(tmp)
    _put(course, "alice")

    erin = _put(course, "erin")
    (erin / "ConvolutionalLayers.ipynb").write_text('{"cells": [ not json')
    (erin / "CNN.ipynb").unlink()
    (erin / "nnl" / "optim.py").unlink()
    os.symlink(course.root / "source" / ASSIGNMENT / "nnl" / "layers.py", erin / "nnl" / "solution_link.py")
    os.symlink("/etc/passwd", erin / "passwd")
    spatial = json.loads((erin / "SpatialBatchNorm.ipynb").read_text())
    for cell in spatial["cells"]:  # cell ids deleted, an answer cell and a score cell deleted
        cell.pop("id", None)
    spatial["cells"] = [c for c in spatial["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id")
                        not in ("normalization-axes-answer", "score_batchnorm_forward")]
    (erin / "SpatialBatchNorm.ipynb").write_text(json.dumps(spatial))
    with open(erin / "huge.bin", "wb") as out:
        out.truncate(HUGE_MB * 2**20)

    frank = course.submitted("frank")
    frank.mkdir(parents=True)
    shutil.copytree(SOLVED / "nnl", frank / "nnl")

    course.run = course.nbgrader("autograde", ASSIGNMENT)
    course.nbgrader("generate_feedback", ASSIGNMENT)
    return course


def test_malformed_submission_is_graded_as_far_as_possible(course):
    """Are erin's readable functions graded, her broken parts noted, and alice unaffected?"""
    scores = {name: score for name, (score, _) in _scores(course, "erin").items()}
    assert scores["score_conv_forward_naive"] == pytest.approx(10.0)
    assert scores["score_ThreeLayerConvNet"] == pytest.approx(20.0)
    assert scores["score_batchnorm_forward"] == pytest.approx(4.0), "a deleted score cell must come back"
    for optimizer in ("sgd", "sgd_momentum", "rmsprop", "adam"):
        assert scores[f"score_{optimizer}"] == 0.0, "optim.py is missing: its functions must score 0"
    assert _total(course, "erin") == pytest.approx(94.0)
    assert _total(course, "alice") == pytest.approx(100.0)


def test_malformed_parts_are_named_in_the_feedback(course):
    """Does erin's feedback say what was wrong with each broken part?"""
    html = course.feedback_html("erin")
    for expected in ("ConvolutionalLayers.ipynb is not valid JSON", "CNN.ipynb was missing",
                     "nnl/optim.py is missing", "nnl/solution_link.py was a link to", "passwd was a link to",
                     f"huge.bin ({HUGE_MB} MiB) is above the 50 MiB limit"):
        assert expected in html, expected


def test_nothing_the_student_sent_is_lost(course):
    """Are the unreadable notebook and the huge file kept, and the links' targets untouched?"""
    erin = course.submitted("erin")
    assert (erin / "ConvolutionalLayers.ipynb.unreadable").read_text() == '{"cells": [ not json'
    assert (course.root / "quarantine" / "erin" / ASSIGNMENT / "huge.bin").stat().st_size == HUGE_MB * 2**20
    assert not (course.autograded("erin") / "huge.bin").exists()
    assert not (course.autograded("erin") / "nnl" / "solution_link.py").exists()
    assert "### BEGIN SOLUTION" in (course.root / "source" / ASSIGNMENT / "nnl" / "layers.py").read_text()
    assert NOTES_FILE in os.listdir(erin)


def test_a_submission_without_notebooks_gets_its_grades(course):
    """Does frank (nnl/ only, no notebook) get a gradebook row with his functions' points?"""
    assert _total(course, "frank") == pytest.approx(100.0)
    assert "was missing from your submission" in course.feedback_html("frank")


def test_second_run_skips_finished_submissions(course):
    """Does rerunning autograde leave finished students alone (no regrading, same grades)?"""
    before = {s: _scores(course, s) for s in ("alice", "erin", "frank")}
    rerun = course.nbgrader("autograde", ASSIGNMENT)
    assert "Grading" not in rerun.stderr.replace("Autograding", "")
    assert {s: _scores(course, s) for s in before} == before
    notes = (course.submitted("erin") / NOTES_FILE).read_text().splitlines()
    assert len(notes) == len(set(notes)), "notes were recorded twice"


def test_score_cells_hold_a_plain_float_and_no_stderr(course):
    """Does every score cell end in an execute_result nbgrader parses as a float, with no stderr?"""
    for notebook in course.autograded("alice").glob("*.ipynb"):
        for grade_id, outputs in score_cell_outputs(notebook).items():
            assert [o["output_type"] for o in outputs] == ["stream", "execute_result"], grade_id
            assert outputs[0]["name"] == "stdout"
            float(outputs[1]["data"]["text/plain"])


def test_a_grader_failure_gives_no_credit_and_fails_loudly(course):
    """Is a grading that cannot finish reported (exit 1) with 0 points flagged for review, not full marks?"""
    _put(course, "gina")
    course.nbgrader("autograde", ASSIGNMENT, "--student=gina")
    assert _total(course, "gina") == pytest.approx(100.0)
    failed = course.nbgrader("autograde", ASSIGNMENT, "--student=gina", "--force",
                             "--KitAutograde.grading_timeout=0.01", check=False)
    assert failed.returncode == 1
    assert "grading did not finish within 0.01 s" in failed.stderr
    assert set(_scores(course, "gina").values()) == {(0.0, True)}
    assert not course.autograded("gina").exists()


def test_without_the_kit_score_cells_fail_instead_of_passing(course):
    """If autograde ran without the kit (plain nbgrader executing the notebook), do score cells give 0?"""
    _put(course, "hana", course.root / "release" / ASSIGNMENT)
    config = course.root / "nbgrader_config.py"
    original = config.read_text()
    config.write_text(original + "\nimport nbgrader.apps.autogradeapp, nbgrader.converters.autograde\n"
                      "nbgrader.apps.autogradeapp.Autograde = nbgrader.converters.autograde.Autograde\n")
    try:
        course.nbgrader("autograde", ASSIGNMENT, "--student=hana")
    finally:
        config.write_text(original)
    scores = _scores(course, "hana")
    assert len(scores) == 21 and {score for score, _ in scores.values()} == {0.0}
    outputs = score_cell_outputs(course.autograded("hana") / "CNN.ipynb")
    assert all(o[-1]["output_type"] == "error" for o in outputs.values())


def _without_the_kit(tmp_path) -> dict:
    """An environment in which ``import autograder`` fails, as where the kit was never installed."""
    shadow = tmp_path / "shadow" / "autograder"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'autograder\'")\n')
    return {"PYTHONPATH": str(shadow.parent)}


def test_without_the_kit_generate_assignment_refuses_and_writes_nothing(tmp_path):
    """Without the kit importable, does generate_assignment fail loudly instead of releasing solved .py files?"""
    course = Course(copy_course(tmp_path / "course"), tmp_path / "exchange", tmp_path / "homes", ASSIGNMENT)
    done = course.nbgrader("generate_assignment", ASSIGNMENT, check=False, env=_without_the_kit(tmp_path))
    assert done.returncode != 0
    assert "the course kit (Python package 'autograder') cannot be imported" in done.stderr
    assert not (course.root / "release").exists() and not (course.root / "solutions_private").exists()


@pytest.mark.parametrize("breakage,line,expected", [
    ("c.Exchange.timezone = a_typo\n", 3, "NameError: name 'a_typo' is not defined"),
    ("c.CourseDirectory.course_id = 'cnn\n", 3, "SyntaxError"),
    (None, None, "FileNotFoundError: the file is missing"),
])
def test_broken_course_settings_make_generate_assignment_refuse(tmp_path, breakage, line, expected):
    """Plain nbgrader skips a config that raises and releases the solutions: does a broken course_settings.py
    stop generate_assignment instead, naming the file and line, with nothing written?"""
    course = Course(copy_course(tmp_path / "course"), tmp_path / "exchange", tmp_path / "homes", ASSIGNMENT)
    settings = course.root / "course_settings.py"
    if breakage is None:
        settings.unlink()
    else:
        settings.write_text("c = get_config()\n\n" + breakage + settings.read_text())
    done = course.nbgrader("generate_assignment", ASSIGNMENT, check=False)
    assert done.returncode == 1
    where = f"{settings} line {line}: " if line else f"{settings}: "
    assert f"refusing to run: {where}{expected}" in done.stderr
    assert done.stderr.count("will refuse to run") == 1, "warned once, though nbgrader loads the config 3 times"
    assert not (course.root / "release").exists() and not (course.root / "solutions_private").exists()


def test_without_the_kit_autograde_refuses_and_keeps_the_grades(course, tmp_path):
    """Without the kit importable, does autograde refuse (no notebook run, no grade) and keep earlier grades?"""
    before = _scores(course, "alice")
    kim = _put(course, "kim")
    try:
        done = course.nbgrader("autograde", ASSIGNMENT, check=False, env=_without_the_kit(tmp_path))
        assert done.returncode != 0
        assert "refusing to run" in done.stderr
        assert not course.autograded("kim").exists()
        assert _scores(course, "alice") == before
        with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course.course_id) as gb:
            assert all(s.student.id != "kim" for s in gb.assignment_submissions(ASSIGNMENT))
    finally:
        shutil.rmtree(kim.parent)


FORMGRADER_AUTOGRADE = """
import json, sys
from nbgrader.apps.api import NbGraderAPI
from nbgrader.apps.baseapp import NbGrader

class Formgrader(NbGrader):
    pass

app = Formgrader()
app.initialize([])
api = NbGraderAPI(app.coursedir, parent=app)
result = api.autograde("cnn", sys.argv[1])
from autograder.nbgrader.gradebook_reads import RELEASED
print(json.dumps({"success": result["success"], "error": result.get("error", ""), "released_kept": len(RELEASED)}))
"""


def test_formgraders_autograde_button_uses_the_kit(course):
    """Does formgrader's autograde (NbGraderAPI.autograde, in the server's process) grade with the suite?"""
    _put(course, "ivy")
    done = subprocess.run([sys.executable, "-c", FORMGRADER_AUTOGRADE, "ivy"], cwd=course.root, text=True,
                          capture_output=True, timeout=600, env=nbgrader_env(course.env))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["success"], result["error"][-2000:]
    assert _total(course, "ivy") == pytest.approx(100.0)
    # the server's process keeps no released cells: a generate_assignment before the next autograde counts
    assert result["released_kept"] == 0
    outputs = score_cell_outputs(course.autograded("ivy") / "CNN.ipynb")
    assert all(o[-1]["output_type"] == "execute_result" for o in outputs.values())


# -- resuming an interrupted autograde ------------------------------------------------------------

RESUME_STUDENTS = ["s1", "s2", "s3"]


def _start_autograde(course, *options: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, *options], cwd=course.root,
                            env=nbgrader_env(course.env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _interrupt_while_grading(course, student, sig, *options: str) -> str:
    """Start autograde and send ``sig`` to it once ``student``'s grading has begun; its log."""
    proc = _start_autograde(course, *options)
    deadline = time.monotonic() + 300
    while not course.autograded(student).exists():
        assert proc.poll() is None, "autograde finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, sig)
    return proc.communicate(timeout=120)[1]


@pytest.fixture(scope="module")
def resume_course(tmp_path_factory):
    course = Course.create(tmp_path_factory.mktemp("resume"))
    _put(course, "s1")
    _put(course, "s2", course.root / "release" / ASSIGNMENT)
    _put(course, "s3")
    return course


def test_interrupted_autograde_resumes_without_loss_or_duplicates(resume_course):
    """After a Ctrl-C and a kill -9 mid-grading, does a rerun grade everyone exactly once, correctly?"""
    course = resume_course
    # one grading at a time: the others are still queued when Ctrl-C comes, and are dropped quietly
    log = _interrupt_while_grading(course, "s1", signal.SIGINT, "--KitAutograde.jobs=1")
    assert "Interrupted: the submissions recorded so far are kept; run nbgrader autograde again" in log, log[-3000:]
    assert "exception calling callback" not in log and "CancelledError" not in log, log[-3000:]
    assert " error score " not in log, "a grading stopped by Ctrl-C was reported as a failed one"
    _interrupt_while_grading(course, "s2", signal.SIGKILL)
    assert course.autograded("s2").exists(), "the kill left no half-made folder: the test proves nothing"
    course.nbgrader("autograde", ASSIGNMENT)

    assert {s: _total(course, s) for s in RESUME_STUDENTS} == pytest.approx({"s1": 100.0, "s2": 0.0, "s3": 100.0})
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course.course_id) as gb:
        for student in RESUME_STUDENTS:
            submissions = [s for s in gb.find_student(student).submissions if s.assignment.name == ASSIGNMENT]
            assert len(submissions) == 1
            assert all(g.auto_score is not None for nb in submissions[0].notebooks for g in nb.grades
                       if g.name.startswith("score_"))
    for student in RESUME_STUDENTS:
        notebooks = sorted(p.name for p in course.autograded(student).glob("*.ipynb"))
        assert notebooks == ["CNN.ipynb", "ConvolutionalLayers.ipynb", "SpatialBatchNorm.ipynb"]
        for notebook in course.autograded(student).glob("*.ipynb"):
            json.loads(notebook.read_text())


def test_gradebook_location_comes_from_the_environment(course, tmp_path):
    """Does COURSE_GRADEBOOK_URL move the gradebook (and leave the course's own untouched)?"""
    other = tmp_path / "elsewhere.db"
    done = run_nbgrader(["db", "student", "add", "zoe"], cwd=course.root,
                        env={**course.env, "COURSE_GRADEBOOK_URL": f"sqlite:///{other}"})
    assert done.returncode == 0, done.stderr[-2000:]
    with Gradebook(f"sqlite:///{other}", course.course_id) as gb:
        assert [s.id for s in gb.students] == ["zoe"]
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course.course_id) as gb:
        assert "zoe" not in [s.id for s in gb.students]
