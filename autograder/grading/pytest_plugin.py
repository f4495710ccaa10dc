"""The pytest plugin that turns a hidden suite's run into `GradingResults`.

It runs in the grader's process, with the hidden tests; student code is only
reached through the ``student`` fixture, which goes through the sandbox.

- ``@pytest.mark.grades("name")``: the graded function or class of a test
  (exactly one per test); its points come from the rubric, split equally
  among the function's tests.
- Every collected test is reported, whatever happens to it: a failure, an
  error in set-up, a skip or a crash scores 0 and keeps its ``max_score``.
- Feedback is the failure's message only, never a traceback of the hidden
  test (which would show its source).
"""
from __future__ import annotations

import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from autograder.grading.diagnosis import Diagnoser
from autograder.grading.mutations import load_catalogue
from autograder.grading.results import GradingResults, TestResult
from autograder.grading.rubric import Rubric, RubricError
from autograder.grading.student import Student
from autograder.sandbox.sandbox import Limits, Sandbox, SandboxUnavailable

# One student's worker: generous for numpy code at the suites' sizes, short enough that a
# submission that loops costs seconds, not minutes.
GRADING_LIMITS = Limits(memory_mb=2048, cpu_seconds=300, call_timeout=10.0)
POINTS = pytest.StashKey[float]()
GRADES = pytest.StashKey[str]()
MAX_FEEDBACK = 1500


class GraderError(RuntimeError):
    """The grader itself could not run (not the student's fault)."""


class ResultCollector:
    """Collects one `TestResult` per hidden test; pass an instance to ``pytest.main(plugins=[...])``."""

    def __init__(self):
        self.results: dict[str, TestResult] = {}
        self.planned: dict[str, TestResult] = {}
        self.grader_errors: list[str] = []
        self.isolation = "not started"
        self.started = time.perf_counter()

    # -- collection: tags and points ------------------------------------------------------

    def pytest_configure(self, config):
        config.stash[COLLECTOR] = self

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        rubric: Rubric = config.stash[RUBRIC]
        by_function: dict[str, list[str]] = {}
        for item in items:
            marks = list(item.iter_markers("grades"))
            if len(marks) != 1 or len(marks[0].args) != 1:
                raise pytest.UsageError(f"{item.nodeid}: needs exactly one @pytest.mark.grades(\"name\")")
            item.stash[GRADES] = marks[0].args[0]
            by_function.setdefault(marks[0].args[0], []).append(item.nodeid)
        try:
            points = rubric.split(by_function)
        except RubricError as err:
            raise pytest.UsageError(str(err)) from err
        for item in items:
            item.stash[POINTS] = points[item.nodeid]
            name = item.stash[GRADES]
            self.planned[item.nodeid] = TestResult(f"{name}: {item.name}", points[item.nodeid], 0.0, (name,),
                                                   "Not run: grading stopped before this test.")

    # -- outcomes ---------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._record(item, report, call)
        return report

    def _record(self, item, report, call) -> None:
        if report.passed:
            score, feedback = item.stash[POINTS], "Passed."
        elif report.skipped:
            score, feedback = 0.0, "Not run."
        else:
            score, feedback = 0.0, _feedback(call.excinfo)
            if call.excinfo is not None and call.excinfo.errisinstance((GraderError, SandboxUnavailable)):
                self.grader_errors.append(f"{item.nodeid}: {call.excinfo.value}")
            elif report.when == "call":
                feedback += self._diagnosis(item)
        planned = self.planned[item.nodeid]
        self.results[item.nodeid] = TestResult(planned.name, planned.max_score, score, planned.tags, feedback)

    def _diagnosis(self, item) -> str:
        """" Your outputs match a known mistake: ..." when the catalogue recognizes the failure."""
        student = item.config.stash.get(STUDENT, None)
        diagnoser = item.config.stash.get(DIAGNOSER, None)
        if student is None or diagnoser is None or not student.journal:
            return ""
        mutation = diagnoser.diagnose(student.journal, item.stash[GRADES])
        return f" Your outputs match a known mistake: {mutation.mistake}." if mutation else ""

    def pytest_runtest_setup(self, item):
        student = item.config.stash.get(STUDENT, None)
        if student is not None:
            student.journal.clear()

    def grading_results(self) -> GradingResults:
        """Every collected test, in collection order; one never run scores 0 and says so."""
        tests = [self.results.get(nodeid, planned) for nodeid, planned in self.planned.items()]
        return GradingResults(tests, time.perf_counter() - self.started,
                              output=f"Isolation: {self.isolation}.",
                              extra_data={"isolation": self.isolation})


