"""The whole course on the ordinary nbgrader commands, with five students.

release -> fetch -> submit (one resubmission, one late) -> collect -> autograde
-> generate_feedback -> export -> release_feedback -> fetch_feedback, on a
temporary course and exchange. The students:

- ada hands in the private solved copy;
- ben hands in the blank release;
- cleo hands in the seed's broken code;
- dan first submits the blank release, then, after the due date, a mostly
  right version with two catalogued mistakes and functions that print
  warnings to stderr (the later, late one must count, warnings must not zero);
- eve is hostile: she edits, deletes and re-flags score cells, adds kernel
  code that monkeypatches nbgrader and empties the gradebook, and her nnl code
  monkeypatches numpy and tries to write into the course.
"""
from __future__ import annotations

import datetime as dt
import shutil
import time

import pytest
from nbgrader.api import Gradebook

from autograder.grading.grade import suite_folder
from autograder.grading.mutations import load_catalogue, mutate_source
from autograder.nbgrader.score_cells import grade_id
from browser import full_page_screenshot, headless_chromium
from nbgrader_course import (ASSIGNMENT, REPO, Course, cell_index, edit_notebook, fill_with_solutions, function_scores,
                             score_cell_outputs)
from submissions import grade_json, replace_function, scores_by_tag

STUDENTS = ["ada", "ben", "cleo", "dan", "eve"]
MARKER = "EVE_WAS_HERE"

pytestmark = pytest.mark.nbgrader


def _apply_mutation(folder, name):
    mutation = {m.name: m for m in load_catalogue(suite_folder(ASSIGNMENT))}[name]
    module = folder / mutation.module
    module.write_text(mutate_source(module.read_text(), mutation))


def _make_dan_final(folder):
    fill_with_solutions(folder)
    _apply_mutation(folder, "spatial_bn_no_transpose")
    _apply_mutation(folder, "pool_mean")
    layers = folder / "nnl" / "layers.py"
    layers.write_text(layers.read_text().replace(
        "def affine_forward(x, w, b):",
        "def affine_forward(x, w, b):\n"
        "    import sys, warnings\n"
        "    import numpy as np\n"
        "    warnings.warn('affine_forward: a student warning', RuntimeWarning)\n"
        "    np.log(np.zeros(1))  # numpy's own RuntimeWarning: divide by zero\n"
        "    print('debugging affine_forward', file=sys.stderr)", 1))


def _make_eve(folder):
    fill_with_solutions(folder)
    replace_function(folder / "nnl" / "layers.py", "relu_forward", '''
        def relu_forward(x):
            import numpy as np
            np.allclose = lambda *args, **kwargs: True
            np.testing.assert_allclose = lambda *args, **kwargs: None
            print("relu_forward: all checks passed, score 1/1")
            return x, x
        ''')
    replace_function(folder / "nnl" / "conv_layers.py", "conv_forward_naive", f'''
        def conv_forward_naive(x, w, b, conv_param):
            import os
            for up in ("", "..", "../..", "../../..", "../../../.."):
                for name in ("{MARKER}", "gradebook.db"):
                    try:
                        with open(os.path.join(os.getcwd(), up, name), "a") as f:
                            f.write("{MARKER}")
                    except OSError:
                        pass
            raise SystemExit(0)
        ''')

    def tamper(nb):
        nb.cells[cell_index(nb, grade_id("conv_forward_naive"))].source = "10.0"
        nb.cells[cell_index(nb, grade_id("conv_backward_naive"))].metadata.nbgrader["grade"] = False
        nb.cells[cell_index(nb, grade_id("max_pool_forward_naive"))].metadata.nbgrader["points"] = 1000
        del nb.cells[cell_index(nb, grade_id("max_pool_backward_naive"))]
        import nbformat
        nb.cells.insert(2, nbformat.v4.new_code_cell(
            "import nbgrader.utils, sqlite3, sys, types\n"
            "nbgrader.utils.determine_grade = lambda cell, log=None: (1000.0, 1000.0)\n"
            "sys.modules['nnl.conv_layers'] = types.SimpleNamespace()\n"
            "sqlite3.connect('../../../gradebook.db').execute('delete from grade').connection.commit()\n"
            f"open('../../../{MARKER}', 'w').write('kernel')\n"))
    edit_notebook(folder / "ConvolutionalLayers.ipynb", tamper)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course after the whole flow; ``course.graded[student]`` is ``python -m autograder grade``'s JSON."""
    tmp = tmp_path_factory.mktemp("e2e")
    course = Course.create(tmp)
    course.nbgrader("release_assignment", ASSIGNMENT)
    folders = {student: course.fetch(student) for student in STUDENTS}

    fill_with_solutions(folders["ada"])
    for module in ("layers.py", "conv_layers.py", "cnn.py"):
        shutil.copy(REPO / "examples" / "seed_submission" / module, folders["cleo"] / "nnl" / module)
    _make_eve(folders["eve"])
    for student in STUDENTS:
        course.submit(student)  # dan's first submission is the blank release

    due = dt.datetime.now(dt.timezone.utc)
    course.nbgrader("db", "assignment", "add", ASSIGNMENT, f"--duedate={due:%Y-%m-%d %H:%M:%S} UTC")
    time.sleep(1.1)
    _make_dan_final(folders["dan"])
    course.submit("dan")

    course.nbgrader("collect", ASSIGNMENT)
    course.autograde = course.nbgrader("autograde", ASSIGNMENT)
    course.nbgrader("generate_feedback", ASSIGNMENT)
    course.rows = course.export()
    course.graded = {s: grade_json(folders[s], tmp / f"{s}.json") for s in STUDENTS}
    course.folders = folders
    course.tmp = tmp
    return course


