"""The grading command end to end: the reference, the blank release, the seed's code, determinism."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from autograder.classwide.engine import Gradings
from autograder.grading.rubric import Rubric, RubricError
from submissions import RELEASE, REPO, SOLVED, copy_of, grade_json, marked_processes, scores_by_tag

SUITE = REPO / "autograder" / "suites" / "cnn"
SEED_CODE = REPO / "examples" / "seed_submission"


def run_grade(*args: str) -> subprocess.CompletedProcess:
    named = () if "--assignment" in args or "--help" in args else ("--assignment", "cnn")
    return subprocess.run([sys.executable, "-m", "autograder", "grade", *args, *named], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


# --- the rubric -------------------------------------------------------------------------


def write_rubric(tmp_path, text):
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    return path


def test_course_rubric_adds_up_and_weights_new_functions_higher():
    """Does rubric.toml add up to its total, with this assignment's functions above the carried-over ones?"""
    rubric = Rubric.load(SUITE / "rubric.toml")
    assert sum(g.points for g in rubric.functions.values()) == rubric.total == 100
    new = [rubric.functions[n].points for n in ("conv_forward_naive", "spatial_batchnorm_forward",
                                                "ThreeLayerConvNet")]
    carried = [g.points for g in rubric.functions.values() if g.module in ("nnl.layers", "nnl.optim")]
    assert min(new) > max(carried)


@pytest.mark.parametrize("text, complaint", [
    ('total = 3\n[functions]\na = { module = "nnl.layers", points = 2 }\n', "add up to 2"),
    ('total = 2\n[functions]\na = { points = 2 }\n', "needs a `module`"),
    ('total = 0\n[functions]\na = { module = "nnl.layers", points = 0 }\n', "points` > 0"),
    ('[functions]\na = { module = "nnl.layers", points = 2 }\n', "needs `total"),
    ('total = = 2', "cannot read"),
])
def test_a_rubric_that_does_not_add_up_is_refused(tmp_path, text, complaint):
    """Is every malformed rubric refused with a message naming the file and the problem?"""
    with pytest.raises(RubricError, match=complaint) as err:
        Rubric.load(write_rubric(tmp_path, text))
    assert "rubric.toml" in str(err.value)


def test_points_are_split_over_a_functions_tests_and_none_are_lost(tmp_path):
    """Are a function's points shared equally, and is a function without tests an error?"""
    rubric = Rubric.load(write_rubric(tmp_path, 'total = 3\n[functions]\n'
                                      'a = { module = "m", points = 2 }\nb = { module = "m", points = 1 }\n'))
    assert rubric.split({"a": ["t1", "t2", "t3", "t4"], "b": ["t5"]}) == {
        "t1": 0.5, "t2": 0.5, "t3": 0.5, "t4": 0.5, "t5": 1.0}
    with pytest.raises(RubricError, match=r"no hidden test grades \['b'\]"):
        rubric.split({"a": ["t1"]})
    with pytest.raises(RubricError, match="missing from the rubric"):
        rubric.split({"a": ["t1"], "b": ["t2"], "c": ["t3"]})


# --- the command's contract ---------------------------------------------------------------


def test_missing_submission_exits_2_and_still_writes_a_report(tmp_path):
    """When the grader cannot run, is the exit status non-zero, with a valid zero report and the reason?"""
    out = tmp_path / "results.json"
    result = run_grade(str(tmp_path / "nowhere"), "--json", str(out))
    assert result.returncode == 2
    assert "no submission folder" in result.stderr
    report = json.loads(out.read_text())
    assert report["score"] == 0 and "no submission folder" in report["output"]


