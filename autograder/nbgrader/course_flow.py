"""The TA's standard nbgrader flow, driven from Python (the demo and the tests use it).

Every step is the ordinary nbgrader command, run in a subprocess: the
instructor's from the course folder, a student's from that student's home
folder with ``--student=NAME`` (run as one operating-system user, nbgrader
would otherwise name every submission after that user, ``root`` included).
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from autograder.course import course_id
from autograder.nbgrader.commands import run_nbgrader


class NbgraderFailed(RuntimeError):
    """An nbgrader command exited non-zero; the message holds the command and the end of its log."""


@dataclass
class CourseFlow:
    """One course folder (with ``nbgrader_config.py``), its exchange and the students' home folders.

    Attributes
    ----------
    root : Path
        The course folder.
    exchange : Path
        The exchange root (passed to nbgrader as ``COURSE_EXCHANGE_ROOT``).
    homes : Path
        ``homes/<student>/`` is where each student fetches and submits from.
    assignment : str
        The assignment the student steps and the folders below are about (`of` gives another's).
    """

    root: Path
    exchange: Path
    homes: Path
    assignment: str

    def __post_init__(self):
        self.exchange.mkdir(parents=True, exist_ok=True)
        self.homes.mkdir(parents=True, exist_ok=True)

    def of(self, assignment: str) -> "CourseFlow":
        """The same course, exchange and students, for ``assignment``."""
        return dataclasses.replace(self, assignment=assignment)

    @functools.cached_property
    def course_id(self) -> str:
        """The course id of the course's settings (students name it with ``--course``)."""
        return course_id(self.root)

    @property
    def env(self) -> dict:
        return {"COURSE_EXCHANGE_ROOT": str(self.exchange)}

    def nbgrader(self, *args: str, cwd: Path | None = None, check: bool = True,
                 timeout: float = 1800, env: dict | None = None) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` from the course folder (or ``cwd``), ``env`` added to the environment.

        Raises
        ------
        NbgraderFailed
            When ``check`` and the command exits non-zero.
        """
        result = run_nbgrader(list(args), cwd=cwd or self.root, timeout=timeout, env={**self.env, **(env or {})})
        if check and result.returncode != 0:
            raise NbgraderFailed(f"nbgrader {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
        return result

    # -- students ----------------------------------------------------------------------------
    def student_args(self) -> list[str]:
        return [f"--course={self.course_id}", f"--Exchange.root={self.exchange}"]

    def fetch(self, student: str) -> Path:
        """``nbgrader fetch_assignment`` into the student's home; returns their assignment folder."""
        home = self.homes / student
        home.mkdir(exist_ok=True)
        self.nbgrader("fetch_assignment", self.assignment, *self.student_args(), cwd=home)
        return home / self.assignment

    def submit(self, student: str) -> None:
        """``nbgrader submit --student=NAME`` from the student's home."""
        self.nbgrader("submit", self.assignment, *self.student_args(), f"--student={student}",
                      cwd=self.homes / student)

    def hand_in(self, student: str, work: Path) -> None:
        """Fetch, replace the fetched files with ``work`` (a finished assignment folder), submit."""
        folder = self.fetch(student)
        shutil.rmtree(folder)
        shutil.copytree(work, folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.submit(student)

    # -- the instructor ----------------------------------------------------------------------
    def submitted(self, student: str) -> Path:
        return self.root / "submitted" / student / self.assignment

    def autograded(self, student: str) -> Path:
        return self.root / "autograded" / student / self.assignment

    def feedback(self, student: str) -> Path:
        return self.root / "feedback" / student / self.assignment

    def export(self) -> dict[str, dict]:
        """``nbgrader export`` to ``grades.csv``, read back as ``{student: row}``."""
        path = self.root / "grades.csv"
        self.nbgrader("export", "--to", str(path))
        with open(path) as rows:
            return {row["student_id"]: row for row in csv.DictReader(rows) if row["assignment"] == self.assignment}
