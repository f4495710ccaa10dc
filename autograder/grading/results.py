"""Grading results as plain data, written in the Gradescope results format.

``{"score", "tests": [{"name", "score", "max_score", "status", "output",
"tags", "visibility"}], "execution_time"}`` plus Gradescope's optional
top-level ``output`` and ``extra_data``. Every planned test appears with its
``max_score`` whatever happened to it: a skipped, errored or timed-out test
scores 0 and never leaves the total (as otter-grader's
``GradingResults.without_results`` does, and unlike gradescope-utils'
runner, which drops skipped tests).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_OUTPUT_CHARS = 4000
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


class ResultsError(ValueError):
    """A result that cannot be reported honestly (bad score, missing tags, duplicate names)."""


def _cap(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 20] + "\n... (output cut)"


@dataclass(frozen=True)
class TestResult:
    """The verdict of one hidden test.

    Attributes
    ----------
    name : str
        Unique, human-readable test name.
    max_score : float
        Points the test is worth (from the rubric), > 0.
    score : float
        Points earned, ``0 <= score <= max_score``.
    tags : tuple of str
        The assignment functions or classes the test grades (never empty).
    output : str
        Feedback for the student: what was checked, the measured error, a
        hint. Capped at ``MAX_OUTPUT_CHARS``.
    visibility : str
        One of Gradescope's visibilities.
    """

    __test__ = False  # a result, not a pytest test class

    name: str
    max_score: float
    score: float
    tags: tuple[str, ...]
    output: str = ""
    visibility: str = "visible"

    def __post_init__(self):
        if not self.tags:
            raise ResultsError(f"test {self.name!r} names no graded function in its tags")
        if not (math.isfinite(self.max_score) and self.max_score > 0):
            raise ResultsError(f"test {self.name!r} has max_score {self.max_score!r}; it must be > 0")
        if not (math.isfinite(self.score) and 0 <= self.score <= self.max_score):
            raise ResultsError(f"test {self.name!r} scored {self.score!r} outside [0, {self.max_score}]")
        if self.visibility not in VISIBILITIES:
            raise ResultsError(f"test {self.name!r} has visibility {self.visibility!r}; use one of {VISIBILITIES}")
        object.__setattr__(self, "output", _cap(self.output))
        object.__setattr__(self, "tags", tuple(self.tags))

    @property
    def status(self) -> str:
        """``"passed"`` with full marks, else ``"failed"``."""
        return "passed" if self.score == self.max_score else "failed"

    def to_dict(self) -> dict:
        return {"name": self.name, "score": self.score, "max_score": self.max_score, "status": self.status,
                "output": self.output, "tags": list(self.tags), "visibility": self.visibility}


@dataclass
class GradingResults:
    """All verdicts of one grading of one submission.

    Attributes
    ----------
    tests : list of TestResult
    execution_time : float
        Wall-clock seconds of the grading.
    output : str
        A note for the whole submission (isolation used, modules that failed to import).
    extra_data : dict
        Plain JSON data for instructors (grader version, isolation mode).
    """

    tests: list[TestResult]
    execution_time: float = 0.0
    output: str = ""
    extra_data: dict = field(default_factory=dict)

    def __post_init__(self):
        names = [t.name for t in self.tests]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ResultsError(f"test names must be unique; repeated: {duplicates}")

    @property
    def score(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tests)

    @classmethod
    def without_results(cls, planned: list[TestResult], reason: str, execution_time: float = 0.0,
                        extra_data: dict | None = None) -> "GradingResults":
        """A valid report when grading could not run: every planned test at 0, with the reason.

        Parameters
        ----------
        planned : list of TestResult
            The tests that would have run (their names, points and tags).
        reason : str
            Why nothing was graded; shown in each test's output.
        """
        zeroed = [TestResult(t.name, t.max_score, 0.0, t.tags, f"Not graded: {reason}", t.visibility)
                  for t in planned]
        return cls(zeroed, execution_time, _cap(f"Grading did not complete: {reason}"), dict(extra_data or {}))

    def to_dict(self) -> dict:
        # Points split over several tests are inexact in binary (10 / 9 * 9 = 9.999...): round for people.
        report = {"score": round(self.score, 6), "execution_time": round(self.execution_time, 3),
                  "tests": [t.to_dict() for t in self.tests]}
        if self.output:
            report["output"] = self.output
        if self.extra_data:
            report["extra_data"] = self.extra_data
        return report

    def write(self, path: Path) -> None:
        """Write the JSON report atomically: a reader sees the old file or the whole new one."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(self.to_dict(), handle, indent=1, sort_keys=True)
                handle.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
