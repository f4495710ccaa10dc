"""The class report (`autograder.classwide.report`): one self-contained HTML page from a results folder.

Unit tests build small results folders by hand; one fixture grades real submissions (solved,
blank release, two catalogued mutants) with the grading command; a headless Chromium opens
the real report and checks that it renders without errors.
"""
from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from browser import console_errors, full_page_screenshot, headless_chromium

from autograder.classwide.report import (ReportError, StudentResult, common_diagnostics, diagnostic, function_order,
                                         pass_rates, read_results, slowest, write_report)

REPO = Path(__file__).resolve().parents[1]
SOLVED = REPO / "solutions_private" / "cnn"
RELEASE = REPO / "release" / "cnn"
SUITE = REPO / "autograder" / "suites" / "cnn"
HOSTILE = "<script>alert(1)</script>"


# -- helpers -------------------------------------------------------------------------------------

def case(function: str, score: float, max_score: float = 1.0, output: str = "", name: str | None = None) -> dict:
    """One Gradescope test entry grading ``function``."""
    return {"name": name or f"{function}: test_{len(output)}_{score}", "score": score, "max_score": max_score,
            "status": "passed" if score >= max_score else "failed", "output": output, "tags": [function],
            "visibility": "visible"}


def write_result(results_dir: Path, key: str, tests: list[dict], **extra) -> Path:
    """Write ``results_dir/results/<key>.json`` as grade-all does; ``extra`` overrides extra_data."""
    unique = [{**t, "name": f"{t['name']}#{i}"} for i, t in enumerate(tests)]
    extra_data = {"student": key, "status": "graded", "isolation": "bubblewrap", "wall_seconds": 1.0, **extra}
    report = {"score": sum(t["score"] for t in tests), "execution_time": 0.5, "output": "",
              "tests": unique, "extra_data": {k: v for k, v in extra_data.items() if v is not None}}
    path = results_dir / "results" / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report))
    return path


