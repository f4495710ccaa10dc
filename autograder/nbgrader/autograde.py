"""``nbgrader autograde`` with the hidden suites as the grades of record.

``nbgrader_config.py`` calls :func:`install`, which makes ``nbgrader autograde``
(and formgrader's autograde button) use :class:`KitAutograde`, a subclass of
nbgrader's ``Autograde`` converter. Per collected submission it:

1. makes the submission gradable (:mod:`autograder.nbgrader.submission_repair`): unreadable
   or missing notebooks, outside symlinks and huge files, each fix noted;
2. lets nbgrader sanitize the notebooks as usual (outputs cleared, locked and
   deleted grade cells restored from the gradebook);
3. runs the hidden suite on the autograded copy with ``python -m autograder grade``
   in a child process, student code inside the sandbox;
4. instead of executing the notebooks (student code would run with the
   instructor's rights and could read the gradebook), :class:`ScoreCells` writes
   each function's score into its score cell's output as ``float(...)``, with
   the failing checks' diagnostics printed above it, and nbgrader's own
   ``SaveAutoGrades`` records it in the gradebook;
5. marks the submission finished. A run killed half-way leaves no mark, and the
   next ``nbgrader autograde`` grades that submission again instead of skipping it.

A grader failure raises inside nbgrader's per-submission ``try``: nbgrader logs
it, moves on to the next student, and exits 1 at the end; the student's score
cells are set to 0 and flagged for manual review, never left at full marks.
"""
from __future__ import annotations

import glob
import html
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbformat import NotebookNode, v4
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters.autograde import Autograde
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, IgnorePattern,
                                    LimitOutput, NbGraderPreprocessor, OverwriteCells, OverwriteKernelspec,
                                    SaveAutoGrades)
from nbgrader.utils import find_all_files, rmtree
from traitlets import Bool, Float, Integer, List, Unicode
from traitlets.config import Config

from autograder.classwide.engine import EngineError, Gradings, Progress
from autograder.classwide.grade_all import tree_hash
from autograder.grading import feedback
from autograder.grading.grading_process import GradingProcessFailed, grade_in_child
from autograder.nbgrader.gradebook_engines import shared_gradebook_engines
from autograder.nbgrader.gradebook_reads import ReleasedCellsGradebook, forget_released, released_notebook
from autograder.nbgrader.metadata_schema import compiled_metadata_schema
from autograder.nbgrader.score_cells import PREFIX, function_of, is_autograded_test
from autograder.nbgrader.submission_repair import DEFAULT_MAX_FILE_BYTES, prepare_submission, read_notes
from autograder.scratch import owned_temporary_folder

MAX_LISTED_FAILURES = 6


class SuiteFailed(RuntimeError):
    """The hidden suite could not grade a submission; the message says why (no credit is given)."""


@dataclass
class FunctionScore:
    """The hidden suite's verdict on one graded function.

    Attributes
    ----------
    score, max_score : float
    passed, total : int
        Tests passed, tests run.
    failures : list of (str, str)
        ``(test name, feedback)`` of each failed test.
    """

    score: float
    max_score: float
    passed: int
    total: int
    failures: list

    def report(self, name: str) -> str:
        """What the student reads above the score: the tally, then one short block per failed check.

        Every line fits in ``feedback.WIDTH`` characters, so the feedback page never scrolls sideways.
        """
        blocks = [f"{name}: {self.score:.4g} of {self.max_score:g} points "
                  f"({self.passed} of {self.total} checks passed)"]
        blocks += [feedback.block(test, output) for test, output in self.failures[:MAX_LISTED_FAILURES]]
        if len(self.failures) > MAX_LISTED_FAILURES:
            blocks.append(f"... and {len(self.failures) - MAX_LISTED_FAILURES} more failed checks")
        return "\n\n".join(blocks) + "\n"


@dataclass
class SubmissionScores:
    """What the kit found for one submission: per-function scores and the repair notes."""

    functions: dict
    notes: list
    isolation: str


# (assignment, student) -> SubmissionScores, filled by KitAutograde.init_assignment
# and read by ScoreCells in the same process.
GRADED: dict[tuple[str, str], SubmissionScores] = {}