def _feedback(excinfo) -> str:
    """The failure's message, without the hidden test's source or traceback."""
    if excinfo is None:
        return "Failed."
    error = excinfo.value
    if isinstance(error, AssertionError):
        text = str(error).split("\nassert ")[0].strip() or "A check failed."
    else:
        text = f"The returned values could not be checked: {type(error).__name__}: {error}"
    return text[:MAX_FEEDBACK]


RUBRIC = pytest.StashKey[Rubric]()
STUDENT = pytest.StashKey[Student]()
DIAGNOSER = pytest.StashKey[Diagnoser]()
COLLECTOR = pytest.StashKey[ResultCollector]()


def pytest_addoption(parser):
    group = parser.getgroup("autograder", "hidden-suite grading")
    group.addoption("--submission", help="the student's assignment folder to grade")
    group.addoption("--rubric", help="the rubric.toml of the suite")
    group.addoption("--grading-seed", type=int, default=231, help="seed of every test's inputs")
    group.addoption("--no-bwrap", action="store_true", help="force the rlimits-only sandbox (testing only)")
    group.addoption("--reference", help="the reference assignment folder (for the diagnosis of mistakes)")
    group.addoption("--catalogue", help="the suite's mutations.py (for the diagnosis of mistakes)")


def pytest_configure(config):
    config.addinivalue_line("markers", "grades(name): the graded function or class this test scores")
    reference, catalogue = config.getoption("--reference"), config.getoption("--catalogue")
    if reference and catalogue:
        config.stash[DIAGNOSER] = Diagnoser(Path(reference), load_catalogue(Path(catalogue).parent))
    rubric_path = config.getoption("--rubric")
    if rubric_path:
        try:
            config.stash[RUBRIC] = Rubric.load(Path(rubric_path))
        except RubricError as err:
            raise pytest.UsageError(str(err)) from err


@pytest.fixture(scope="session")
def rubric(pytestconfig) -> Rubric:
    return pytestconfig.stash[RUBRIC]


@pytest.fixture(scope="session")
def sandbox(pytestconfig):
    """The sandbox over the submission under test (one worker, restarted after a crash)."""
    submission = pytestconfig.getoption("--submission")
    if not submission:
        raise GraderError("no --submission given")
    try:
        box = Sandbox(submission, limits=GRADING_LIMITS, use_bwrap=not pytestconfig.getoption("--no-bwrap"))
        box.start()
    except Exception as err:  # the grader's environment, not the student
        raise GraderError(f"the sandbox could not start: {err}") from err
    collector = pytestconfig.stash.get(COLLECTOR, None)
    if collector is not None:
        collector.isolation = box.isolation
    yield box
    box.close()


@pytest.fixture(scope="session")
def student(sandbox, rubric, pytestconfig) -> Student:
    """The submission, called by graded name through the sandbox."""
    pytestconfig.stash[STUDENT] = Student(sandbox, rubric)
    return pytestconfig.stash[STUDENT]


@pytest.fixture
def rng(request, pytestconfig) -> np.random.Generator:
    """Fresh inputs per test, the same on every grading (seeded by the test's id)."""
    seed = zlib.crc32(request.node.nodeid.split("/")[-1].encode()) ^ pytestconfig.getoption("--grading-seed")
    return np.random.default_rng(seed)
