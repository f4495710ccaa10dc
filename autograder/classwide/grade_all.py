"""Grade a whole class: ``python -m autograder grade-all SUBMISSIONS --assignment cnn --out DIR``.

Each submission is graded by its own ``python -m autograder grade`` process
(student code inside that process's sandbox), several at once on this
machine, or on a Dask distributed cluster with ``--dask-scheduler``. For each
student it writes ``DIR/results/<student>.json`` (the Gradescope results plus
``extra_data``: student, submission hash, grader version, wall time, status)
atomically, then ``DIR/class.csv`` from all results files.

A rerun skips every student whose results file has the same submission
contents and grader version and was graded; so a run that was killed
half-way picks up where it stopped, and nothing written is lost.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import tempfile
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from autograder.classwide.engine import SKIP_PARTS, EngineError, Gradings, Progress, files_of
from autograder.course import source_folder, suite_path
from autograder.paths import PACKAGE, SUITES

STUDENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")


class BatchError(ValueError):
    """The submissions folder or the output folder cannot be used; the message names it."""


@dataclass(frozen=True)
class Submission:
    """One student's assignment folder.

    Attributes
    ----------
    student : str
        The folder's name (the nbgrader student id).
    folder : Path
        The assignment folder to grade (notebooks and ``nnl/``).
    """

    student: str
    folder: Path


def find_submissions(root: Path, assignment: str) -> list[Submission]:
    """The submissions under ``root``, in either layout, sorted by student.

    Inputs
    ------
    root : Path
        nbgrader's ``submitted/`` folder (``root/<student>/<assignment>/``) or a plain folder of
        student folders (``root/<student>/``, each an assignment folder).
    assignment : str

    Raises
    ------
    BatchError
        When ``root`` is not a folder, holds no student folder, or a folder name cannot be a file name.
    """
    root = Path(root)
    if not root.is_dir():
        raise BatchError(f"{root}: not a folder of submissions")
    found = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir() or entry.is_symlink():
            continue
        if not STUDENT_NAME.match(entry.name):
            raise BatchError(f"{entry}: a student folder name must be letters, digits and ._@+- only")
        nested = entry / assignment
        found.append(Submission(entry.name, nested if nested.is_dir() else entry))
    if not found:
        raise BatchError(f"{root}: no student folders (expected {root}/<student>/{assignment}/ or {root}/<student>/)")
    return found


def tree_hash(folder: Path, paths: list[Path] | None = None) -> str:
    """sha256 over the relative paths and contents of the files under ``folder`` (caches left out)."""
    digest = hashlib.sha256()
    for path in paths if paths is not None else files_of(folder):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def grader_version(assignment: str) -> str:
    """A hash of what decides a grade of ``assignment``: the kit's code, that assignment's suite and its source.

    Other assignments' suites and sources are left out: editing one homework never regrades another.
    Files an assignment shares by a symbolic link count with their content.
    """
    kit = [p for p in files_of(PACKAGE) if p.suffix in {".py", ".toml", ".ini"}
           and p.relative_to(PACKAGE).parts[0] != SUITES.name]
    digest = hashlib.sha256(tree_hash(PACKAGE, kit).encode())
    for folder in (suite_path(assignment), source_folder(assignment)):
        if folder.is_dir():
            shared = sorted(p for p in folder.rglob("*")
                            if p.is_file() and not SKIP_PARTS & set(p.relative_to(folder).parts))
            digest.update(tree_hash(folder, shared).encode())
    return digest.hexdigest()[:16]


# -- the class ------------------------------------------------------------------------------------

def write_atomically(path: Path, write, mode: int = 0o644) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it over ``path``.

    Never half a file: a failure leaves the previous ``path`` as it was and no temporary file. The
    file gets ``mode`` (default 0644: mkstemp's 0600 would hide a report from the course's other staff).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomically(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` (its folder created) with :func:`write_atomically`, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda out: json.dump(data, out, indent=1), mode=0o600)


def already_graded(path: Path, submission_hash: str, version: str) -> bool:
    """True when ``path`` holds a completed grading of the same contents by the same grader."""
    try:
        extra = json.loads(path.read_text()).get("extra_data", {})
    except (OSError, ValueError):
        return False
    return (extra.get("status") == "graded" and extra.get("submission_sha256") == submission_hash
            and extra.get("grader_version") == version)


def scores_by_function(results: dict) -> dict[str, float]:
    scores: dict[str, float] = {}
    for test in results.get("tests", []):
        scores[test["tags"][0]] = scores.get(test["tags"][0], 0.0) + float(test["score"])
    return scores


def write_class_csv(out: Path, functions: list[str]) -> Path:
    """``out/class.csv`` from every ``out/results/*.json``: one row per student, atomically."""
    rows = []
    for path in sorted((out / "results").glob("*.json")):
        results = json.loads(path.read_text())
        extra = results.get("extra_data", {})
        scores = scores_by_function(results)
        max_score = sum(float(t["max_score"]) for t in results.get("tests", []))
        rows.append([extra.get("student", path.stem), f"{results['score']:.6g}", f"{max_score:.6g}",
                     extra.get("status", ""), extra.get("wall_seconds", ""), extra.get("isolation", ""),
                     extra.get("submission_sha256", "")[:16]]
                    + [f"{scores.get(f, 0.0):.6g}" for f in functions])
    target = out / "class.csv"
    fd, tmp = tempfile.mkstemp(prefix=".class.csv.", dir=out)
    with os.fdopen(fd, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", "status", "wall_seconds", "isolation", "submission"]
                        + functions)
        writer.writerows(rows)
    os.replace(tmp, target)
    return target


@dataclass
class BatchSummary:
    """What one ``grade-all`` run did."""

    graded: list[str]
    skipped: list[str]
    errors: list[str]
    csv: Path


def grade_all(root: Path, assignment: str, out: Path, *, jobs: int = 2, timeout: float = 600,
              dask_scheduler: str | None = None, progress: bool = True) -> BatchSummary:
    """Grade every submission under ``root``; write ``out/results/<student>.json`` and ``out/class.csv``.

    Inputs
    ------
    root : Path
        See :func:`find_submissions`.
    assignment : str
    out : Path
        Created if missing; earlier results in it are kept and reused when still valid.
    jobs : int
        Gradings at once on this machine (ignored with ``dask_scheduler``).
    timeout : float
        Seconds one grading may take before it is stopped and recorded as an error.
    dask_scheduler : str, optional
        ``tcp://host:port`` of a Dask distributed scheduler: gradings run on its workers.
    progress : bool
        Show progress on stderr: a bar (students, rate, time left) on a terminal, a line per student
        otherwise; False shows nothing.

    Returns
    -------
    BatchSummary
    """
    from autograder.grading.grade import suite_folder
    from autograder.grading.rubric import Rubric

    submissions = find_submissions(root, assignment)
    functions = list(Rubric.load(suite_folder(assignment) / "rubric.toml").functions)
    version = grader_version(assignment)
    results_dir = Path(out) / "results"
    results_dir.mkdir(parents=True, exist_ok=True)

    todo, skipped = [], []
    for sub in submissions:
        digest = tree_hash(sub.folder)
        if already_graded(results_dir / f"{sub.student}.json", digest, version):
            skipped.append(sub.student)
        else:
            todo.append((sub, digest))

    graded, errors = [], []

    def record(sub: Submission, digest: str, results: dict) -> None:
        results["extra_data"].update(student=sub.student, submission_sha256=digest, grader_version=version)
        write_json_atomically(results_dir / f"{sub.student}.json", results)
        (graded if results["extra_data"]["status"] == "graded" else errors).append(sub.student)

    bar = Progress(len(todo), f"grading {assignment}", show=progress)
    try:
        with Gradings(assignment, jobs=jobs, timeout=timeout, dask_scheduler=dask_scheduler) as gradings:
            futures = {gradings.submit(sub.student, sub.folder, key=f"grade-{sub.student}-{digest[:12]}"):
                       (sub, digest) for sub, digest in todo}
            for future in as_completed(futures):
                sub, digest = futures[future]
                results = future.result()
                record(sub, digest, results)
                bar.update(sub.student, results)
    except EngineError as err:
        raise BatchError(str(err)) from None
    finally:
        bar.close()
        csv_path = write_class_csv(Path(out), functions)
    return BatchSummary(sorted(graded), skipped, sorted(errors), csv_path)
