"""The released cells of a notebook, read from the gradebook once per autograde run.

While it sanitizes a submission, nbgrader's ``OverwriteCells`` asks the gradebook for
the released version of every cell (``find_source_cell``) and for every grade cell's
points (``find_graded_cell``), one ORM query of two joins per question. The answers are
the same for every student of the run, and autograde never changes them: on a class of
20 (three notebooks each) that was 1,220 queries and about a sixth of the CPU time
nbgrader spends recording.

:func:`released_notebook` reads a released notebook's cells once per run, and
:class:`ReleasedCellsGradebook` answers ``OverwriteCells``' questions from it.
:func:`forget_released` ends the run, so a formgrader that runs
``generate_assignment`` between two autogrades never sees old cells. A question about
a cell the snapshot does not have goes to nbgrader's own query, so its error
(``MissingEntry``) is nbgrader's.

(``SaveAutoGrades``' per-cell ``find_grade`` was tried the same way and dropped: nbgrader
commits after each cell, the commit expires every loaded grade, and reloading one costs
what finding it did.)
"""
from __future__ import annotations

from dataclasses import dataclass

from nbgrader.api import Gradebook, MissingEntry


@dataclass(frozen=True)
class ReleasedCell:
    """A released cell as nbgrader's gradebook knows it (the attributes ``OverwriteCells`` reads).

    ``max_score`` is the points of a grade or task cell, None for any other cell.
    """
    name: str
    cell_type: str
    locked: bool
    checksum: str | None
    source: str
    max_score: float | None
    grade: bool
    solution: bool
    task: bool

    def flags(self) -> dict:
        """``{"grade", "solution", "task", "locked"[, "points"]}``: the cell's nbgrader flags as released."""
        flags = {"grade": self.grade, "solution": self.solution, "task": self.task, "locked": self.locked}
        if self.grade:
            flags["points"] = self.max_score
        return flags


# (gradebook URL, assignment, notebook) -> {name: released cell}, in the notebook's order
RELEASED: dict[tuple[str, str, str], dict[str, ReleasedCell]] = {}


def released_notebook(db_url: str, assignment: str, notebook: str) -> dict[str, ReleasedCell]:
    """The released cells of ``assignment``/``notebook`` by name, in the notebook's order, read from
    the gradebook once per run.

    Raises
    ------
    MissingEntry
        When the gradebook has no such notebook (nbgrader's own error).
    """
    key = (db_url, assignment, notebook)
    if key not in RELEASED:
        with Gradebook(db_url) as gb:
            source = gb.find_notebook(notebook, assignment)
            graded = {cell.name: float(cell.max_score) for cell in source.grade_cells}
            tasks = {cell.name: float(cell.max_score) for cell in source.task_cells}
            solutions = {cell.name for cell in source.solution_cells}
            cells = {}
            for cell in source.source_cells:
                points = graded.get(cell.name, tasks.get(cell.name))
                cells[cell.name] = ReleasedCell(
                    name=cell.name, cell_type=cell.cell_type, locked=bool(cell.locked), checksum=cell.checksum,
                    source=cell.source, max_score=points, grade=cell.name in graded,
                    solution=cell.name in solutions, task=cell.name in tasks)
        RELEASED[key] = cells
    return RELEASED[key]


def forget_released() -> None:
    """End of a run: the next :func:`released_notebook` reads the gradebook again."""
    RELEASED.clear()


class ReleasedCellsGradebook:
    """nbgrader's ``Gradebook``, answering ``find_source_cell`` and ``find_graded_cell`` from
    :func:`released_notebook`; everything else is the ``Gradebook``'s own.

    Inputs:
    - gradebook: An nbgrader ``Gradebook`` (open, or about to be entered through this one)
    - db_url: Its database URL
    """

    def __init__(self, gradebook: Gradebook, db_url: str):
        self.gradebook = gradebook
        self.db_url = db_url

    def __getattr__(self, name):
        return getattr(self.gradebook, name)

    def __enter__(self):
        self.gradebook.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self.gradebook.__exit__(*exc_info)

    def _released(self, name: str, notebook: str, assignment: str) -> ReleasedCell | None:
        try:
            return released_notebook(self.db_url, assignment, notebook).get(name)
        except MissingEntry:
            return None

    def find_source_cell(self, name: str, notebook: str, assignment: str):
        """The released cell ``name`` (its name, cell_type, locked, checksum and source), as nbgrader's."""
        cell = self._released(name, notebook, assignment)
        return cell if cell is not None else self.gradebook.find_source_cell(name, notebook, assignment)

    def find_graded_cell(self, name: str, notebook: str, assignment: str):
        """The grade or task cell ``name`` (its ``max_score``), as nbgrader's."""
        cell = self._released(name, notebook, assignment)
        if cell is not None and cell.max_score is not None:
            return cell
        return self.gradebook.find_graded_cell(name, notebook, assignment)
