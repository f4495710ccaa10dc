"""The pytest plugin that turns a hidden suite's run into `GradingResults`.

It runs in the grader's process, with the hidden tests; student code is only
reached through the ``student`` fixture, which goes through the sandbox. The
submission's folder is the sandbox's alone: the plugin takes ``--submission``
out of pytest's options when it configures (suite code reads None), so what
a suite collects is the same for every submission, as a grading server's
prepared suite, collected once per batch before any submission, requires.

- ``@pytest.mark.grades("name")``: the graded function or class of a test
  (exactly one per test); its points come from the rubric, split equally
  among the function's tests.
- ``@pytest.mark.isolates("dep", ...)``: the graded functions the tested one
  calls. The test runs first on the student's own chain, exactly as
  submitted; only when that fails does it run again with the reference's
  ``dep`` in place of the student's, so a wrapper earns its points whatever
  helpers it calls when it is right, and on its own logic when a dependency
  is wrong (the dependency's bug costs points in its own tests only).
- Every collected test is reported, whatever happens to it: a failure, an
  error in set-up, a skip or a crash scores 0 and keeps its ``max_score``.
- Feedback is the failure's message only, never a traceback of the hidden
  test (which would show its source).
"""
from __future__ import annotations

import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from autograder.grading.diagnosis import Diagnoser
from autograder.grading.feedback import KNOWN_MISTAKE, normalize
from autograder.grading.mutations import load_catalogue
from autograder.grading.reference import load_reference
from autograder.grading.results import GradingResults, TestResult
from autograder.grading.rubric import Rubric, RubricError
from autograder.grading.student import Student, raised_in_own_stub
from autograder.sandbox.sandbox import Limits, Sandbox, SandboxUnavailable

# One student's worker: generous for numpy code at the suites' sizes, short enough that a
# submission that loops costs seconds, not minutes.
GRADING_LIMITS = Limits(memory_mb=2048, cpu_seconds=300, call_timeout=10.0)
POINTS = pytest.StashKey[float]()
GRADES = pytest.StashKey[str]()
SEED = pytest.StashKey[int]()
PASS_NOTE = pytest.StashKey[str]()
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
            if any(item.iter_markers("isolates")) and not {"student", "ref"} <= set(item.fixturenames):
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.isolates needs the student and ref fixtures")
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
            score, feedback = item.stash[POINTS], item.stash.get(PASS_NOTE, "Passed.")
        elif report.skipped:
            score, feedback = 0.0, "Not run."
        else:
            score, feedback = 0.0, _feedback(call.excinfo)
            if call.excinfo is not None and call.excinfo.errisinstance((GraderError, SandboxUnavailable)):
                self.grader_errors.append(f"{item.nodeid}: {call.excinfo.value}")
            elif report.when == "call":
                feedback += self._diagnosis(item, call.excinfo.value if call.excinfo is not None else None)
        planned = self.planned[item.nodeid]
        self.results[item.nodeid] = TestResult(planned.name, planned.max_score, score, planned.tags, feedback)

    def _diagnosis(self, item, failure: BaseException | None) -> str:
        """" Your outputs match a known mistake: ..." when the catalogue recognizes the failure.

        Not looked for when the test failed on the graded function's own unimplemented stub: the
        feedback already says so, and the function gave no outputs to match (about 5% of a blank
        release's grading went to replaying its tests' calls against every catalogued mistake).
        """
        student = item.config.stash.get(STUDENT, None)
        diagnoser = item.config.stash.get(DIAGNOSER, None)
        if student is None or diagnoser is None or not student.journal:
            return ""
        graded = item.stash[GRADES]
        if failure is not None and raised_in_own_stub(failure, graded, student.modules.get(graded, "")):
            return ""
        mutation = diagnoser.diagnose(student.journal, graded)
        return f"\n{KNOWN_MISTAKE}{mutation.mistake}." if mutation else ""

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
    return _feedback_of(excinfo.value)


def _feedback_of(error: BaseException) -> str:
    if isinstance(error, AssertionError):
        text = normalize(str(error).split("\nassert ")[0]) or "A check failed."
    else:
        text = f"The returned values could not be checked: {type(error).__name__}: {error}"
    return text[:MAX_FEEDBACK]


