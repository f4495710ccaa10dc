"""The grading plugin on a small suite, run as the grade command runs a hidden suite.

Every outcome pytest can give (a pass, a failure, an error in set-up, a skip, an expected
failure, an exception group) gets its verdict and feedback, and a failure's report carries the
exception's summary (its type and message): no traceback of the hidden test is formatted for it.
"""
from __future__ import annotations

import json
import textwrap

import pytest

from autograder.grading import pytest_plugin
from autograder.grading.grade import AUTOLOAD_OFF, QUIET_PYTEST, SUITE_INI

SUITE = '''
import pytest


@pytest.fixture
def broken():
    raise RuntimeError("the set-up broke")


@pytest.mark.grades("f")
def test_passes():
    pass


@pytest.mark.grades("f")
def test_fails():
    secret_local = "the hidden test's source"
    raise ValueError("the shape is (2, 3)")


@pytest.mark.grades("f")
def test_assertion():
    assert 1 + 1 == 3, "one and one make two"


@pytest.mark.grades("f")
def test_errors_in_setup(broken):
    pass


@pytest.mark.grades("f")
def test_skipped():
    pytest.skip("not this time")


@pytest.mark.grades("f")
@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    raise ValueError("as expected")


@pytest.mark.grades("f")
def test_group():
    raise ExceptionGroup("two problems", [ValueError("a"), KeyError("b")])
'''


def run_suite(folder, *args: str, plugins) -> pytest.ExitCode:
    """pytest on the suite in ``folder`` as the grade command runs a hidden suite: only the kit's plugin, and ``plugins``."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(AUTOLOAD_OFF, "1")
        return pytest.main([str(folder), "-c", str(SUITE_INI), "--rootdir", str(folder),
                            "--rubric", str(folder / "rubric.toml"), *args, "--tb=no", "-q", *QUIET_PYTEST],
                           plugins=[pytest_plugin, *plugins])


class Reports:
    """Every report of the run, by test name and phase."""

    def __init__(self):
        self.by_test = {}

    def pytest_runtest_logreport(self, report):
        self.by_test.setdefault(report.nodeid.split("::")[-1], {})[report.when] = report


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("suite")
    (folder / "test_small.py").write_text(SUITE)
    (folder / "rubric.toml").write_text(textwrap.dedent('''
        total = 70
        [functions]
        f = { module = "m", points = 70 }
    '''))
    collector, reports = pytest_plugin.ResultCollector(), Reports()
    code = run_suite(folder, plugins=[collector, reports])
    assert code == pytest.ExitCode.TESTS_FAILED
    results = {test.name.split(": ", 1)[1]: test for test in collector.grading_results().tests}
    return results, reports.by_test


def test_every_outcome_gets_its_verdict_and_feedback(run):
    results, _ = run
    assert {name: test.score for name, test in results.items()} == {
        "test_passes": 10, "test_fails": 0, "test_assertion": 0, "test_errors_in_setup": 0,
        "test_skipped": 0, "test_expected_failure": 0, "test_group": 0}
    assert all(test.max_score == 10 for test in results.values())
    assert results["test_fails"].output.startswith(
        "The returned values could not be checked: ValueError: the shape is (2, 3)")
    assert results["test_assertion"].output.startswith("one and one make two")
    assert "RuntimeError: the set-up broke" in results["test_errors_in_setup"].output
    assert results["test_skipped"].output == "Not run."
    assert "ExceptionGroup" in results["test_group"].output


def test_a_failures_report_is_the_exceptions_summary_not_a_traceback(run):
    _, reports = run
    for name, when in [("test_fails", "call"), ("test_assertion", "call"), ("test_errors_in_setup", "setup")]:
        report = reports[name][when]
        assert report.failed
        assert isinstance(report.longrepr, str), (name, report.longrepr)
        for traceback_part in ("secret_local", "def test_", "test_small.py", "Traceback"):
            assert traceback_part not in report.longrepr, (name, report.longrepr)
    assert reports["test_fails"]["call"].longrepr == "ValueError: the shape is (2, 3)"
    assert reports["test_assertion"]["call"].longrepr.startswith("AssertionError: one and one make two")
    # pytest's own reports where the plugin leaves them to pytest: a skip, an expected failure
    assert reports["test_skipped"]["call"].skipped
    assert reports["test_expected_failure"]["call"].skipped
    assert reports["test_expected_failure"]["call"].wasxfail == "known"


# A suite that tries to learn the submission while it is collected (a conftest hook, a test
# parametrized from it) and while a test runs: it must read the same nothing in every run.
PEEKING_CONFTEST = '''
import json, os


def _record(where, value):
    with open(os.environ["PEEK_LOG"], "a") as log:
        log.write(json.dumps([where, value]) + "\\n")


def pytest_configure(config):
    _record("conftest pytest_configure", config.getoption("--submission"))


def pytest_generate_tests(metafunc):
    if "student_file" in metafunc.fixturenames:
        folder = metafunc.config.getoption("--submission")
        _record("pytest_generate_tests", folder)
        metafunc.parametrize("student_file", sorted(os.listdir(folder)) if folder else ["none"])


def pytest_collection_modifyitems(config, items):
    _record("pytest_collection_modifyitems", config.getoption("--submission"))
'''

PEEKING_SUITE = '''
import pytest


@pytest.mark.grades("f")
def test_per_student_file(student_file, pytestconfig):
    from conftest import _record
    _record("a test", pytestconfig.getoption("--submission"))
'''


def test_suite_code_never_reads_the_submission_folder(tmp_path, monkeypatch):
    """A suite sees --submission as None when it configures, collects and runs; only the plugin keeps it."""
    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "conftest.py").write_text(PEEKING_CONFTEST)
    (folder / "test_peek.py").write_text(PEEKING_SUITE)
    (folder / "rubric.toml").write_text('total = 1\n[functions]\nf = { module = "m", points = 1 }\n')
    submission = tmp_path / "ann"
    (submission / "nnl").mkdir(parents=True)
    log = tmp_path / "peek.log"
    monkeypatch.setenv("PEEK_LOG", str(log))
    monkeypatch.syspath_prepend(str(folder))

    class Kept:
        def pytest_sessionfinish(self, session):
            self.submission = session.config.stash[pytest_plugin.SUBMISSION]

    kept, collector = Kept(), pytest_plugin.ResultCollector()
    code = run_suite(folder, "--submission", str(submission), plugins=[collector, kept])
    assert code == pytest.ExitCode.OK
    seen = [tuple(line) for line in map(json.loads, log.read_text().splitlines())]
    assert seen == [("conftest pytest_configure", None), ("pytest_generate_tests", None),
                    ("pytest_collection_modifyitems", None), ("a test", None)]
    assert [test.name for test in collector.grading_results().tests] == ["f: test_per_student_file[none]"]
    assert kept.submission == str(submission)  # the plugin's, for the sandbox
