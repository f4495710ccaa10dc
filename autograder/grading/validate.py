"""``validate``: prove the hidden suite right before it decides grades.

Three gates, each through the real grading command, run as the batch commands run it:

1. the reference (``solutions_private/<assignment>``) scores full marks;
2. the blank release scores 0 without crashing the grader;
3. every mutant of the catalogue is caught (its function loses points), and
   every hidden test fails on at least one mutant (a test no mistake can fail
   proves nothing).

It also reports collateral damage: points a mutant costs *other* functions,
which fair verdicts keep to known dependencies (a backward pass that needs
its own forward's cache).
"""
from __future__ import annotations

from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

from autograder.classwide.engine import Gradings
from autograder.course import release_folder, solutions_folder
from autograder.grading.grade import GradingError, suite_folder
from autograder.grading.mutations import Mutation, load_catalogue, write_mutant
from autograder.scratch import owned_temporary_folder


@dataclass
class MutantVerdict:
    """How the suite judged one mutant."""

    mutation: Mutation
    caught: bool
    lost: dict[str, float]          # function -> points lost against the reference
    failed_tests: list[str]
    error: str = ""


@dataclass
class ValidationReport:
    """Everything ``validate`` found; ``ok`` only when every gate holds."""

    reference_score: float = 0.0
    total: float = 0.0
    reference_failures: list[str] = field(default_factory=list)
    release_score: float | None = None
    mutants: list[MutantVerdict] = field(default_factory=list)
    never_failing: list[str] = field(default_factory=list)

    @property
    def detection_rate(self) -> float:
        return sum(v.caught for v in self.mutants) / len(self.mutants) if self.mutants else 0.0

    @property
    def ok(self) -> bool:
        return (not self.reference_failures and self.release_score == 0 and self.mutants
                and all(v.caught for v in self.mutants) and not self.never_failing)

    def to_dict(self) -> dict:
        return {
            "ok": bool(self.ok), "reference_score": self.reference_score, "total": self.total,
            "reference_failures": self.reference_failures, "release_score": self.release_score,
            "detection_rate": self.detection_rate, "never_failing_tests": self.never_failing,
            "mutants": [{"name": v.mutation.name, "function": v.mutation.function, "caught": v.caught,
                         "lost": v.lost, "error": v.error} for v in self.mutants],
        }


GRADING_TIMEOUT = 1800.0  # seconds one grading may take (a mutant that loops is stopped by the sandbox first)


def _graded(results: dict, what: str) -> dict:
    """The results of a grading that completed; GradingError naming ``what`` when it did not."""
    extra = results.get("extra_data", {})
    if extra.get("status") != "graded":
        raise GradingError(f"grading {what} failed: {extra.get('error', 'unknown error')[-1500:]}")
    return results


def _by_function(results: dict) -> dict[str, float]:
    scores: dict[str, float] = {}
    for test in results["tests"]:
        scores[test["tags"][0]] = scores.get(test["tags"][0], 0.0) + test["score"]
    return scores


def _verdict(mutation: Mutation, results: dict, full: dict[str, float]) -> MutantVerdict:
    """How the suite judged a mutant, from its grading's results and the reference's points per function."""
    try:
        results = _graded(results, f"mutant {mutation.name}")
    except GradingError as err:
        return MutantVerdict(mutation, False, {}, [], str(err))
    scores = _by_function(results)
    lost = {fn: round(full[fn] - scores.get(fn, 0.0), 6) for fn in full if full[fn] - scores.get(fn, 0.0) > 1e-9}
    failed = [t["name"] for t in results["tests"] if t["status"] != "passed"]
    return MutantVerdict(mutation, mutation.function in lost, lost, failed)


def validate(assignment: str, jobs: int = 2, say=print) -> ValidationReport:
    """Run the three gates; ``say`` receives one progress line per finished grading.

    Every grading runs as ``nbgrader autograde`` and ``grade-all`` run theirs (:class:`.Gradings`:
    ``jobs`` at once, each forked from one grading server, student code in its sandbox).

    Raises
    ------
    GradingError
        When the solved copy or the release is missing, or either could not be graded.
    """
    suite = suite_folder(assignment)
    catalogue = load_catalogue(suite)
    solved, release = solutions_folder(assignment), release_folder(assignment)
    for folder, what in ((solved, "solved copy"), (release, "release")):
        if not folder.is_dir():
            raise GradingError(f"no {what} at {folder}: run `python -m autograder generate {assignment}` first")
    report = ValidationReport()
    with owned_temporary_folder("validate-") as tmp, \
            Gradings(assignment, jobs=jobs, timeout=GRADING_TIMEOUT) as gradings:
        reference_grading, release_grading = gradings.submit("reference", solved), gradings.submit("release", release)
        mutants = {gradings.submit(f"mutant-{index}", write_mutant(solved, mutation, Path(tmp) / f"mutant-{index}")):
                   mutation for index, mutation in enumerate(catalogue)}
        reference = _graded(reference_grading.result(), f"the reference {solved}")
        report.reference_score = reference["score"]
        report.total = round(sum(t["max_score"] for t in reference["tests"]), 6)
        report.reference_failures = [f"{t['name']}: {t['output']}" for t in reference["tests"]
                                     if t["status"] != "passed"]
        say(f"reference: {report.reference_score:g} / {report.total:g}")
        report.release_score = _graded(release_grading.result(), f"the release {release}")["score"]
        say(f"blank release: {report.release_score:g} / {report.total:g}")
        full = _by_function(reference)
        failing_somewhere: set[str] = set()
        for done, future in enumerate(as_completed(mutants), start=1):
            verdict = _verdict(mutants[future], future.result(), full)
            report.mutants.append(verdict)
            failing_somewhere.update(verdict.failed_tests)
            m = verdict.mutation
            status = "caught" if verdict.caught else ("ERROR " + verdict.error[:200] if verdict.error
                                                      else "MISSED")
            collateral = {fn: pts for fn, pts in verdict.lost.items() if fn != m.function}
            say(f"[{done}/{len(catalogue)}] {m.name} ({m.function}): {status}"
                + (f"; also cost {collateral}" if collateral else ""))
        report.mutants.sort(key=lambda v: catalogue.index(v.mutation))
        report.never_failing = [t["name"] for t in reference["tests"] if t["name"] not in failing_somewhere]
    return report