def test_a_failing_bubblewrap_is_a_grader_failure_not_a_weaker_grading(tmp_path):
    """With bubblewrap installed but failing, does grading stop (exit 2, zero report) instead of running
    student code with resource limits alone?"""
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_SANDBOX_ALLOW_FALLBACK", "CNN_SANDBOX_ALLOW_FALLBACK")}
    env["PATH"] = f"{fake.parent}{os.pathsep}{env['PATH']}"
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", str(SOLVED), "--assignment", "cnn",
                             "--json", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "bubblewrap failed to start" in result.stderr and "GRADER_SANDBOX_ALLOW_FALLBACK=1" in result.stderr
    report = json.loads(out.read_text())
    assert report["score"] == 0 and "bubblewrap failed to start" in report["output"]


def test_a_suite_that_does_not_start_leaves_no_sandbox(tmp_path, monkeypatch):
    """The sandbox starts before pytest does: is it stopped when pytest gives up before its session starts?"""
    import tempfile

    from autograder.grading import pytest_plugin
    from autograder.grading.grade import GradingError, grade

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    started = []
    start = pytest_plugin.EarlySandbox.__init__
    monkeypatch.setattr(pytest_plugin.EarlySandbox, "__init__",
                        lambda self, *args: started.append(self) or start(self, *args))
    broken = tmp_path / "rubric.toml"
    broken.write_text("this is [not a rubric\n")  # refused while pytest configures itself, before any session
    with pytest.raises(GradingError, match="did not run"):
        grade(copy_of(RELEASE, tmp_path / "student"), "cnn", rubric=broken)
    assert len(started) == 1 and started[0]._closed.is_set(), "the sandbox started for the grading was not stopped"
    assert started[0].box is not None and started[0].error is None, "the sandbox did start"
    assert list(scratch.iterdir()) == [], "the sandbox's private copy was left behind"
    assert marked_processes(str(scratch)) == [], "a sandbox process outlived the grading"


def test_unknown_assignment_names_the_known_ones(tmp_path):
    """Does an unknown assignment exit 2, naming the known ones, with a zero report written all the same?"""
    out = tmp_path / "results.json"
    result = run_grade(str(SOLVED), "--assignment", "rnn", "--json", str(out))
    assert result.returncode == 2 and "no assignment 'rnn'" in result.stderr and "known: cnn" in result.stderr
    report = json.loads(out.read_text())
    assert report["score"] == 0 and "no assignment 'rnn'" in report["output"]


def test_help_describes_the_exit_status():
    result = run_grade("--help")
    assert result.returncode == 0 and "Exit status 0 whenever grading completed" in result.stdout


# --- whole submissions ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_results(tmp_path_factory):
    return grade_json(SOLVED, tmp_path_factory.mktemp("ref") / "results.json")


def test_reference_scores_full_marks(reference_results):
    """Does the solved copy earn every point of the rubric?"""
    failed = [t["name"] + ": " + t["output"] for t in reference_results["tests"] if t["status"] != "passed"]
    assert not failed, failed[:5]
    assert reference_results["score"] == pytest.approx(Rubric.load(SUITE / "rubric.toml").total)