class Tables(HTMLParser):
    """The page's tables by the ``<h2>`` heading before them: rows of cell texts, and each row's class."""

    def __init__(self, page: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.row_classes: dict[str, list[str]] = {}
        self._heading, self._in_h2, self._cell = "", False, None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._in_h2, self._heading = True, ""
        elif tag == "tr" and self._heading:
            self.tables.setdefault(self._heading, []).append([])
            self.row_classes.setdefault(self._heading, []).append(dict(attrs).get("class") or "")
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[self._heading][-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._in_h2:
            self._heading += data
        elif self._cell is not None:
            self._cell += data

    def body(self, heading: str) -> list[list[str]]:
        """The rows of the table under ``heading``, header row left out."""
        assert heading in self.tables, f"the report has no table under <h2>{heading}</h2>: {list(self.tables)}"
        return self.tables[heading][1:]


def report_of(results_dir: Path, **kwargs) -> str:
    return write_report(results_dir, results_dir / "report.html", **kwargs).read_text(encoding="utf-8")


@pytest.fixture
def small_class(tmp_path) -> Path:
    """Three graded students and one who could not be graded (his tests all at 0, "Not graded: ...").

    relu_forward (2 tests of 1 point): alice 2/2, bob 1/2, carol 0/2; affine_forward: all full.
    """
    wrong = "relu_forward output for x of shape (4, 7): 28 of 28 values are wrong; largest relative error {}."
    write_result(tmp_path, "alice", [case("relu_forward", 1), case("relu_forward", 1), case("affine_forward", 2, 2)],
                 wall_seconds=3.0)
    write_result(tmp_path, "bob", [case("relu_forward", 1), case("relu_forward", 0, output=wrong.format("3.2e-02")),
                                   case("affine_forward", 2, 2)], wall_seconds=9.0)
    write_result(tmp_path, "carol", [case("relu_forward", 0, output=wrong.format("1.7e-01")),
                                     case("relu_forward", 0, output=wrong.format("5.0e-01")),
                                     case("affine_forward", 2, 2)], wall_seconds=1.0)
    not_graded = "Not graded: grading did not finish within 600 s"
    write_result(tmp_path, "dave", [case("relu_forward", 0, output=not_graded),
                                    case("affine_forward", 0, 2, not_graded)],
                 status="error", error="grading did not finish within 600 s", wall_seconds=600.0)
    return tmp_path


# -- diagnostics ---------------------------------------------------------------------------------

@pytest.mark.parametrize("first, second", [
    ("dx relative error 3.2e-02 > 1e-06.", "dx relative error 1.7e-01 > 1e-06."),
    ("output, x (2, 3, 4, 5): 120 of 120 values are wrong.", "output, x (3, 4, 3): 36 of 36 values are wrong."),
    ("affine_forward raised ValueError: cannot reshape (nnl/layers.py:30 in affine_forward: x = x.reshape(4, 4))",
     "affine_forward raised ValueError: cannot reshape (nnl/layers.py:41 in affine_forward: y = x.reshape(N. D))"),
    ("got 3.0 values. Hint: divide by N.", "got 7.5 values. Hint: transpose first."),
], ids=["rel-errors", "shapes-of-other-rank", "student-source-line", "hint-after-first-sentence"])
def test_same_mistake_gives_same_diagnostic(first, second):
    """Feedback that differs only in numbers, shapes, the student's own source line or the hint groups together."""
    assert diagnostic(first) == diagnostic(second), (
        f"these two feedbacks should group as one diagnostic, got {diagnostic(first)!r} and {diagnostic(second)!r}")


@pytest.mark.parametrize("first, second", [
    ("Hint: x. Your outputs match a known mistake: the bias b is not added.",
     "Hint: x. Your outputs match a known mistake: db averages dout over the batch instead of summing it."),
    ("dx relative error 3.2e-02 > 1e-06.", "dw relative error 3.2e-02 > 1e-06."),
], ids=["catalogued-mistakes", "different-gradients"])
def test_different_mistakes_give_different_diagnostics(first, second):
    """Grouping must not merge feedback that names different mistakes."""
    assert diagnostic(first) != diagnostic(second)


def test_catalogued_mistake_is_the_diagnostic():
    """When the grader recognised a catalogued mistake, the diagnostic is that mistake, not the first sentence."""
    output = ("spatial_batchnorm_forward output, x (2, 3, 4, 5): 120 of 120 values are wrong. Hint: "
              "transpose. Your outputs match a known mistake: x is reshaped to (N*H*W, C) without moving C last first.")
    assert diagnostic(output) == "known mistake: x is reshaped to (N*H*W, C) without moving C last first"


def test_diagnostic_is_capped():
    """A huge feedback (student exception messages are student-controlled) becomes a short diagnostic."""
    assert len(diagnostic("x" * 100_000)) <= 200


def test_diagnostics_count_distinct_students(small_class):
    """Carol fails the same check twice with other numbers: she counts once; bob's 3.2e-02 joins her group."""
    order = function_order(read_results(small_class))
    [(text, function, students)] = common_diagnostics(read_results(small_class), order)
    assert (function, students) == ("relu_forward", 2), f"expected one relu_forward diagnostic hit by 2, got {text!r}"


def test_same_diagnostic_in_two_functions_is_two_rows(tmp_path):
    """A diagnostic is counted per graded function: the same text under two functions stays apart."""
    same = "dependency is not implemented yet."
    write_result(tmp_path, "alice", [case("affine_forward", 0, output=same), case("affine_backward", 0, output=same)])
    rows = common_diagnostics(read_results(tmp_path), ["affine_forward", "affine_backward"])
    assert sorted(f for _, f, _ in rows) == ["affine_backward", "affine_forward"]


@pytest.mark.parametrize("students", [3, 20])
def test_diagnostics_keep_the_top_15_most_common_first(tmp_path, students):
    """At most 15 rows, sorted by how many students hit each."""
    for s in range(students):
        # student s fails checks 0..s: check 0 is hit by every student, check k by students - k
        failed = [case("sgd", 0, output=f"check {chr(97 + k)} failed.") for k in range(s + 1)]
        write_result(tmp_path, f"s{s:02d}", failed)
    rows = common_diagnostics(read_results(tmp_path), ["sgd"])
    counts = [count for _, _, count in rows]
    assert len(rows) == min(students, 15)
    assert counts == sorted(counts, reverse=True) and counts[0] == students


# -- pass rates, slowest, order ------------------------------------------------------------------

def test_pass_rates_share_with_full_points_and_mean_share(small_class):
    """relu_forward: 1 of 3 graded students has full points; mean share (1 + 0.5 + 0) / 3 = 0.5."""
    rates = {r.function: r for r in pass_rates(read_results(small_class), ["relu_forward", "affine_forward"])}
    relu = rates["relu_forward"]
    assert (relu.full, relu.students, relu.points) == (1, 3, 2.0)
    assert relu.mean_share == pytest.approx(0.5)
    assert rates["affine_forward"].full_share == 1.0


def test_error_students_are_left_out_of_pass_rates_and_diagnostics(small_class):
    """Dave could not be graded: he is not one of the students the rates and diagnostics count."""
    results = read_results(small_class)
    assert {r.students for r in pass_rates(results, ["relu_forward", "affine_forward"])} == {3}
    texts = [text for text, _, _ in common_diagnostics(results, ["relu_forward", "affine_forward"])]
    assert not any("Not graded" in text for text in texts), texts


def test_slowest_prefers_wall_seconds_then_execution_time(tmp_path):
    """extra_data.wall_seconds when present, else the grader's execution_time."""
    write_result(tmp_path, "walled", [case("sgd", 1)], wall_seconds=5.0)
    path = write_result(tmp_path, "unwalled", [case("sgd", 1)], wall_seconds=None)
    report = json.loads(path.read_text())
    path.write_text(json.dumps({**report, "execution_time": 7.0}))
    assert [(r.key, r.seconds) for r in slowest(read_results(tmp_path))] == [("unwalled", 7.0), ("walled", 5.0)]


def test_slowest_keeps_the_top_10(tmp_path):
    for s in range(12):
        write_result(tmp_path, f"s{s:02d}", [case("sgd", 1)], wall_seconds=float(s))
    assert [r.key for r in slowest(read_results(tmp_path))] == [f"s{s:02d}" for s in range(11, 1, -1)]


def test_functions_follow_the_rubric_when_given(small_class):
    """With the CNN rubric, functions are listed in its order (conv first), not the order tests appear."""
    order = function_order(read_results(small_class), SUITE / "rubric.toml")
    assert order.index("conv_forward_naive") < order.index("affine_forward") < order.index("relu_forward")


# -- the page ------------------------------------------------------------------------------------

def test_page_shows_every_section(small_class):
    page = report_of(small_class)
    for heading in ("Scores", "Pass rates per function", "Most common diagnostics", "Slowest submissions",
                    "All students"):
        assert f"<h2>{heading}</h2>" in page, f"the report lacks its {heading!r} section"


def test_histogram_caption_gives_class_size_mean_and_median(small_class):
    """Scores of the graded: alice 4, bob 3, carol 2 -> mean 3.00, median 3.00; dave is mentioned apart."""
    page = report_of(small_class)
    assert "Class of 3 graded student(s), out of 4: mean 3.00, median 3.00." in page
    assert "1 student(s) could not be graded" in page


def test_pass_rate_table_gives_the_numbers(small_class):
    rows = {row[0]: row for row in Tables(report_of(small_class)).body("Pass rates per function")}
    assert rows["relu_forward"] == ["relu_forward", "2", "1 / 3", "33%", "50%"]


def test_student_table_flags_error_students(small_class):
    """Dave is listed, flagged as an error with the reason, and not graded."""
    tables = Tables(report_of(small_class))
    rows = tables.body("All students")
    dave = next(i for i, row in enumerate(rows) if row[0] == "dave")
    assert tables.row_classes["All students"][1:][dave] == "error"
    assert "grading did not finish within 600 s" in rows[dave][3]
    assert rows[dave][6] == "not graded"


def test_student_table_lists_functions_that_lost_points(small_class):
    rows = {row[0]: row for row in Tables(report_of(small_class)).body("All students")}
    assert rows["bob"][6] == "relu_forward" and rows["alice"][6] == "-"
    assert rows["bob"][1:3] == ["3.00", "4"], f"bob scored 3 of 4, the table says {rows['bob'][1:3]}"


def test_page_is_self_contained(small_class):
    """Images are embedded PNG data URLs; nothing is fetched from elsewhere."""
    page = report_of(small_class)
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 2, f"expected the histogram and the pass-rate plot, found {len(sources)} images"
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"(href|src)=\"(https?:|//)", page) and "<script" not in page.lower()


@pytest.mark.parametrize("field", ["student", "error", "isolation", "output", "tag"])
def test_hostile_strings_are_escaped(tmp_path, field):
    """A student name, error, isolation note, feedback or tag like <script>...</script> appears only escaped."""
    extra = {"student": HOSTILE} if field == "student" else {"isolation": HOSTILE} if field == "isolation" else {}
    if field == "error":
        extra = {"status": "error", "error": HOSTILE}
    test = case(HOSTILE if field == "tag" else "sgd", 0, output=HOSTILE if field == "output" else "wrong.")
    write_result(tmp_path, "mallory", [test], **extra)
    write_result(tmp_path, "alice", [case("sgd", 1)])
    page = report_of(tmp_path)
    assert HOSTILE not in page, f"the {field} reached the page unescaped"
    shown = diagnostic(HOSTILE) if field == "output" else HOSTILE  # feedback is shown as its diagnostic
    assert html.escape(shown) in page, f"the {field} should still be shown, escaped"


def test_all_students_could_not_be_graded(tmp_path):
    """A class where every grading failed still gets a page, without plots."""
    write_result(tmp_path, "alice", [], status="error", error="the grader exited 2")
    page = report_of(tmp_path)
    assert "No student could be graded." in page and "<img" not in page


def test_write_report_creates_the_folder_and_returns_out(small_class, tmp_path):
    out = tmp_path / "elsewhere" / "class.html"
    assert write_report(small_class, out) == out and out.read_text().startswith("<!DOCTYPE html>")


# -- clear errors --------------------------------------------------------------------------------

def test_missing_results_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ReportError, match="no results folder"):
        write_report(tmp_path, tmp_path / "report.html")


