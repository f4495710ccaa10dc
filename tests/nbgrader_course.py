"""A throwaway course for the nbgrader tests, on the kit's own `CourseFlow`."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from autograder.course import copy_course
from autograder.nbgrader.course_flow import CourseFlow

ASSIGNMENT = "cnn"
REPO = Path(__file__).resolve().parents[1]
SOLVED = REPO / "solutions_private" / ASSIGNMENT


class Course(CourseFlow):
    """A generated copy of this repository's course in a temporary folder."""

    @classmethod
    def create(cls, tmp: Path) -> "Course":
        course = cls(copy_course(tmp / "course"), tmp / "exchange", tmp / "homes", ASSIGNMENT)
        course.nbgrader("generate_assignment", ASSIGNMENT, "--force")
        return course

    def feedback_html(self, student: str) -> str:
        """All of a student's feedback pages, concatenated."""
        return "\n".join(p.read_text() for p in sorted(self.feedback(student).glob("*.html")))


def function_scores(flow: CourseFlow, student: str) -> dict[str, float]:
    """``{function: auto_score}`` of a student's score cells in the course's gradebook."""
    with Gradebook(f"sqlite:///{flow.root / 'gradebook.db'}", flow.course_id) as gb:
        submission = gb.find_submission(flow.assignment, student)
        return {g.name[len("score_"):]: g.auto_score for nb in submission.notebooks for g in nb.grades
                if g.name.startswith("score_")}


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