def test_every_test_is_tagged_and_reported_in_the_gradescope_format(reference_results):
    rubric = Rubric.load(SUITE / "rubric.toml")
    for test in reference_results["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "tags", "visibility"}
        assert len(test["tags"]) == 1 and test["tags"][0] in rubric.functions
    assert set(scores_by_tag(reference_results)) == set(rubric.functions)
    assert reference_results["extra_data"]["isolation"] == "bubblewrap" or shutil.which("bwrap") is None


def test_blank_release_scores_zero_without_crashing(tmp_path):
    """Does the release, stubs and all, score exactly 0 with every test reported?"""
    results = grade_json(RELEASE, tmp_path / "results.json")
    assert results["score"] == 0
    assert len(results["tests"]) > 50
    assert all("not implemented yet" in t["output"] or "could not" in t["output"] for t in results["tests"])


def test_grading_is_deterministic(tmp_path):
    """Does grading the same partly wrong submission 10 times give identical results (timing aside)?

    Three times through the command, each in a process of its own, and seven times as a batch
    grades: forked from one grading server, two at a time.
    """
    submission = copy_of(SOLVED, tmp_path / "partly")
    shutil.copy(SEED_CODE / "layers.py", submission / "nnl" / "layers.py")
    reports = [grade_json(submission, tmp_path / f"run{run}.json") for run in range(3)]
    with Gradings("cnn", jobs=2) as gradings:
        futures = [gradings.submit(f"run{run}", submission) for run in range(3, 10)]
        reports += [future.result() for future in futures]
    verdicts = [{**{key: value for key, value in report.items() if key not in ("execution_time", "extra_data")},
                 "isolation": report["extra_data"]["isolation"]} for report in reports]  # a batch adds its timing
    assert 0 < verdicts[0]["score"] < 100
    assert all(verdict == verdicts[0] for verdict in verdicts[1:])


@pytest.fixture(scope="module")
def seed_results(tmp_path_factory):
    """The seed's broken student code, placed in nnl/ of the release as a student would."""
    submission = copy_of(RELEASE, tmp_path_factory.mktemp("seed") / "cnn")
    for module in ("layers.py", "conv_layers.py", "cnn.py"):
        shutil.copy(SEED_CODE / module, submission / "nnl" / module)
    return grade_json(submission, submission.parent / "results.json")


def test_seed_code_is_graded_and_its_syntax_errors_are_named(seed_results):
    """Are the seed's unparsable modules reported as such, per function, without stopping the rest?"""
    by_tag = {t["tags"][0]: t["output"] for t in seed_results["tests"]}
    for name in ("conv_forward_naive", "spatial_batchnorm_forward", "ThreeLayerConvNet"):
        assert "SyntaxError" in by_tag[name] or "could not be imported" in by_tag[name], by_tag[name]


def test_seed_code_earns_exactly_its_correct_functions(seed_results):
    """Do the seed's correct ReLU layers earn full marks while its broken functions earn nothing?"""
    scores = scores_by_tag(seed_results)
    for name in ("relu_forward", "relu_backward"):
        assert scores[name][0] == scores[name][1], f"{name} is correct in the seed code but lost points"
    for name in ("affine_forward", "dropout_forward", "softmax_loss", "svm_loss",
                 "conv_forward_naive", "ThreeLayerConvNet"):
        assert scores[name][0] == 0, f"{name} is broken in the seed code but earned {scores[name][0]}"
    # The seed's batchnorm_forward updates the running averages and normalizes in test mode
    # correctly, but never sets `out` in train mode.
    earned = [t["name"] for t in seed_results["tests"] if t["tags"] == ["batchnorm_forward"] and t["score"] > 0]
    assert 0 < scores["batchnorm_forward"][0] < scores["batchnorm_forward"][1]
    assert earned and all("test_mode" in name or "running_averages" in name for name in earned), earned


def test_seed_code_feedback_names_each_bug(seed_results):
    """Does the feedback point at the seed's actual mistakes?"""
    first = {}
    for test in seed_results["tests"]:
        if test["status"] == "failed":
            first.setdefault(test["tags"][0], test["output"])
    assert "x.reshape((x.shape[0], x.shape[0]))" in first["affine_forward"]
    assert "got None" in first["batchnorm_forward"]
    assert "name 'seed' is not defined" in first["dropout_forward"]
    assert "np.exp(x - np.max(x, axis=1), keepdims=True)" in first["softmax_loss"]
    assert "not implemented yet" in first["adam"]


def test_feedback_never_shows_the_hidden_tests(seed_results, reference_results, tmp_path):
    """Is every feedback text free of the hidden suite's source, paths and tracebacks?"""
    for report in (seed_results, reference_results):
        for test in report["tests"]:
            for secret in ("autograder/suites", "def test_", "Traceback", "assert ", "ref."):
                assert secret not in test["output"], (test["name"], test["output"][:300])