def test_autograde_grades_the_class_ahead_and_records_each_student_once(course):
    """Are all five graded concurrently before nbgrader records them, each graded and recorded exactly once?"""
    log = course.autograde.stderr
    for student in STUDENTS:
        progress = [line for line in log.splitlines() if "kit autograde: " in line and f" {student} " in line]
        assert len(progress) == 1, (student, progress)
        assert log.count(f"Recording the hidden suite's grading of {student}/{ASSIGNMENT}") == 1, student
    assert "grading it again" not in log, "a submission's files differed from what was graded ahead"
    assert "kit autograde: 5/5" in log


def test_collect_names_each_student_as_submitted(course):
    """Does the exchange keep the five names (not `root`, the OS user who submitted)?"""
    assert sorted(p.name for p in (course.root / "submitted").iterdir()) == STUDENTS


def test_exported_totals_equal_the_grading_command(course):
    """Is every exported total the total of `python -m autograder grade` on the same files?"""
    for student in STUDENTS:
        exported = float(course.rows[student]["score"])
        assert exported == pytest.approx(course.graded[student]["score"], abs=1e-4), student
    assert float(course.rows["ada"]["score"]) == pytest.approx(100.0)


def test_gradebook_holds_each_functions_score(course):
    """Is each score cell's gradebook score that function's suite score, for every student?"""
    for student in STUDENTS:
        expected = {f: earned for f, (earned, _) in scores_by_tag(course.graded[student]).items()}
        assert function_scores(course, student) == pytest.approx(expected, abs=1e-6), student


def test_blank_release_scores_zero(course):
    """Does the blank release score 0 (the source's solutions were not graded in its place)?"""
    assert float(course.rows["ben"]["score"]) == 0.0
    assert set(function_scores(course, "ben").values()) == {0.0}


def test_latest_submission_counts_and_is_late(course):
    """Is dan's later (late) submission the graded one, and recorded as late?"""
    scores = function_scores(course, "dan")
    assert scores["conv_forward_naive"] == pytest.approx(10.0), "dan's first (blank) submission was graded"
    assert scores["spatial_batchnorm_forward"] < 10.0 and scores["max_pool_forward_naive"] < 6.0
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course.course_id) as gb:
        assert gb.find_submission(ASSIGNMENT, "dan").total_seconds_late > 0
        assert gb.find_submission(ASSIGNMENT, "ada").total_seconds_late == 0


def test_warnings_on_stderr_do_not_zero_a_grade(course):
    """Does dan's affine_forward, right but noisy on stderr, keep its full points?"""
    assert function_scores(course, "dan")["affine_forward"] == pytest.approx(2.0)
    graded = course.autograded("dan") / "CNN.ipynb"
    outputs = score_cell_outputs(graded)[grade_id("affine_forward")]
    assert [o["output_type"] for o in outputs] == ["stream", "execute_result"]
    assert outputs[0]["name"] == "stdout"


def test_hostile_student_gains_nothing(course):
    """Do eve's tampered cells, kernel code and nnl tricks earn nothing and change nothing?"""
    scores = function_scores(course, "eve")
    assert scores["relu_forward"] == 0.0 and scores["conv_forward_naive"] == 0.0
    # her untouched functions keep their points, the tampered cells got no more than the suite gave
    assert scores["conv_backward_naive"] == pytest.approx(10.0)
    assert scores["max_pool_forward_naive"] == pytest.approx(6.0)
    assert scores["max_pool_backward_naive"] == pytest.approx(6.0), "the deleted score cell was not restored"
    assert float(course.rows["eve"]["score"]) == pytest.approx(course.graded["eve"]["score"], abs=1e-4)
    assert float(course.rows["eve"]["score"]) < 100.0
    # the kernel code never ran, and the sandboxed code wrote nothing outside
    assert not list(course.tmp.rglob(MARKER)), "hostile code wrote into the course"
    assert MARKER.encode() not in (course.root / "gradebook.db").read_bytes()
    for student in STUDENTS:
        assert function_scores(course, student), f"{student}'s grades were deleted"


