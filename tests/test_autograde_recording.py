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
from nbgrader.coursedir import CourseDirectory
from nbgrader.nbgraderformat import MetadataValidator
from traitlets.config import Config

from autograder.nbgrader.autograde import KitAutograde
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