RUBRIC = pytest.StashKey[Rubric]()
STUDENT = pytest.StashKey[Student]()
DIAGNOSER = pytest.StashKey[Diagnoser]()
COLLECTOR = pytest.StashKey[ResultCollector]()
# The submission's folder ("" when none is given), taken out of pytest's options at configuration:
# a suite reaches the submission only through the sandbox, so that nothing it collects can depend on
# which submission is graded (a grading server's prepared suite collects before it knows).
SUBMISSION = pytest.StashKey[str]()


def pytest_addoption(parser):
    group = parser.getgroup("autograder", "hidden-suite grading")
    group.addoption("--submission", help="the student's assignment folder to grade (reached through the sandbox "
                                          "fixture only: suite code reads None for this option)")
    group.addoption("--rubric", help="the rubric.toml of the suite")
    group.addoption("--grading-seed", type=int, default=231, help="seed of every test's inputs")
    group.addoption("--no-bwrap", action="store_true", help="force the rlimits-only sandbox (testing only)")
    group.addoption("--reference", help="the reference assignment folder (for the diagnosis of mistakes)")
    group.addoption("--catalogue", help="the suite folder whose mutations*.py catalogue the mistakes (diagnosis)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.stash[SUBMISSION] = config.option.submission or ""
    config.option.submission = None  # what suite code reads of --submission, whatever was given
    config.addinivalue_line("markers", "grades(name): the graded function or class this test scores")
    config.addinivalue_line("markers", "isolates(*names): graded functions the tested one calls; on a failure "
                                       "with the student's own, the test runs again with the reference's")
    reference, catalogue = config.getoption("--reference"), config.getoption("--catalogue")
    if reference and catalogue:
        config.stash[DIAGNOSER] = Diagnoser(Path(reference), load_catalogue(Path(catalogue)))
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
def ref(pytestconfig, rubric):
    """The reference solution in the grader's process: every public name of its package, ``ref.<name>``."""
    folder = pytestconfig.getoption("--reference")
    if not folder:
        raise GraderError("no --reference given: the suite needs the reference solution")
    try:
        return load_reference(Path(folder), rubric)
    except ImportError as err:
        raise GraderError(str(err)) from err


def _own_chain_then_isolated(item, dependencies: tuple[str, ...]) -> None:
    """Run the test on the student's own chain; if that fails, again with the reference ``dependencies``.

    The second run gets the same inputs (a fresh ``rng`` with the test's seed). A failure of the
    second run is the test's failure; a pass of either is a pass (noted in the feedback).
    """
    def run():
        item.obj(**{name: item.funcargs[name] for name in item._fixtureinfo.argnames})

    try:
        run()
        return
    except (GraderError, SandboxUnavailable):
        raise
    except Exception as own_chain:  # the student's chain as submitted is wrong somewhere
        graded = item.stash[GRADES]
        if raised_in_own_stub(own_chain, graded, item.funcargs["student"].modules.get(graded, "")):
            raise  # its own stub: nothing it calls is to blame
        first = _feedback_of(own_chain)
    student, reference = item.funcargs["student"], item.funcargs["ref"]
    missing = [name for name in dependencies if not callable(getattr(reference, name, None))]
    if missing:
        raise GraderError(f"{item.nodeid}: @pytest.mark.isolates names {missing}, which the reference does not define")
    if "rng" in item.funcargs:
        item.funcargs["rng"] = np.random.default_rng(item.stash[SEED])
    student.journal.clear()
    with student.isolated({name: getattr(reference, name) for name in dependencies}):
        run()
    names = ", ".join(dependencies) if len(dependencies) <= 3 else "the graded functions it calls"
    own = " ".join(first.split())
    item.stash[PASS_NOTE] = (f"Passed with a correct {names} in place of yours; with your own code as "
                             f"submitted: {own[:300]} (that costs points in those functions' own tests).")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item, call):
    """A failure's report without the traceback pytest would format for it.

    The feedback comes from the exception itself (`_feedback`) and grading runs with ``--tb=no``,
    so the traceback pytest formats for every failure (the hidden test's source lines, each frame
    read and laid out: about a sixth of a blank release's grading) is never shown to anyone. The
    report carries the exception's summary (its type and message). Passes, skips, exception groups
    and anything unusual get pytest's own report (None here: the next implementation makes it).
    """
    excinfo = call.excinfo
    if not isinstance(excinfo, pytest.ExceptionInfo) or isinstance(excinfo.value,
                                                                   (pytest.skip.Exception, BaseExceptionGroup)):
        return None
    return pytest.TestReport(item.nodeid, item.location, {keyword: 1 for keyword in item.keywords}, "failed",
                             excinfo.exconly(), call.when, [], call.duration, call.start, call.stop,
                             user_properties=item.user_properties)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    marks = list(pyfuncitem.iter_markers("isolates"))
    if not marks:
        return None
    _own_chain_then_isolated(pyfuncitem, tuple(name for mark in marks for name in mark.args))
    return True


