"""`python -m autograder validate`: the gates that prove the hidden suite before anything is released.

In a file of its own (its run is the longest of the tests) so that pytest-xdist runs it beside the rest.
"""
import json
import subprocess
import sys

import pytest
from submissions import REPO

from autograder.classwide.engine import zero_report
from autograder.course import known_assignments
from autograder.grading.grade import GradingError
from autograder.grading.mutations import Mutation
from autograder.grading.validate import _graded, _verdict


@pytest.mark.parametrize("assignment", known_assignments())
def test_validate_passes_every_gate(tmp_path, assignment):
    """Does `validate` prove each homework's suite: reference full, release 0, all mutants caught, no test unfailable?"""
    out = tmp_path / "validate.json"
    result = subprocess.run([sys.executable, "-m", "autograder", "validate", assignment, "--json", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=1800)
    report = json.loads(out.read_text())
    assert result.returncode == 0, result.stdout[-3000:]
    assert report["ok"] and report["detection_rate"] == 1.0 and report["never_failing_tests"] == []
    assert report["reference_score"] == report["total"] == 100 and report["release_score"] == 0
    assert len(report["mutants"]) >= 40
    assert "detection rate 100%" in result.stdout


def _test(name: str, function: str, score: float, max_score: float = 1.0) -> dict:
    return {"name": name, "tags": [function], "score": score, "max_score": max_score,
            "status": "passed" if score == max_score else "failed"}


def test_a_mutant_is_caught_only_by_points_its_own_function_loses():
    full = {"relu_forward": 2.0, "relu_backward": 1.0}
    mutation = Mutation("relu_sign", "relu_forward", "nnl/layers.py", (("x > 0", "x < 0"),), "the sign is flipped")
    own = {"extra_data": {"status": "graded"}, "tests": [_test("a", "relu_forward", 1.0), _test("b", "relu_forward", 0.0),
                                                         _test("c", "relu_backward", 1.0)]}
    verdict = _verdict(mutation, own, full)
    assert verdict.caught and verdict.lost == {"relu_forward": 1.0} and verdict.failed_tests == ["b"]
    elsewhere = {"extra_data": {"status": "graded"}, "tests": [_test("a", "relu_forward", 1.0),
                                                               _test("b", "relu_forward", 1.0),
                                                               _test("c", "relu_backward", 0.0)]}
    verdict = _verdict(mutation, elsewhere, full)
    assert not verdict.caught and verdict.lost == {"relu_backward": 1.0} and verdict.error == ""


def test_a_mutant_whose_grading_failed_is_not_caught_and_says_why():
    mutation = Mutation("relu_sign", "relu_forward", "nnl/layers.py", (("x > 0", "x < 0"),), "the sign is flipped")
    verdict = _verdict(mutation, zero_report("grading did not finish within 1800 s"), {"relu_forward": 2.0})
    assert not verdict.caught and verdict.lost == {}
    assert verdict.error == "grading mutant relu_sign failed: grading did not finish within 1800 s"
    with pytest.raises(GradingError, match="grading the reference /x failed: the grader exited 2: boom"):
        _graded(zero_report("the grader exited 2: boom"), "the reference /x")