def test_empty_results_folder_is_a_clear_error(tmp_path):
    (tmp_path / "results").mkdir()
    with pytest.raises(ReportError, match="no results files"):
        write_report(tmp_path, tmp_path / "report.html")


@pytest.mark.parametrize("content, complaint", [
    ("{not json", "not a valid JSON"),
    (b"\xff\xfe", "not a valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"tests": []}', "`score`"),
    ('{"score": 1}', "`tests`"),
    ('{"score": NaN, "tests": []}', "`score`"),
    ('{"score": 1, "tests": [{"name": "t", "score": Infinity, "max_score": 1, "status": "passed", "tags": []}]}',
     "finite"),
    ('{"score": 1, "tests": [{"name": "t", "score": 1, "status": "passed", "tags": ["sgd"]}]}', "`max_score`"),
    ('{"score": 1, "tests": [{"name": "t", "score": 1, "max_score": 1, "status": "passed"}]}', "`tags`"),
], ids=["bad-json", "not-utf8", "not-object", "no-score", "no-tests", "nan-score", "infinite-test-score", "test-without-max_score", "test-without-tags"])
def test_bad_results_file_is_named(tmp_path, content, complaint):
    """The error names the offending file and what is wrong with it; the other files are fine."""
    write_result(tmp_path, "alice", [case("sgd", 1)])
    bad = tmp_path / "results" / "bob.json"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ReportError) as raised:
        write_report(tmp_path, tmp_path / "report.html")
    assert str(bad) in str(raised.value) and complaint in str(raised.value), str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_error_student_without_tests_key_is_accepted(tmp_path):
    """A grade-all zero report for a failed grading may carry no tests at all."""
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "bob.json").write_text(json.dumps({"score": 0, "extra_data": {"status": "error"}}))
    [bob] = read_results(tmp_path)
    assert isinstance(bob, StudentResult) and not bob.graded and bob.tests == []


