"""What the kit changes in how nbgrader records a submission, with nbgrader's verdicts unchanged.

nbgrader's cell-metadata validation with its schema compiled once, nbconvert's
optimistic validation, and the released cells read once per run; the whole
autograde is covered by tests/test_nbgrader_course.py and tests/test_nbgrader_traps.py.
"""
import jsonschema
import nbformat
import nbgrader.nbgraderformat.common as nbgrader_format
import pytest
from nbconvert.exporters import NotebookExporter
from nbformat import v4
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.nbgraderformat import MetadataValidator
from traitlets.config import Config

from autograder.nbgrader.autograde import KitAutograde
from autograder.nbgrader.gradebook_reads import ReleasedCellsGradebook, forget_released, released_notebook
from autograder.nbgrader.metadata_schema import compiled_metadata_schema


def grade_cell(points):
    return v4.new_code_cell("float(1.0)", metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "points": points, "grade_id": "score_f",
        "schema_version": 3}})


def validation_error(validator, cell):
    with pytest.raises(jsonschema.ValidationError) as caught:
        validator.validate_cell(cell)
    return caught.value


def test_the_compiled_schema_gives_nbgraders_verdicts_and_is_compiled_once():
    validator = MetadataValidator()
    bad = grade_cell("two points")
    expected = validation_error(validator, bad)
    with compiled_metadata_schema() as compiled:
        for _ in range(5):
            validator.validate_cell(grade_cell(2.0))
        error = validation_error(validator, bad)
        assert (error.message, list(error.path), error.validator) == \
            (expected.message, list(expected.path), expected.validator)
        assert len(compiled.validators) == 1
    assert nbgrader_format.jsonschema is jsonschema


def test_a_schema_that_is_itself_invalid_is_still_refused():
    with compiled_metadata_schema() as compiled, pytest.raises(jsonschema.SchemaError):
        compiled.validate({}, {"type": "no such type"})


def kit_autograde(tmp_path, config=None):
    return KitAutograde(coursedir=CourseDirectory(root=str(tmp_path)), config=config or Config())


def test_autograde_validates_a_notebook_once_after_its_preprocessors(tmp_path):
    kit = kit_autograde(tmp_path)
    assert NotebookExporter(parent=kit, config=kit.config).optimistic_validation


@pytest.mark.parametrize("section", ["Exporter", "NotebookExporter"])
def test_a_course_that_sets_the_validation_keeps_its_setting(tmp_path, section):
    kit = kit_autograde(tmp_path, Config({section: {"optimistic_validation": False}}))
    assert not NotebookExporter(parent=kit, config=kit.config).optimistic_validation


class BreaksTheNotebook:
    """A preprocessor that leaves an invalid notebook (a cell without its source)."""

    def __call__(self, nb, resources):
        del nb.cells[0]["source"]
        return nb, resources


def test_a_notebook_a_preprocessor_broke_is_still_refused(tmp_path):
    kit = kit_autograde(tmp_path)
    exporter = NotebookExporter(parent=kit, config=kit.config)
    exporter.register_preprocessor(BreaksTheNotebook(), enabled=True)
    with pytest.raises(nbformat.ValidationError):
        exporter.from_notebook_node(v4.new_notebook(cells=[v4.new_code_cell("1")]))


# -- the released cells, read once per run ---------------------------------------------------------

def released_gradebook(path):
    """A gradebook with two notebooks of one assignment, whose cells of the same names differ."""
    url = f"sqlite:///{path}"
    with Gradebook(url) as gb:
        gb.update_or_create_assignment("hw")
        for notebook, points, source in (("one", 3.0, "float(f())"), ("two", 5.0, "float(g())")):
            gb.update_or_create_notebook(notebook, "hw")
            cells = {  # name: (cell type, locked, grade points, solution, task points)
                "score_f": ("code", True, points, False, None),
                "answer": ("markdown", False, 2.0, True, None),
                "code": ("code", False, None, True, None),
                "task": ("markdown", False, None, False, 4.0),
                "intro": ("markdown", True, None, False, None),
            }
            for name, (cell_type, locked, grade, solution, task) in cells.items():
                gb.update_or_create_source_cell(name, notebook, "hw", cell_type=cell_type, locked=locked,
                                                source=f"{source} # {name}", checksum=f"{notebook}-{name}")
                if grade is not None:
                    gb.update_or_create_grade_cell(name, notebook, "hw", max_score=grade, cell_type=cell_type)
                if solution:
                    gb.update_or_create_solution_cell(name, notebook, "hw")
                if task is not None:
                    gb.update_or_create_task_cell(name, notebook, "hw", max_score=task, cell_type=cell_type)
    return url


READ_BY_OVERWRITECELLS = {"find_source_cell": ("name", "cell_type", "locked", "checksum", "source"),
                          "find_graded_cell": ("name", "max_score")}


def answer(gradebook, finder, *args):
    """What a gradebook's finder answers: the attributes OverwriteCells reads of it, or nbgrader's error."""
    try:
        cell = getattr(gradebook, finder)(*args)
    except MissingEntry as error:
        return ("MissingEntry", str(error))
    return tuple(float(value) if key == "max_score" else value
                 for key, value in ((key, getattr(cell, key)) for key in READ_BY_OVERWRITECELLS[finder]))


def test_the_released_cells_answer_as_nbgraders_own_queries(tmp_path):
    url = released_gradebook(tmp_path / "gradebook.db")
    forget_released()
    names = ["score_f", "answer", "code", "task", "intro", "no_such_cell"]
    with Gradebook(url) as plain, ReleasedCellsGradebook(Gradebook(url), url) as released:
        for notebook in ("one", "two", "three"):
            for name in names:
                for finder in READ_BY_OVERWRITECELLS:
                    expected = answer(plain, finder, name, notebook, "hw")
                    assert answer(released, finder, name, notebook, "hw") == expected, (finder, notebook, name)
        assert answer(released, "find_graded_cell", "score_f", "two", "hw") == ("score_f", 5.0)
        assert answer(released, "find_graded_cell", "task", "one", "hw") == ("task", 4.0)
        # what the snapshot does not answer is the Gradebook's own
        assert released.find_assignment("hw").name == "hw"
    forget_released()


def test_the_released_cells_are_read_once_per_run_and_again_after_it(tmp_path):
    url = released_gradebook(tmp_path / "gradebook.db")
    forget_released()
    before = released_notebook(url, "hw", "one")
    assert list(before) == ["score_f", "answer", "code", "task", "intro"]
    assert before["score_f"].flags() == {"grade": True, "solution": False, "task": False, "locked": True,
                                               "points": 3.0}
    with Gradebook(url) as gb:  # the instructor changes the points and releases again
        gb.update_or_create_grade_cell("score_f", "one", "hw", max_score=7.0)
    assert released_notebook(url, "hw", "one") is before, "read again within the run"
    forget_released()
    assert released_notebook(url, "hw", "one")["score_f"].max_score == 7.0
    forget_released()
