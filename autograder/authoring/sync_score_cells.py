"""``sync-score-cells``: make an assignment's score cells match its rubric.

Every graded function of ``rubric.toml`` has one score cell (see
`autograder.nbgrader.score_cells`) in the source notebooks. After an edit of the
rubric (a function added, removed, renamed or reweighted), this rewrites the
cells: a cell whose points or code differ is updated in place, a cell for a
function the rubric no longer grades is removed, and a missing cell is added at
the end of its notebook. The notebook of a new cell is the rubric entry's
``notebook``, else the notebook that already scores other functions of the same
module, else the assignment's only notebook; when none of these decides, or the
notebook named does not exist, nothing is written and the error says what to add.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.grading.rubric import Rubric
from autograder.nbgrader.score_cells import function_of, grade_id, new_score_cell, score_cell_source


class SyncError(ValueError):
    """The score cells cannot be made to match the rubric; the message says which function and why."""


@dataclass
class SyncReport:
    """What a sync changed (or would change), one line per cell: ``"Notebook.ipynb: added score_f (2 points)"``."""

    changes: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def _notebook_for(name: str, graded, placed: dict[str, str], modules: dict[str, str], notebooks: list[str]) -> str:
    """The notebook a new score cell for ``name`` goes into (see the module doc), or a SyncError."""
    if graded.notebook:
        if graded.notebook not in notebooks:
            raise SyncError(f"rubric: {name} names notebook {graded.notebook!r}, which the assignment does not have "
                            f"(it has {', '.join(notebooks)})")
        return graded.notebook
    siblings = sorted({placed[other] for other, module in modules.items() if module == graded.module
                       and other in placed})
    if len(siblings) == 1:
        return siblings[0]
    if len(notebooks) == 1:
        return notebooks[0]
    raise SyncError(f"rubric: no notebook for the score cell of {name}: add `notebook = \"Name.ipynb\"` to its entry "
                    f"(the assignment's notebooks: {', '.join(notebooks)})")


def sync_score_cells(source: Path, rubric: Rubric, *, write: bool = True) -> SyncReport:
    """Add, update or remove the score cells of the notebooks in ``source`` to match ``rubric``.

    Inputs
    ------
    source : Path
        The assignment's source folder (``source/<assignment>``) with its notebooks.
    rubric : Rubric
    write : bool
        False only reports what would change.

    Returns
    -------
    SyncReport

    Raises
    ------
    SyncError
        When the folder has no notebook, a function has two score cells, or no notebook can be
        chosen for a new cell; nothing is written then.
    """
    paths = sorted(Path(source).glob("*.ipynb"))
    if not paths:
        raise SyncError(f"{source}: no notebook to hold the score cells (add one first)")
    books = {path.name: nbformat.read(path, as_version=4) for path in paths}
    report, changed = SyncReport(), set()
    placed: dict[str, str] = {}
    for name, nb in books.items():
        keep = []
        for cell in nb.cells:
            function = function_of(cell)
            if function is None:
                keep.append(cell)
                continue
            if function in placed:
                raise SyncError(f"{name}: a second score cell for {function} (the first is in {placed[function]})")
            if function not in rubric.functions:
                report.changes.append(f"{name}: removed {grade_id(function)} (the rubric does not grade {function})")
                changed.add(name)
                continue
            placed[function] = name
            graded = rubric.functions[function]
            wanted = score_cell_source(function, graded.module)
            if float(cell.metadata.nbgrader.get("points", 0)) != graded.points or cell.source != wanted:
                cell.metadata.nbgrader["points"] = graded.points
                cell.source = wanted
                report.changes.append(f"{name}: updated {grade_id(function)} ({graded.points:g} points)")
                changed.add(name)
            keep.append(cell)
        nb.cells = keep
    modules = {name: graded.module for name, graded in rubric.functions.items()}
    for name, graded in rubric.functions.items():
        if name in placed:
            continue
        target = _notebook_for(name, graded, placed, modules, list(books))
        books[target].cells.append(new_score_cell(name, graded.module, graded.points))
        placed[name] = target
        report.changes.append(f"{target}: added {grade_id(name)} ({graded.points:g} points)")
        changed.add(target)
    if write:
        for name in sorted(changed):
            nbformat.write(books[name], Path(source) / name)
            report.written.append(Path(source) / name)
    return report
