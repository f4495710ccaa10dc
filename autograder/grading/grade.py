"""Grade one submission with an assignment's hidden suite.

The hidden suite is an ordinary pytest folder (``autograder/suites/<assignment>``)
run in this process with `autograder.grading.pytest_plugin`; student code runs only in
the sandbox the plugin starts. The outcome is a `GradingResults` in the
Gradescope format.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
from pathlib import Path

import pytest

from autograder.grading import pytest_plugin
from autograder.grading.mutations import catalogue_files
from autograder.grading.results import GradingResults
from autograder.course import source_folder
from autograder.paths import SUITES

AUTOLOAD_OFF = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"
SUITE_INI = Path(__file__).with_name("suite.ini")  # every hidden suite runs with this pytest configuration
# Student code runs in the sandbox, never in this process, so pytest's watch over this process's
# unraisable and thread exceptions (five full garbage collections at the end: about a sixth of a
# blank release's grading) and its capture of this process's output around every test (the grade
# command keeps that output itself; the sandbox's output comes through its own pipes) only cost time.
QUIET_PYTEST = ["-p", "no:cacheprovider", "-p", "no:unraisableexception", "-p", "no:threadexception",
                "--capture=no"]


class GradingError(RuntimeError):
    """The grader could not grade (a broken suite, rubric or environment), not the student's doing.

    Attributes
    ----------
    planned : list of TestResult
        The tests that were collected before the failure (for a report at 0).
    """

    def __init__(self, message: str, planned=()):
        super().__init__(message)
        self.planned = list(planned)


def suite_folder(assignment: str) -> Path:
    """The hidden suite of ``assignment``, or a clear error listing the ones that exist."""
    folder = SUITES / assignment
    if not (folder / "rubric.toml").is_file():
        known = sorted(p.name for p in SUITES.iterdir() if (p / "rubric.toml").is_file())
        raise GradingError(f"no hidden suite for assignment {assignment!r} (known: {', '.join(known)})")
    return folder


@contextlib.contextmanager
def _no_plugin_autoload():
    """Run pytest with only the kit's plugin: no plugin that happens to be installed (hypothesis,
    pytest-benchmark, anyio...) is loaded into the grader, where it would cost seconds of start-up
    and could change how the hidden suite runs."""
    before = os.environ.get(AUTOLOAD_OFF)
    os.environ[AUTOLOAD_OFF] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ[AUTOLOAD_OFF]
        else:
            os.environ[AUTOLOAD_OFF] = before


class SuiteRun:
    """One run of an assignment's hidden suite: pytest's arguments, then its outcome as `GradingResults`.

    `grade` makes one and runs it. A grading server's prepared suite (:mod:`.prepared_suite`) makes
    one without a submission, runs pytest up to the end of its collection, and sets the submission
    (`for_submission`) in each grading forked after that.

    Parameters
    ----------
    assignment : str
        Which suite.
    submission : Path, optional
        One student's assignment folder; None for a suite prepared before any submission is known.
    use_bwrap, seed, rubric, only
        As for `grade`.

    Raises
    ------
    GradingError
        When the submission folder or the suite does not exist.
    """

    def __init__(self, assignment: str, submission: Path | None = None, *, use_bwrap: bool = True,
                 seed: int = 231, rubric: Path | None = None, only: list[str] | None = None):
        self.assignment, self.use_bwrap = assignment, use_bwrap
        self.submission = None
        if submission is not None:  # checked first, as `grade` always did
            self.for_submission(submission)
        folder = suite_folder(assignment)
        targets = [str(folder / name) for name in only] if only else [str(folder)]
        self.args = [*targets, "-c", str(SUITE_INI), "--rootdir", str(folder),
                     "--rubric", str(rubric or folder / "rubric.toml"),
                     "--grading-seed", str(seed), "--reference", str(source_folder(assignment)),
                     "--tb=no", "-q", *QUIET_PYTEST]
        if catalogue_files(folder):
            self.args += ["--catalogue", str(folder)]
        if not use_bwrap:
            self.args.append("--no-bwrap")
        self.collector = pytest_plugin.ResultCollector()
        self.log = io.StringIO()

    def for_submission(self, submission: Path) -> None:
        """Grade ``submission`` (resolved; GradingError when it is not a folder)."""
        submission = Path(submission).resolve()
        if not submission.is_dir():
            raise GradingError(f"no submission folder at {submission}")
        self.submission = submission

    def pytest_args(self) -> list[str]:
        """The arguments of pytest's run (``--submission`` the submission's folder, once it is set)."""
        return [*self.args, "--submission", str(self.submission or "")]

    def start_sandbox(self) -> pytest_plugin.EarlySandbox:
        """The submission's sandbox, starting now: it is what the first tests wait for."""
        return pytest_plugin.EarlySandbox(str(self.submission), self.use_bwrap)

    @contextlib.contextmanager
    def pytest_context(self, verbose: bool = False):
        """What pytest runs inside: its own output kept in `log`, no installed plugin loaded."""
        with contextlib.redirect_stdout(self.log) if not verbose else contextlib.nullcontext(), \
                _no_plugin_autoload():
            yield

    def results(self, code) -> GradingResults:
        """The outcome of pytest's run that exited with ``code``.

        Raises
        ------
        GradingError
            When the suite did not run or the grader failed (with the tests collected, for a report at 0).
        """
        collector = self.collector
        if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) or not collector.planned:
            raise GradingError(f"the hidden suite did not run (pytest exit {int(code)}):\n{self.log.getvalue()[-3000:]}",
                               collector.planned.values())
        if collector.grader_errors:
            raise GradingError("; ".join(collector.grader_errors[:3]), collector.planned.values())
        return collector.grading_results()