def scores_by_function(results: dict) -> dict[str, FunctionScore]:
    """Sum a Gradescope-format results dict per graded function (each test's first tag)."""
    functions: dict[str, FunctionScore] = {}
    for test in results.get("tests", []):
        name = test["tags"][0]
        entry = functions.setdefault(name, FunctionScore(0.0, 0.0, 0, 0, []))
        entry.score += float(test["score"])
        entry.max_score += float(test["max_score"])
        entry.total += 1
        if test.get("status") == "passed":
            entry.passed += 1
        else:
            test_name = test["name"].split(": ", 1)[-1]
            entry.failures.append((test_name, test.get("output", "")))
    return functions


def run_hidden_suite(folder: Path, assignment: str, timeout: float) -> dict:
    """Grade ``folder`` with ``python -m autograder grade`` in a child process.

    Returns
    -------
    dict
        The Gradescope-format results.

    Raises
    ------
    SuiteFailed
        When the grader exits non-zero, times out or writes no results.
    """
    try:
        return grade_in_child(folder, assignment, timeout)
    except GradingProcessFailed as err:
        raise SuiteFailed(f"the hidden suite could not grade {folder}: {err}") from None


def _score_text(score: float, points: float) -> str:
    """``float`` text nbgrader parses; never above the cell's points (that would fail the submission)."""
    return repr(float(min(round(score, 6), points)))


def notes_cell(notes: list[str]):
    """A markdown cell listing the repair notes, student-provided names escaped."""
    items = "\n".join(f"- {html.escape(note)}" for note in notes)
    cell = v4.new_markdown_cell(f"**Notes from grading your submission**\n\n{items}")
    cell.metadata["kit_notes"] = True
    return cell


def released_flags(db_url: str, assignment: str, notebook: str) -> dict[str, dict]:
    """``{grade_id: {"grade", "solution", "task", "locked"[, "points"]}}`` of a released notebook's cells.

    In the notebook's order (its source cells'), read once per run (:func:`.released_notebook`).
    """
    return {name: cell.flags() for name, cell in released_notebook(db_url, assignment, notebook).items()}


