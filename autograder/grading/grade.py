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
    submission = Path(submission).resolve()
    if not submission.is_dir():
        raise GradingError(f"no submission folder at {submission}")
    folder = suite_folder(assignment)
    targets = [str(folder / name) for name in only] if only else [str(folder)]
    args = [*targets, "-c", str(SUITE_INI), "--rootdir", str(folder),
            "--submission", str(submission), "--rubric", str(rubric or folder / "rubric.toml"),
            "--grading-seed", str(seed), "--reference", str(source_folder(assignment)),
            "--tb=no", "-q", *QUIET_PYTEST]
    if catalogue_files(folder):
        args += ["--catalogue", str(folder)]
    if not use_bwrap:
        args.append("--no-bwrap")
    collector = pytest_plugin.ResultCollector()
    # the sandbox starts now, not once pytest has configured itself: its start (numpy's import in
    # the worker) is what the first tests wait for
    early = pytest_plugin.EarlySandbox(str(submission), use_bwrap)
    log = io.StringIO()
    with contextlib.redirect_stdout(log) if not verbose else contextlib.nullcontext(), _no_plugin_autoload():
        try:
            code = pytest.main(args, plugins=[pytest_plugin, collector, pytest_plugin.StartedSandbox(early)])
        except Exception as err:  # pytest itself failed: the suite is broken
            raise GradingError(f"the hidden suite crashed: {traceback.format_exc(limit=3)}") from err
        finally:
            early.close()  # also when pytest stopped before its session started (a refused rubric)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) or not collector.planned:
        raise GradingError(f"the hidden suite did not run (pytest exit {int(code)}):\n{log.getvalue()[-3000:]}",
                           collector.planned.values())
    if collector.grader_errors:
        raise GradingError("; ".join(collector.grader_errors[:3]), collector.planned.values())
    return collector.grading_results()


def grade_to_file(submission: Path, assignment: str, out: Path | None, **options) -> tuple[int, GradingResults | None]:
    """`grade`, with the results written to ``out`` whatever happens: the grading command's contract.

    Returns
    -------
    tuple
        ``(status, results)``: status 0 when grading completed (whatever the score), with the results;
        2 when the grader could not run, with ``None`` (a report at 0 is written to ``out``, the error on
        stderr).
    """
    try:
        results = grade(Path(submission), assignment, **options)
    except GradingError as err:
        print(f"grading failed: {err}", file=sys.stderr)
        if out is not None:
            GradingResults.without_results(err.planned, f"the grader could not run: {str(err)[:500]}").write(Path(out))
        return 2, None
    if out is not None:
        results.write(Path(out))
    return 0, results
