"""From one solution source to a student release and a private solved copy.

``nbgrader generate_assignment`` turns the source notebooks into release
notebooks, but copies every other file unchanged: the ``nnl/*.py`` solutions
would ship to students. The kit finishes the job after nbgrader, in a list of
small named steps (:data:`RELEASE_STEPS`), the way nbgrader's converters list
their preprocessors:

1. :func:`stub_python_modules`: solution regions of the released ``.py`` files
   become stubs (``# YOUR CODE HERE`` / ``raise NotImplementedError()``).
2. :func:`copy_course_utils`: the course's ``utils/`` goes beside ``nnl/``.
3. :func:`refuse_solution_leaks`: no telling line of any solution region may
   appear anywhere in the release.
4. :func:`check_score_cells`: every function of the hidden suite's rubric has
   one score cell with the rubric's points, and no other autograded test cell
   (see :mod:`autograder.nbgrader.score_cells`).
5. :func:`write_private_solutions`: the solved copy of the whole assignment
   folder, as a student who got everything right would submit it.

Any failing step raises; the nbgrader hook (:mod:`autograder.authoring.generation_hook`)
then removes the half-made release so that nothing leaks.
"""
from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.authoring.solution_regions import BEGIN, END, PYTHON_STUB, find_regions, replace_regions, telling_lines

# What never travels with the course utilities: caches and the downloaded data set.
DEFAULT_IGNORE = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".pytest_cache")
UTILS_IGNORE = ("datasets",)


class GenerationError(RuntimeError):
    """A generation step found something wrong; the message says what and where."""


@dataclass(frozen=True)
class Assignment:
    """The folders one generation reads and writes.

    Attributes
    ----------
    source : Path
        ``source/<assignment>``: the instructor's version, solutions inside.
    release : Path
        ``release/<assignment>``: nbgrader has already written its notebooks.
    solutions : Path
        ``solutions_private/<assignment>``: the solved copy (replaced whole).
    utils : Path
        The course utilities to ship beside ``nnl/``.
    stub : str
        The code stub that replaces a ``.py`` solution region.
    begin, end : str
        The solution delimiters.
    ignore : tuple of str
        File-name globs never copied (nbgrader's ``CourseDirectory.ignore``).
    """

    source: Path
    release: Path
    solutions: Path
    utils: Path
    stub: str = PYTHON_STUB
    begin: str = BEGIN
    end: str = END
    ignore: tuple[str, ...] = field(default=DEFAULT_IGNORE)


def _is_ignored(path: Path, root: Path, ignore) -> bool:
    parts = path.relative_to(root).parts
    return any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in ignore)


def _files(root: Path, ignore, suffix: str | None = None) -> list[Path]:
    """Every file under ``root`` not ignored, sorted, optionally of one suffix."""
    found = [p for p in root.rglob("*") if p.is_file() and not _is_ignored(p, root, ignore)]
    return sorted(p for p in found if suffix is None or p.suffix == suffix)


def stub_python_modules(a: Assignment) -> None:
    """Replace the solution regions of every released ``.py`` file by the stub.

    Raises
    ------
    GenerationError
        When a stubbed module is no longer valid Python (its template code
        outside the regions is broken).
    """
    for path in _files(a.release, a.ignore, ".py"):
        text = path.read_text()
        origin = a.source / path.relative_to(a.release)
        stubbed = replace_regions(text, a.stub, name=str(origin), begin=a.begin, end=a.end)
        try:
            compile(stubbed, str(path), "exec")
        except SyntaxError as err:
            raise GenerationError(
                f"{origin}: the stubbed module is not valid Python (line {err.lineno}: {err.msg}); "
                "keep template code such as `out = None` and `return` outside the solution region") from err
        if stubbed != text:
            path.write_text(stubbed)


def _copy_utils(a: Assignment, dest: Path) -> None:
    target = dest / a.utils.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(a.utils, target, ignore=shutil.ignore_patterns(*a.ignore, *UTILS_IGNORE))


def copy_course_utils(a: Assignment) -> None:
    """Ship the course utilities (``utils/``) inside the release folder."""
    _copy_utils(a, a.release)


def files_students_write(source: Path, ignore=DEFAULT_IGNORE, begin: str = BEGIN) -> list[str]:
    """The ``.py`` files of ``source`` that hold solution regions: the files students write.

    ``nbgrader autograde`` copies every non-notebook file of the source over the student's
    unless ``Autograde.exclude_overwriting`` lists it; these must be listed, or autograde
    would grade the solution instead of the student's code.

    This runs while nbgrader loads its configuration, where an exception would make
    nbgrader skip the whole configuration file (hooks included) with a mere log line.
    So it never parses the regions (malformed markers are the generation hook's to
    refuse, loudly): a file counts when any of its lines contains the begin delimiter.

    Returns
    -------
    list of str
        Paths relative to ``source``, sorted.
    """
    return [str(path.relative_to(source)) for path in _files(source, ignore, ".py")
            if begin in path.read_text(errors="replace")]


