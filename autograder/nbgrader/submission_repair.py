"""Make a collected submission gradable, keeping everything the student sent.

nbgrader stops at a notebook it cannot read (that student gets no grade), gives
a submission folder without notebooks no gradebook row at all, and copies
whatever symlinks point to. Before autograde, :func:`prepare_submission`
fixes what would stop grading and records each fix as a note that the
student's feedback shows:

- a symlink that points outside the submission is removed;
- a file above the size limit is moved to the course's quarantine folder;
- a notebook that is not valid JSON or not a notebook is kept as
  ``<name>.ipynb.unreadable`` and replaced by the released notebook; one that
  only fails validation (cell ids deleted, say) is repaired by nbformat when
  it can be, and its original kept as ``<name>.ipynb.original``;
- a missing notebook is replaced by the released one;
- a missing module the student writes (``nnl/conv_layers.py``) is named.

Nothing is deleted that the student wrote: originals are renamed or moved.
The notes accumulate in ``GRADING_NOTES.txt`` in the submission, so a second
autograde run shows them again.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from pathlib import Path

import nbformat

NOTES_FILE = "GRADING_NOTES.txt"
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024


def read_notes(folder: Path) -> list[str]:
    """The notes recorded for the submission in ``folder`` (empty when none)."""
    path = Path(folder) / NOTES_FILE
    if not path.is_file() or path.is_symlink():
        return []
    return [line for line in path.read_text(errors="replace").splitlines() if line.strip()]


def _record(folder: Path, notes: list[str]) -> None:
    if not notes:
        return
    known = read_notes(folder)
    new = [note for note in notes if note not in known]
    if new:
        with open(folder / NOTES_FILE, "a") as out:
            out.writelines(note + "\n" for note in new)


def _outside(path: Path, root: Path) -> bool:
    target = os.path.realpath(path)
    return not (target == str(root) or target.startswith(str(root) + os.sep))


def remove_outside_symlinks(folder: Path) -> list[str]:
    """Remove every symlink in ``folder`` whose target is outside it (or missing)."""
    root = Path(os.path.realpath(folder))
    notes = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink() and _outside(path, root):
                target = os.readlink(path)
                path.unlink()
                notes.append(f"{path.relative_to(folder)} was a link to {target}, outside your submission; "
                             f"it was removed and not graded.")
    return notes


def quarantine_large_files(folder: Path, quarantine: Path, max_bytes: int) -> list[str]:
    """Move files larger than ``max_bytes`` from ``folder`` to ``quarantine`` (same relative path)."""
    notes = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.is_symlink()):
        size = path.stat().st_size
        if size > max_bytes:
            rel = path.relative_to(folder)
            target = Path(quarantine) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), target)
            notes.append(f"{rel} ({size / 2**20:.0f} MiB) is above the {max_bytes / 2**20:.0f} MiB limit per file; "
                         f"it was set aside for your instructor and not graded.")
    return notes


def _read_notebook(path: Path):
    """``(notebook, problem)``: the notebook when valid (problem None), else what is wrong."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.read(path, as_version=4)
    except (json.JSONDecodeError, UnicodeDecodeError, nbformat.reader.NotJSONError) as err:
        return None, f"is not valid JSON ({str(err).splitlines()[0][:120]})"
    except Exception as err:  # nbformat raises several kinds on a JSON that is not a notebook
        return None, f"is not a Jupyter notebook ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
    if nb.get("nbformat_minor", 0) >= 5 and any("id" not in cell for cell in nb.get("cells", [])):
        return nb, "has cells without an id"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(nb)
    except nbformat.ValidationError as err:
        return nb, f"fails notebook validation ({err.message[:120]})"
    return nb, None


CELL_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


def _with_fresh_cell_ids(nb):
    """``nb`` with a new id for every cell whose id is missing, malformed or repeated."""
    seen = set()
    for index, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict):
            continue
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not CELL_ID.match(cell_id) or cell_id in seen:
            cell_id = f"repaired-{index}"
            while cell_id in seen:
                cell_id += "-x"
            cell["id"] = cell_id
        seen.add(cell_id)
    return nb


def _valid(nb) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", nbformat.validator.MissingIDFieldWarning)
            nbformat.validate(nb)
    except (nbformat.ValidationError, nbformat.validator.MissingIDFieldWarning):
        return False
    return True


def repair_notebooks(folder: Path, release: Path) -> list[str]:
    """Make every notebook of ``release`` present and readable in ``folder``."""
    notes = []
    for released in sorted(Path(release).glob("*.ipynb")):
        path = Path(folder) / released.name
        if not path.exists():
            shutil.copyfile(released, path)
            notes.append(f"{released.name} was missing from your submission; the released notebook stands in "
                         f"for it (its written answers score 0), and your functions were graded as usual.")
            continue
        nb, problem = _read_notebook(path)
        if problem is None:
            continue
        if nb is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, repaired = nbformat.validator.normalize(nb)
            repaired = _with_fresh_cell_ids(nbformat.from_dict(repaired))
            if _valid(repaired):
                shutil.copyfile(path, path.with_name(path.name + ".original"))
                nbformat.write(repaired, path)
                notes.append(f"{released.name} {problem}; it was repaired (your original is kept as "
                             f"{path.name}.original).")
                continue
        path.rename(path.with_name(path.name + ".unreadable"))
        shutil.copyfile(released, path)
        notes.append(f"{released.name} {problem}; it is kept as {released.name}.unreadable and the released "
                     f"notebook stands in for it (its written answers score 0). Your functions were "
                     f"graded as usual.")
    return notes


def name_missing_modules(folder: Path, modules: list[str]) -> list[str]:
    """Name each module students write (``nnl/layers.py``) that ``folder`` lacks."""
    return [f"{rel} is missing from your submission: the functions it should define score 0."
            for rel in modules if not (Path(folder) / rel).is_file()]


def prepare_submission(folder: Path, release: Path, quarantine: Path, student_modules: list[str],
                       max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[str]:
    """Make one collected submission gradable and record what was done.

    Inputs
    ------
    folder : Path
        ``submitted/<student>/<assignment>``.
    release : Path
        ``release/<assignment>``: the notebooks that stand in for missing or unreadable ones.
    quarantine : Path
        Where files above the size limit go (``quarantine/<student>/<assignment>``).
    student_modules : list of str
        The ``.py`` files students write, relative to the assignment folder.
    max_file_bytes : int
        Files larger than this are set aside.

    Returns
    -------
    list of str
        Every note recorded for this submission so far (this run's and earlier runs'),
        one sentence each, in the order they were made.
    """
    folder = Path(folder)
    notes = remove_outside_symlinks(folder)
    notes += quarantine_large_files(folder, quarantine, max_file_bytes)
    notes += repair_notebooks(folder, release)
    notes += name_missing_modules(folder, student_modules)
    _record(folder, notes)
    return read_notes(folder)