def test_notebooks_are_not_executed_at_autograde(course):
    """Does autograde run no notebook code (training cells, student cells) with the instructor's rights?"""
    for student in STUDENTS:
        for notebook in course.autograded(student).glob("*.ipynb"):
            import json
            cells = json.loads(notebook.read_text())["cells"]
            executed = [c["source"][:60] for c in cells if c["cell_type"] == "code" and c.get("outputs")
                        and not c["metadata"].get("nbgrader", {}).get("grade_id", "").startswith("score_")]
            assert executed == [], f"{student}/{notebook.name}: cells ran: {executed}"


def test_inline_questions_stay_manually_graded(course):
    """Are answered inline questions left for formgrader, and blank ones scored 0?"""
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course.course_id) as gb:
        def answers(student):
            return {g.name: g for nb in gb.find_submission(ASSIGNMENT, student).notebooks for g in nb.grades
                    if g.name.endswith("-answer")}
        ada, ben = answers("ada"), answers("ben")
        assert len(ada) == 4 and all(g.needs_manual_grade for g in ada.values())
        assert all(g.auto_score == 0 and not g.needs_manual_grade for g in ben.values())


def test_feedback_names_each_failing_function_without_the_hidden_suite(course):
    """Does each student's feedback name every function that lost points, and show no hidden test?"""
    suite_sources = [p.read_text() for p in suite_folder(ASSIGNMENT).glob("test_*.py")]
    for student in STUDENTS:
        html = course.feedback_html(student)
        for function, (earned, possible) in scores_by_tag(course.graded[student]).items():
            if earned < possible:
                assert f"{function}: {earned:.4g} of {possible:g} points" in html, (student, function)
        assert "import pytest" not in html and "@pytest.mark" not in html
        for source in suite_sources:
            assert source.splitlines()[0] not in html


def test_feedback_reaches_the_students(course):
    """Do release_feedback and fetch_feedback work (the submissions came through `submit`)?"""
    course.nbgrader("release_feedback", ASSIGNMENT)
    home = course.homes / "dan"
    course.nbgrader("fetch_feedback", ASSIGNMENT, *course.student_args(), "--student=dan", cwd=home)
    fetched = list((home / ASSIGNMENT / "feedback").rglob("ConvolutionalLayers.html"))
    assert fetched, "no feedback fetched"
    assert "max_pool_forward_naive: " in fetched[0].read_text()


def test_resubmission_after_collect_replaces_the_grade(course):
    """When ben resubmits after the TA collected and graded, do `collect --update` and autograde take it?"""
    fill_with_solutions(course.folders["ben"])
    course.submit("ben")
    course.nbgrader("collect", "--update", ASSIGNMENT)
    rerun = course.nbgrader("autograde", ASSIGNMENT)
    assert "Skipping existing assignment" in rerun.stderr, "the other students were graded again"
    assert float(course.export()["ben"]["score"]) == pytest.approx(100.0)
    assert function_scores(course, "ada") == pytest.approx({f: e for f, (e, _) in
                                                             scores_by_tag(course.graded["ada"]).items()})


# Every element of the feedback the kit writes: the score cells' outputs and the grading notes.
FEEDBACK_ELEMENTS = "div.output_wrapper, div.output_wrapper *, div.output_subarea, div.output_subarea pre"
OVERFLOWING = """
return Array.from(document.querySelectorAll(arguments[0]))
  .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
  .map(e => e.tagName + '.' + e.className + ': ' + e.scrollWidth + ' > ' + e.clientWidth);
"""
HINT_RECTS = """
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const found = [];
while (walker.nextNode()) {
  const node = walker.currentNode;
  const at = node.data.indexOf('Hint:');
  if (at < 0 || !node.parentElement.closest('div.output_wrapper')) continue;
  const range = document.createRange();
  range.selectNodeContents(node);
  const rights = Array.from(range.getClientRects()).map(r => r.right);
  found.push({text: node.data.slice(at, at + 80), right: Math.max(...rights)});
}
return found;
"""


def test_feedback_reads_without_scrolling_sideways(course):
    """At 1280 px, does no feedback element of dan's pages scroll sideways, each hint inside the window?"""
    pages = sorted(course.feedback("dan").glob("*.html"))
    assert pages, "dan has no feedback pages"
    hints = 0
    with headless_chromium(1280, 1000) as driver:
        for page in pages:
            driver.get(page.resolve().as_uri())
            assert driver.execute_script(OVERFLOWING, FEEDBACK_ELEMENTS) == [], page.name
            width = driver.execute_script("return window.innerWidth")
            for hint in driver.execute_script(HINT_RECTS):
                hints += 1
                assert hint["text"].startswith("Hint:") and len(hint["text"]) > 10, hint
                assert hint["right"] <= width, f"{page.name}: a hint ends at x={hint['right']}, past {width}: {hint}"
        driver.get((course.feedback("dan") / "SpatialBatchNorm.html").resolve().as_uri())
        full_page_screenshot(driver, "feedback_spatial_batchnorm.png")
    assert hints >= 2, "dan's feedback shows no hint"