# -- real gradings -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_class(tmp_path_factory) -> Path:
    """A results folder from real gradings: solved, blank release, two catalogued mutants, one grader error."""
    from autograder.grading.mutations import load_catalogue, write_mutant

    work = tmp_path_factory.mktemp("real_class")
    mutations = {m.name: m for m in load_catalogue(SUITE)}
    folders = {"solved": SOLVED, "blank": RELEASE,
               "no_transpose": write_mutant(SOLVED, mutations["spatial_bn_no_transpose"], work / "no_transpose"),
               "no_bias": write_mutant(SOLVED, mutations["affine_no_bias"], work / "no_bias")}
    results = work / "out" / "results"
    results.mkdir(parents=True)
    started, running = time.monotonic(), {}
    for student, folder in folders.items():
        running[student] = subprocess.Popen(
            [sys.executable, "-m", "autograder", "grade", str(folder), "--assignment", "cnn", "--json",
             str(results / f"{student}.json")],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for student, proc in running.items():
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"grading {student} failed ({proc.returncode}): {stderr[-3000:]}"
        path = results / f"{student}.json"
        report = json.loads(path.read_text())
        report["extra_data"].update(student=student, status="graded",
                                    wall_seconds=round(time.monotonic() - started, 3))
        path.write_text(json.dumps(report))
    (results / "crashed.json").write_text(json.dumps({
        "score": 0.0, "execution_time": 0.0, "output": "", "tests": [],
        "extra_data": {"student": "crashed", "status": "error", "error": "the grader exited 2", "wall_seconds": 0.2}}))
    return work / "out"


def test_real_class_report(real_class):
    """The report of real gradings names the mutants' mistakes and counts the class right."""
    tables = Tables(report_of(real_class, rubric=SUITE / "rubric.toml"))
    diagnostics = {(row[0], row[1]): row[2] for row in tables.body("Most common diagnostics")}
    assert diagnostics.get(("known mistake: the bias b is not added", "affine_forward")) == "1 / 4", diagnostics
    assert ("known mistake: x is reshaped to (N*H*W, C) without moving C last first",
            "spatial_batchnorm_forward") in diagnostics, diagnostics
    rates = {row[0]: row for row in tables.body("Pass rates per function")}
    assert rates["spatial_batchnorm_forward"][2] == "2 / 4" and rates["affine_forward"][2] == "2 / 4"
    assert rates["conv_forward_naive"][2] == "3 / 4"
    scores = {row[0]: row[1] for row in tables.body("All students")}
    assert scores["solved"] == "100.00" and scores["blank"] == "0.00" and len(scores) == 5


def test_report_renders_in_a_browser(real_class):
    """Headless Chromium shows the report without console errors, every image loaded; a screenshot is kept."""
    from selenium.webdriver.common.by import By

    page = write_report(real_class, real_class / "report.html", rubric=SUITE / "rubric.toml")
    with headless_chromium() as driver:
        driver.get(page.resolve().as_uri())
        severe = console_errors(driver)
        assert not severe, f"the browser console reported errors: {severe}"
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) == 2, f"expected the histogram and the pass-rate plot, found {len(images)} images"
        for image in images:
            alt = image.get_attribute("alt")
            assert int(image.get_property("naturalWidth")) > 0, f"image {alt!r} did not load"
            assert image.is_displayed(), f"image {alt!r} is not displayed"
        full_page_screenshot(driver, "class_report.png")