class EarlySandbox:
    """The submission's sandbox, started while pytest collects the suite (it takes as long).

    The worker starts in a thread of its own that lives until the sandbox is closed: bubblewrap's
    ``--die-with-parent`` ties the worker to the thread that started it. Calls come from the tests'
    thread; a restart after a crash happens there.
    """

    def __init__(self, submission: str, use_bwrap: bool):
        self.submission, self.use_bwrap = submission, use_bwrap
        self.box: Sandbox | None = None
        self.error: BaseException | None = None
        self._ready, self._closed = threading.Event(), threading.Event()
        threading.Thread(target=self._own, name="sandbox-owner", daemon=True).start()

    def _own(self) -> None:
        try:
            self.box = Sandbox(self.submission, limits=GRADING_LIMITS, use_bwrap=self.use_bwrap)
            self.box.start()
        except BaseException as err:  # reported to the first test that needs the sandbox
            self.error = err
        finally:
            self._ready.set()
        self._closed.wait()

    def get(self) -> Sandbox:
        """The started sandbox; GraderError when it could not start (the grader's environment, not the student)."""
        self._ready.wait()
        if self.error is not None:
            raise GraderError(f"the sandbox could not start: {self.error}") from self.error
        return self.box

    def close(self) -> None:
        """Stop the sandbox and its owner thread (once; later calls do nothing)."""
        if self._closed.is_set():
            return
        self._ready.wait()
        if self.box is not None:
            self.box.close()
        self._closed.set()


EARLY = pytest.StashKey[EarlySandbox]()


class StartedSandbox:
    """A plugin object handing the session a sandbox started before pytest was (by `grade`, to start it sooner).

    Without it, the sandbox starts when the session does.
    """

    def __init__(self, early: EarlySandbox):
        self.early = early

    def pytest_configure(self, config):
        config.stash[EARLY] = self.early


def pytest_sessionstart(session):
    if EARLY in session.config.stash:  # started by the caller
        return
    submission = session.config.stash[SUBMISSION]
    if submission and Path(submission).is_dir():
        session.config.stash[EARLY] = EarlySandbox(submission, not session.config.getoption("--no-bwrap"))


def pytest_sessionfinish(session):
    early = session.config.stash.get(EARLY, None)
    if early is not None:
        early.close()


@pytest.fixture(scope="session")
def sandbox(pytestconfig):
    """The sandbox over the submission under test (one worker, restarted after a crash)."""
    early = pytestconfig.stash.get(EARLY, None)
    if early is None:
        raise GraderError(f"no submission folder given (--submission {pytestconfig.stash[SUBMISSION]!r})")
    box = early.get()
    collector = pytestconfig.stash.get(COLLECTOR, None)
    if collector is not None:
        collector.isolation = box.isolation
    yield box
    early.close()


@pytest.fixture(scope="session")
def student(sandbox, rubric, pytestconfig) -> Student:
    """The submission, called by graded name through the sandbox."""
    pytestconfig.stash[STUDENT] = Student(sandbox, rubric)
    return pytestconfig.stash[STUDENT]


@pytest.fixture
def rng(request, pytestconfig) -> np.random.Generator:
    """Fresh inputs per test, the same on every grading (seeded by the test's id)."""
    seed = zlib.crc32(request.node.nodeid.split("/")[-1].encode()) ^ pytestconfig.getoption("--grading-seed")
    request.node.stash[SEED] = seed
    return np.random.default_rng(seed)