class RestoreGradeFlags(NbGraderPreprocessor):
    """Put back the nbgrader flags (grade, solution, task, locked, points) a student edited.

    nbgrader's ``OverwriteCells`` restores a locked cell's source but not its
    ``grade`` flag, and then fails the whole submission with "Inconsistent
    checksums". Run before it, this resets the flags of every cell whose
    ``grade_id`` the gradebook knows to the released values.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        released = released_flags(info["db_url"], info["assignment"], info["notebook"])
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader")
            if not isinstance(meta, dict) or meta.get("grade_id") not in released:
                continue
            name = meta["grade_id"]
            restored = dict(released[name])
            if "points" not in restored:
                meta.pop("points", None)
            changed = {key: meta.get(key) for key, value in restored.items() if meta.get(key) != value}
            if changed:
                self.log.warning("%s/%s: cell %s had its nbgrader flags changed (%s); restored",
                                 info["student"], info["notebook"], name, changed)
            meta.update(restored)
        return nb, resources


class OverwriteCellsSafely(OverwriteCells):
    """nbgrader's ``OverwriteCells``, restoring deleted grade cells without crashing.

    nbgrader 0.9.6 puts a deleted grade cell back after the source cell just
    before it, but looks that cell up among grade and solution cells only: when
    it is a locked question cell, the whole submission fails with a
    ``KeyError``. This version puts it after the nearest earlier source cell
    still in the notebook, or first when there is none.

    nbgrader's own ``preprocess`` runs, but the gradebook it opens answers its
    per-cell questions about the released cells from one read per run
    (:class:`.ReleasedCellsGradebook`).
    """

    @property
    def gradebook(self):
        return self._gradebook

    @gradebook.setter
    def gradebook(self, gradebook):
        self._gradebook = ReleasedCellsGradebook(gradebook, self.db_url)

    def add_missing_grade_cells(self, nb, resources):
        released = released_flags(resources["nbgrader"]["db_url"], self.assignment_id, self.notebook_id)
        order = list(released)
        points = {name: flags["points"] for name, flags in released.items() if "points" in flags}
        solutions = {name for name, flags in released.items() if flags["solution"]}

        def positions():
            return {cell.metadata["nbgrader"]["grade_id"]: index for index, cell in enumerate(nb.cells)
                    if cell.metadata.get("nbgrader", {}).get("grade_id")}

        present_grades = {cell.metadata.nbgrader["grade_id"] for cell in nb.cells
                          if cell.metadata.get("nbgrader", {}).get("grade_id")
                          and (cell.metadata.nbgrader.get("grade") or cell.metadata.nbgrader.get("solution"))}
        for rank, name in enumerate(order):
            if name not in points or name in present_grades:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", name)
            source_cell = self.gradebook.find_source_cell(name, self.notebook_id, self.assignment_id)
            cell = self.missing_cell_transform(source_cell, points[name], is_solution=name in solutions)
            where = positions()
            earlier = [where[prev] for prev in order[:rank] if prev in where]
            nb.cells.insert(max(earlier) + 1 if earlier else 0, cell)
            present_grades.add(name)
        return nb, resources


class ScoreCells(NbGraderPreprocessor):
    """Write the hidden suite's per-function scores into the score cells; execute nothing.

    Each score cell (``grade_id`` ``score_<function>``) gets two outputs: the
    diagnostics on stdout and the score as an ``execute_result`` whose text is a
    plain ``float``. Any other autograded test cell is refused: without execution
    nbgrader would give it full points.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        key = (info["assignment"], info["student"])
        scores = GRADED.get(key)
        if scores is None:
            raise SuiteFailed(f"{info['student']}/{info['assignment']}: the hidden suite did not run; no score given")
        for cell in nb.cells:
            if not is_autograded_test(cell):
                continue
            function = function_of(cell)
            where = f"{info['student']}/{info['assignment']}/{info['notebook']}.ipynb"
            if function is None:
                raise SuiteFailed(f"{where}: grade cell {cell.metadata.nbgrader.get('grade_id')!r} is not a score "
                                  f"cell ({PREFIX}<function>); the kit does not execute notebook tests")
            verdict = scores.functions.get(function)
            if verdict is None:
                raise SuiteFailed(f"{where}: the hidden suite has no tests for {function!r}")
            points = float(cell.metadata.nbgrader["points"])
            if abs(points - verdict.max_score) > 1e-6:
                raise SuiteFailed(f"{where}: score cell {function!r} is worth {points:g} points in the gradebook, "
                                  f"the rubric gives {verdict.max_score:g}")
            cell.execution_count = None
            # built as v4.new_output builds them, without its schema check of each output: the whole
            # notebook is validated once its preprocessors have run (optimistic_validation)
            cell.outputs = [
                NotebookNode(output_type="stream", name="stdout", text=verdict.report(function)),
                NotebookNode(output_type="execute_result", metadata=NotebookNode(),
                             data=NotebookNode({"text/plain": _score_text(verdict.score, points)}),
                             execution_count=None),
            ]
        if scores.notes:
            nb.cells.insert(0, notes_cell(scores.notes))
        return nb, resources


def _zero_score_cells(db_url: str, course_id: str, assignment: str, student: str) -> None:
    """Give every score cell of a submission 0, flagged for review (after a grader failure)."""
    with Gradebook(db_url, course_id) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name.startswith(PREFIX):
                    grade.auto_score = 0
                    grade.needs_manual_grade = True
        gb.db.commit()