def solution_lines(source: Path, ignore=DEFAULT_IGNORE, begin: str = BEGIN, end: str = END) -> dict[str, str]:
    """Map each telling solution line of ``source`` to where it comes from.

    A line that the same module (or cell) also shows outside its solution regions, in the
    template students get (``if self.use_batchnorm:`` before and inside a region), is released
    on purpose and is not a secret; the same line in any other released file still is.

    Returns
    -------
    dict
        ``{stripped line: "file:line"}`` over every ``.py`` module and every
        notebook cell under ``source``.
    """
    found: dict[str, str] = {}
    for path in _files(source, ignore):
        rel = path.relative_to(source)
        if path.suffix == ".py":
            texts = [(str(rel), path.read_text())]
        elif path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=4)
            texts = [(f"{rel}[{cell.get('id', i)}]", cell.source) for i, cell in enumerate(nb.cells)]
        else:
            continue
        for name, text in texts:
            regions = find_regions(text, name=name, begin=begin, end=end)
            inside = {number for r in regions for number in range(r.begin_line, r.end_line + 1)}
            template = {line.strip() for number, line in enumerate(text.split("\n"), start=1) if number not in inside}
            for region in regions:
                for line in telling_lines(region):
                    if line not in template:
                        found.setdefault(line, f"{name}:{region.begin_line}")
    return found


def _released_lines(path: Path):
    """Yield ``(line number or cell id, stripped line)`` of a released file."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            for line in cell.source.split("\n"):
                yield f"cell {cell.get('id', i)}", line.strip()
        return
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return
    for number, line in enumerate(text.split("\n"), start=1):
        yield f"line {number}", line.strip()


def find_solution_leaks(source: Path, release: Path, ignore=DEFAULT_IGNORE,
                        begin: str = BEGIN, end: str = END) -> list[str]:
    """Every place in ``release`` where a telling solution line appears.

    Returns
    -------
    list of str
        One message per leak: released file, position, the line and its origin.
    """
    secrets = solution_lines(source, ignore, begin, end)
    leaks = []
    for path in _files(release, ignore):
        for where, line in _released_lines(path):
            if line in secrets:
                leaks.append(f"{path.relative_to(release)} {where}: {line!r} (solution line from {secrets[line]})")
    return leaks


def refuse_solution_leaks(a: Assignment) -> None:
    """Fail when the release contains any telling line of a solution region."""
    leaks = find_solution_leaks(a.source, a.release, a.ignore, a.begin, a.end)
    if leaks:
        shown = "\n  ".join(leaks[:20])
        raise GenerationError(f"{len(leaks)} solution line(s) would be released:\n  {shown}")


def _solved_notebook(source_nb: Path, release_nb: Path, a: Assignment) -> nbformat.NotebookNode:
    """The release notebook with each solution cell filled from the source."""
    source = nbformat.read(source_nb, as_version=4)
    answers = {cell.metadata["nbgrader"]["grade_id"]: cell for cell in source.cells
               if cell.metadata.get("nbgrader", {}).get("grade_id")}
    nb = nbformat.read(release_nb, as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        answer = answers.get(meta.get("grade_id"))
        if answer is None:
            raise GenerationError(f"{release_nb.name}: solution cell {meta.get('grade_id')!r} has no source cell")
        cell.source = replace_regions(answer.source, None, name=f"{source_nb.name}[{meta['grade_id']}]",
                                      begin=a.begin, end=a.end)
    return nb


def write_private_solutions(a: Assignment) -> None:
    """Write the solved copy of the assignment folder, replacing the old one whole.

    The copy is built in a temporary folder beside the destination and moved
    into place at the end, so an interrupted run leaves the previous copy.
    """
    a.solutions.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{a.solutions.name}-", dir=a.solutions.parent))
    try:
        for path in _files(a.source, a.ignore):
            rel = path.relative_to(a.source)
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".ipynb":
                nbformat.write(_solved_notebook(path, a.release / rel, a), target)
            elif path.suffix == ".py":
                target.write_text(replace_regions(path.read_text(), None, name=str(path), begin=a.begin, end=a.end))
            else:
                shutil.copyfile(path, target)
        _copy_utils(a, staging)
        staging.chmod(0o755)
        old = None
        if a.solutions.exists():
            old = a.solutions.with_name(f".{a.solutions.name}-old-{os.getpid()}")
            a.solutions.rename(old)
        staging.rename(a.solutions)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def check_score_cells(a: Assignment) -> None:
    """Fail unless the released notebooks' score cells match the hidden suite's rubric.

    An assignment without a hidden suite may have no autograded cells at all: the kit's
    autograde does not execute notebooks, so nbgrader would give such cells full points.
    """
    from autograder.grading.grade import GradingError, suite_folder
    from autograder.grading.rubric import Rubric, RubricError
    from autograder.nbgrader.score_cells import ScoreCellError, autograded_cells, find_score_cells

    try:
        suite = suite_folder(a.source.name)
    except GradingError:
        cells = autograded_cells(a.release)
        if cells:
            raise GenerationError(f"{a.release}: autograded cells but no hidden suite "
                                  f"autograder/suites/{a.source.name} to score them: {'; '.join(cells)}") from None
        return
    try:
        find_score_cells(a.release, Rubric.load(suite / "rubric.toml"))
    except (RubricError, ScoreCellError) as err:
        raise GenerationError(f"score cells of {a.release}: {err}") from err


RELEASE_STEPS = [
    stub_python_modules,
    copy_course_utils,
    refuse_solution_leaks,
    check_score_cells,
    write_private_solutions,
]


def finish_generated_assignment(a: Assignment, steps=RELEASE_STEPS, log=None) -> None:
    """Run the kit's generation steps, in order, on what nbgrader wrote."""
    for step in steps:
        if log is not None:
            log.info("course kit: %s", step.__name__)
        step(a)
