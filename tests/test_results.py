"""Grading results in the Gradescope format: honest totals, validated scores, atomic writes."""
import json

import pytest

from autograder.grading.results import MAX_OUTPUT_CHARS, GradingResults, ResultsError, TestResult


def result(name="conv forward, stride 2", max_score=2.0, score=2.0, tags=("conv_forward_naive",), **kw):
    return TestResult(name, max_score, score, tags, **kw)


def test_report_has_the_gradescope_keys_and_sums_scores():
    """Does the JSON carry score, execution_time and every test's seven keys, with the right total?"""
    report = GradingResults([result(), result("pool backward", 3.0, 1.5, ("max_pool_backward_naive",))],
                            execution_time=1.23456).to_dict()
    assert report["score"] == 3.5
    assert report["execution_time"] == 1.235
    assert set(report["tests"][0]) == {"name", "score", "max_score", "status", "output", "tags", "visibility"}
    assert [t["status"] for t in report["tests"]] == ["passed", "failed"]
    assert report["tests"][1]["tags"] == ["max_pool_backward_naive"]


def test_without_results_keeps_every_planned_test_at_zero():
    """When grading cannot run, does every planned test stay in the report, at 0, with the reason?"""
    planned = [result(), result("adam steps", 1.0, 1.0, ("adam",))]
    crashed = GradingResults.without_results(planned, "the sandbox could not start")
    assert crashed.score == 0 and crashed.max_score == 3.0
    assert all(t.status == "failed" and "the sandbox could not start" in t.output for t in crashed.tests)
    assert "did not complete" in crashed.to_dict()["output"]


@pytest.mark.parametrize("score, max_score", [(-0.5, 2.0), (2.5, 2.0), (float("nan"), 2.0), (1.0, 0.0)])
def test_scores_outside_the_range_are_refused(score, max_score):
    """Is a negative, excessive or NaN score (or a zero-point test) an error, not a silent total?"""
    with pytest.raises(ResultsError, match="conv forward"):
        result(score=score, max_score=max_score)


def test_a_test_must_name_the_function_it_grades():
    """Is a test without tags refused?"""
    with pytest.raises(ResultsError, match="names no graded function"):
        result(tags=())


def test_duplicate_test_names_are_refused():
    """Would two tests of one name be refused (a total could count one twice)?"""
    with pytest.raises(ResultsError, match="repeated"):
        GradingResults([result(), result()])


def test_unknown_visibility_is_refused():
    with pytest.raises(ResultsError, match="visibility"):
        result(visibility="secret")


def test_long_output_is_capped():
    """Does a flood of feedback stay small in the report?"""
    assert len(result(output="x" * 100_000).output) <= MAX_OUTPUT_CHARS


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    """Does write() produce valid JSON and nothing else in the folder, replacing an old report?"""
    target = tmp_path / "out" / "results.json"
    GradingResults([result(score=0.0)]).write(target)
    GradingResults([result()]).write(target)
    assert json.loads(target.read_text())["score"] == 2.0
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]


def test_failed_write_keeps_the_old_report(tmp_path, monkeypatch):
    """If writing fails midway, is the previous report intact and no temp file left?"""
    target = tmp_path / "results.json"
    GradingResults([result()]).write(target)
    before = target.read_text()

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("autograder.grading.results.json.dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        GradingResults([result(score=0.0)]).write(target)
    assert target.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_split_points_add_up_to_round_numbers_in_the_report():
    """Do nine tests of 10/9 points each report a total of exactly 10?"""
    tests = [result(f"t{i}", 10 / 9, 10 / 9) for i in range(9)]
    assert GradingResults(tests).to_dict()["score"] == 10
