"""A throwaway course for the nbgrader tests: generated assignment, exchange, student homes.

Everything runs the real nbgrader commands in subprocesses, from the course
folder for the instructor and from a student's home folder for the student.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.cli import copy_course
from autograder.nbgrader_commands import run_nbgrader

ASSIGNMENT = "cnn"
COURSE_ID = "cnn-course"
REPO = Path(__file__).resolve().parents[1]
SOLVED = REPO / "solutions_private" / ASSIGNMENT


class NbgraderFailed(AssertionError):
    pass


@dataclass
class Course:
    """One course folder with its own exchange; ``root`` holds ``nbgrader_config.py``."""

    root: Path
    exchange: Path
    homes: Path

    @classmethod
    def create(cls, tmp: Path) -> "Course":
        """Copy the kit's course files into ``tmp/course`` and generate the assignment."""
        (tmp / "course").mkdir()
        course = cls(copy_course(tmp / "course"), tmp / "exchange", tmp / "homes")
        course.exchange.mkdir()
        course.homes.mkdir()
        course.nbgrader("generate_assignment", ASSIGNMENT, "--force")
        return course

    @property
    def env(self) -> dict:
        return {"CNN_EXCHANGE_ROOT": str(self.exchange)}

    def nbgrader(self, *args: str, cwd: Path | None = None, check: bool = True,
                 timeout: float = 900) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` (from the course folder unless ``cwd``); fail loudly when ``check``."""
        result = run_nbgrader(list(args), cwd=cwd or self.root, timeout=timeout, env=self.env)
        if check and result.returncode != 0:
            raise NbgraderFailed(f"nbgrader {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
        return result

    # -- the student side --------------------------------------------------------------------
    def student_args(self) -> list[str]:
        return [f"--course={COURSE_ID}", f"--Exchange.root={self.exchange}"]

    def fetch(self, student: str) -> Path:
        """``nbgrader fetch_assignment`` into the student's home; returns their assignment folder."""
        home = self.homes / student
        home.mkdir(exist_ok=True)
        self.nbgrader("fetch_assignment", ASSIGNMENT, *self.student_args(), cwd=home)
        return home / ASSIGNMENT

    def submit(self, student: str) -> None:
        """``nbgrader submit --student=NAME`` (as root, nbgrader would otherwise name it ``root``)."""
        self.nbgrader("submit", ASSIGNMENT, *self.student_args(), f"--student={student}", cwd=self.homes / student)

    # -- the instructor side -----------------------------------------------------------------
    def submitted(self, student: str) -> Path:
        return self.root / "submitted" / student / ASSIGNMENT

    def autograded(self, student: str) -> Path:
        return self.root / "autograded" / student / ASSIGNMENT

    def feedback_html(self, student: str) -> str:
        """All of a student's feedback pages, concatenated."""
        folder = self.root / "feedback" / student / ASSIGNMENT
        return "\n".join(p.read_text() for p in sorted(folder.glob("*.html")))

    def export(self) -> dict[str, dict]:
        """``nbgrader export`` as ``{student: row}``."""
        import csv

        self.nbgrader("export", "--to", str(self.root / "grades.csv"))
        with open(self.root / "grades.csv") as rows:
            return {row["student_id"]: row for row in csv.DictReader(rows)}


def fill_with_solutions(folder: Path) -> None:
    """Overwrite a fetched assignment folder with the private solved copy (notebooks and nnl/)."""
    for path in SOLVED.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            target = folder / path.relative_to(SOLVED)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def edit_notebook(path: Path, edit) -> None:
    """Read a notebook, let ``edit(nb)`` change it in place, write it back."""
    nb = nbformat.read(path, as_version=4)
    edit(nb)
    nbformat.write(nb, path)


def cell_index(nb, grade_id: str) -> int:
    for index, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return index
    raise KeyError(grade_id)


def score_cell_outputs(notebook: Path) -> dict[str, list]:
    """``{grade_id: outputs}`` of the score cells of an autograded notebook."""
    nb = nbformat.read(notebook, as_version=4)
    return {cell.metadata.nbgrader.grade_id: cell.get("outputs", []) for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("score_")}