def grade(submission: Path, assignment: str, *, use_bwrap: bool = True,
          seed: int = 231, verbose: bool = False, rubric: Path | None = None,
          only: list[str] | None = None) -> GradingResults:
    """Run the hidden suite of ``assignment`` on ``submission``.

    Parameters
    ----------
    submission : Path
        One student's assignment folder (notebooks and ``nnl/``).
    assignment : str
        Which suite.
    use_bwrap : bool
        ``False`` forces the rlimits-only sandbox (tests of the fallback only).
    seed : int
        The grading seed; the same seed gives the same inputs and so the same score.
    verbose : bool
        Show pytest's own progress output.
    rubric : Path, optional
        Another rubric file than the suite's own ``rubric.toml``.
    only : list of str, optional
        Run only these test files of the suite (with a rubric that covers just their functions).

    Returns
    -------
    GradingResults

    Raises
    ------
    GradingError
        When the suite could not run or the sandbox could not start: no verdict is possible.
    """
    run = SuiteRun(assignment, submission, use_bwrap=use_bwrap, seed=seed, rubric=rubric, only=only)
    # the sandbox starts now, not once pytest has configured itself: its start (numpy's import in
    # the worker) is what the first tests wait for
    early = run.start_sandbox()
    with run.pytest_context(verbose):
        try:
            code = pytest.main(run.pytest_args(),
                               plugins=[pytest_plugin, run.collector, pytest_plugin.StartedSandbox(early)])
        except Exception as err:  # pytest itself failed: the suite is broken
            raise GradingError(f"the hidden suite crashed: {traceback.format_exc(limit=3)}") from err
        finally:
            early.close()  # also when pytest stopped before its session started (a refused rubric)
    return run.results(code)


def grade_to_file(submission: Path, assignment: str, out: Path | None, **options) -> tuple[int, GradingResults | None]:
    """`grade`, with the results written to ``out`` whatever happens: the grading command's contract.

    Returns
    -------
    tuple
        ``(status, results)``: status 0 when grading completed (whatever the score), with the results;
        2 when the grader could not run, with ``None`` (a report at 0 is written to ``out``, the error on
        stderr).
    """
    return outcome_to_file(lambda: grade(Path(submission), assignment, **options), out)


def outcome_to_file(outcome, out: Path | None) -> tuple[int, GradingResults | None]:
    """`grade_to_file` for a grading already under way: ``outcome()`` gives its results or raises GradingError."""
    try:
        results = outcome()
    except GradingError as err:
        print(f"grading failed: {err}", file=sys.stderr)
        if out is not None:
            GradingResults.without_results(err.planned, f"the grader could not run: {str(err)[:500]}").write(Path(out))
        return 2, None
    if out is not None:
        results.write(Path(out))
    return 0, results