class KitAutograde(Autograde):
    """nbgrader's ``Autograde`` converter, grading with the hidden suites (see the module doc)."""

    sanitize_preprocessors = List([
        ClearOutput,
        DeduplicateIds,
        OverwriteKernelspec,
        RestoreGradeFlags,
        OverwriteCellsSafely,
        CheckCellMetadata,
    ]).tag(config=True)

    # nbgrader's list, with ScoreCells instead of executing the notebook, and without its second
    # CheckCellMetadata: nothing after sanitizing changes a cell's nbgrader metadata (ScoreCells writes
    # outputs only), and validating every cell against the schema twice was the largest cost of
    # recording a submission after SaveAutoGrades itself.
    autograde_preprocessors = List([
        ScoreCells,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
    ]).tag(config=True)

    grading_timeout = Float(
        900.0, help="Seconds the hidden suite may take on one submission before it counts as a grader failure.",
    ).tag(config=True)

    jobs = Integer(
        os.cpu_count() or 1,
        help="Submissions graded at once (each in its own grading process and sandbox); nbgrader then "
             "records them one after another as they finish. Default: the CPU count.",
    ).tag(config=True)

    dask_scheduler = Unicode(
        "",
        help="tcp://host:port of a Dask distributed scheduler: grade the submissions on its workers "
             "(as grade-all --dask-scheduler does) instead of on this machine.",
    ).tag(config=True)

    one_transaction_per_submission = Bool(
        True,
        help="Store each submission's records in one SQLite commit (nbgrader's commits become checkpoints "
             "of it), instead of nbgrader's ~74 commits per submission. A formgrader saving manual grades "
             "while autograde runs may then more often be told the database is locked; set False for "
             "courses that grade by hand during autograde runs.",
    ).tag(config=True)

    max_file_mb = Float(
        DEFAULT_MAX_FILE_BYTES / 2**20,
        help="Submitted files above this size (MiB) are moved to the course's quarantine folder, not graded.",
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # nbconvert validates the whole notebook against nbformat's schema after each of the
        # preprocessors (12 validations per notebook here); with optimistic validation it validates
        # once after all of them, and nbformat validates again as it writes the notebook. A course
        # that sets optimistic_validation itself keeps its setting.
        if not any("optimistic_validation" in self.config.get(section, {})
                   for section in ("Exporter", "NotebookExporter")):
            self.update_config(Config({"Exporter": {"optimistic_validation": True}}))

    # -- paths -------------------------------------------------------------------------------
    def _stamp(self, assignment_id: str, student_id: str) -> Path:
        """The mark of a finished autograde, beside (not inside) the autograded folder."""
        dest = Path(self.coursedir.format_path(self.coursedir.autograded_directory, student_id, assignment_id))
        return dest.parent / f".{dest.name}.autograded"

    def _student_modules(self, assignment_id: str) -> list[str]:
        return list(self.exclude_overwriting.get(assignment_id, []))

    # -- 1. repair every submission before nbgrader looks for notebooks ----------------------
    def init_notebooks(self) -> None:
        pattern = self._format_source(self.coursedir.assignment_id, self.coursedir.student_id)
        regexp = self._format_source("(?P<assignment_id>.*)", "(?P<student_id>.*)", escape=True)
        for folder in sorted(glob.glob(pattern)):
            match = re.match(regexp, folder)
            if not os.path.isdir(folder) or match is None:
                continue
            assignment_id, student_id = match.group("assignment_id"), match.group("student_id")
            if student_id in (self.coursedir.student_id_exclude or "").split(","):
                continue
            release = self.coursedir.format_path(self.coursedir.release_directory, ".", assignment_id)
            quarantine = Path(self.coursedir.root, "quarantine", student_id, assignment_id)
            try:
                notes = prepare_submission(Path(folder), Path(release), quarantine,
                                           self._student_modules(assignment_id), int(self.max_file_mb * 2**20))
            except OSError as err:  # one unreadable folder must not stop the class
                self.log.error("%s/%s: could not prepare the submission for grading: %s",
                               student_id, assignment_id, err)
                continue
            for note in notes:
                self.log.warning("%s/%s: %s", student_id, assignment_id, note)
        super().init_notebooks()

    # -- 2. grade ahead: every submission to process goes to the pool at once ------------------
    def convert_notebooks(self) -> None:
        """nbgrader's loop over the submissions, with their gradings started before it, concurrently.

        Each submission nbgrader will process is laid out as nbgrader lays out its autograded copy
        (the submitted files, then the source's provided files over them) in a scratch folder and
        handed to the pool; nbgrader's own loop then records each one as its grading finishes, its
        ``Gradebook`` reusing one database engine for the whole loop and storing each submission in
        one SQLite commit (:mod:`.gradebook_engines`), its cell-metadata schema compiled once
        (:mod:`.metadata_schema`).
        """
        forget_released()
        todo = self._to_process()
        try:
            with owned_temporary_folder("kit-autograde-") as scratch, \
                    Gradings("", jobs=self.jobs, timeout=self.grading_timeout, dask_scheduler=self.dask_scheduler or None,
                             assignments=tuple(sorted({assignment for assignment, _ in todo}))) as gradings:
                self._ahead = self._grade_ahead(gradings, Path(scratch), todo)
                try:
                    with shared_gradebook_engines(self.one_transaction_per_submission) as self._gradebooks, \
                            compiled_metadata_schema():
                        super().convert_notebooks()
                finally:
                    self._progress.close()
                    self._ahead = {}
                    self._gradebooks = None
                    forget_released()
        except EngineError as err:
            raise SystemExit(f"nbgrader autograde: {err}") from None
        except KeyboardInterrupt:  # nbgrader's own message ("Canceled") and traceback follow
            self.log.error("Interrupted: the submissions recorded so far are kept; run nbgrader autograde again "
                           "to grade the others (submissions already autograded are skipped)")
            raise

    def _to_process(self) -> list[tuple[str, str]]:
        """``(assignment, student)`` of each submission nbgrader's loop will grade, in its own order."""
        regexp = self._format_source("(?P<assignment_id>.*)", "(?P<student_id>.*)", escape=True)
        todo = []
        for folder in sorted(self.assignments):  # nbgrader's own order
            match = re.match(regexp, folder)
            if match is not None and self._will_process(match["assignment_id"], match["student_id"]):
                todo.append((match["assignment_id"], match["student_id"]))
        return todo

    def _grade_ahead(self, gradings: Gradings, scratch: Path, todo: list[tuple[str, str]]) -> dict:
        """``{(assignment, student): (hash of the graded files, future of the results)}`` for ``todo``."""
        self._progress = Progress(len(todo), "kit autograde", log=self.log)
        ahead = {}
        for assignment_id, student_id in todo:
            staged = self._lay_out(assignment_id, student_id, scratch / student_id / assignment_id)
            future = gradings.submit(student_id, staged, key=f"autograde-{assignment_id}-{student_id}",
                                     assignment=assignment_id)
            future.add_done_callback(lambda done, name=student_id: self._report_progress(gradings, name, done))
            ahead[(assignment_id, student_id)] = (tree_hash(staged), future)
        return ahead

    def _report_progress(self, gradings: Gradings, student_id: str, done) -> None:
        """One more grading on the progress bar; none for a grading dropped or killed by a stop (Ctrl-C)."""
        if not done.cancelled() and not gradings.stopped:
            self._progress.update(student_id, done.result())

    def _will_process(self, assignment_id: str, student_id: str) -> bool:
        """Whether nbgrader's loop will grade this submission (`init_destination`'s rules, without acting)."""
        if student_id in (self.coursedir.student_id_exclude or "").split(","):
            return False
        dest = os.path.normpath(self._format_dest(assignment_id, student_id))
        if self.force or not os.path.exists(dest) or not self._stamp(assignment_id, student_id).exists():
            return True
        new = self.coursedir.get_existing_timestamp(self._format_source(assignment_id, student_id))
        old = self.coursedir.get_existing_timestamp(dest)
        return new is not None and old is not None and new > old

    def _lay_out(self, assignment_id: str, student_id: str, dest: Path) -> Path:
        """The files of the autograded copy, as nbgrader's ``init_assignment`` will copy them, at ``dest``."""
        submitted = self._format_source(assignment_id, student_id)
        source = self.coursedir.format_path(self.coursedir.source_directory, ".", assignment_id)
        excluded = {os.path.join(source, rel) for rel in self.exclude_overwriting.get(assignment_id, [])}
        for root, names in ((submitted, find_all_files(submitted, self.coursedir.ignore + ["*.ipynb"])),
                            (source, set(find_all_files(source, self.coursedir.ignore + ["*.ipynb"])) - excluded)):
            for name in names:
                target = dest / os.path.relpath(name, root)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.unlink(missing_ok=True)
                shutil.copy(name, target)
        return dest

    # -- 5. resume: an autograded folder without its finish mark is graded again --------------
    def init_destination(self, assignment_id: str, student_id: str) -> bool:
        self._store_records()  # what a failed submission before this one recorded
        dest = os.path.normpath(self._format_dest(assignment_id, student_id))
        excluded = student_id in (self.coursedir.student_id_exclude or "").split(",")
        if not excluded and os.path.exists(dest) and not self._stamp(assignment_id, student_id).exists():
            self.log.warning("%s: an earlier autograde did not finish (interrupted?); grading it again", dest)
            rmtree(dest)
        return super().init_destination(assignment_id, student_id)

    # -- 3. grade the autograded copy with the hidden suite ----------------------------------
    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        self._stamp(assignment_id, student_id).unlink(missing_ok=True)
        GRADED.pop((assignment_id, student_id), None)
        super().init_assignment(assignment_id, student_id)
        dest = Path(self._format_dest(assignment_id, student_id))
        source = Path(self._format_source(assignment_id, student_id))
        try:
            results = self._results_of(assignment_id, student_id, dest)
        except SuiteFailed:
            self._no_credit(assignment_id, student_id)
            raise
        isolation = results.get("extra_data", {}).get("isolation", "unknown")
        if isolation != "bubblewrap":
            self.log.warning("%s: student code ran with isolation %r, not bubblewrap", dest, isolation)
        GRADED[(assignment_id, student_id)] = SubmissionScores(
            scores_by_function(results), read_notes(source), isolation)
        self.log.info("%s/%s: hidden suite score %s", student_id, assignment_id, results.get("score"))

    def _results_of(self, assignment_id: str, student_id: str, dest: Path) -> dict:
        """The hidden suite's results on the autograded copy ``dest``: graded ahead, or now.

        A grading done ahead counts only when it graded exactly the files of ``dest`` (same hash);
        otherwise, or when the submission was not graded ahead, it is graded now.

        Raises
        ------
        SuiteFailed
            When the suite could not grade it (a timeout, a broken environment).
        """
        self._store_records()  # no write transaction stays open while a grading is awaited
        digest, future = getattr(self, "_ahead", {}).pop((assignment_id, student_id), (None, None))
        if future is not None and digest == tree_hash(dest):
            self.log.info("Recording the hidden suite's grading of %s/%s", student_id, assignment_id)
            results = future.result()
            if results.get("extra_data", {}).get("status") != "graded":
                raise SuiteFailed(f"the hidden suite could not grade {dest}: "
                                  f"{results.get('extra_data', {}).get('error', 'unknown error')}")
            return results
        if future is not None:
            self.log.warning("%s changed since it was graded ahead; grading it again", dest)
        self.log.info("Grading %s with the hidden suite of %r", dest, assignment_id)
        return run_hidden_suite(dest, assignment_id, self.grading_timeout)

    # -- 4. score cells: a failure gives no credit ---------------------------------------------
    def _no_credit(self, assignment_id: str, student_id: str) -> None:
        _zero_score_cells(self.coursedir.db_url, self.coursedir.course_id, assignment_id, student_id)

    def convert_single_notebook(self, notebook_filename: str) -> None:
        try:
            super().convert_single_notebook(notebook_filename)
        except SuiteFailed:
            match = re.match(self._format_source("(?P<assignment_id>.*)", "(?P<student_id>.*)", escape=True),
                             os.path.dirname(notebook_filename))
            if match is not None:
                self._no_credit(match.group("assignment_id"), match.group("student_id"))
            raise

    # -- 5. mark the submission finished -----------------------------------------------------
    def set_permissions(self, assignment_id: str, student_id: str) -> None:
        super().set_permissions(assignment_id, student_id)
        GRADED.pop((assignment_id, student_id), None)
        self._store_records()  # the submission's records are on disk before it is marked finished
        self._stamp(assignment_id, student_id).write_text("finished\n")

    def _store_records(self) -> None:
        """Commit durably what nbgrader has recorded so far (see :mod:`.gradebook_engines`)."""
        if getattr(self, "_gradebooks", None) is not None:
            self._gradebooks.commit()


def install() -> None:
    """Make ``nbgrader autograde`` and formgrader's autograde (``NbGraderAPI``) use :class:`KitAutograde`."""
    import nbgrader.apps.api as api
    import nbgrader.apps.autogradeapp as autogradeapp

    autogradeapp.Autograde = KitAutograde
    api.Autograde = KitAutograde
