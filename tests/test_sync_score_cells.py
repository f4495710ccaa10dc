"""`sync-score-cells`: the notebooks' score cells follow rubric.toml (added, updated, removed, or a clear refusal)."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.authoring.scaffold import new_assignment
from autograder.authoring.sync_score_cells import SyncError, sync_score_cells
from autograder.grading.rubric import Rubric
from autograder.nbgrader.score_cells import function_of, score_cell_source

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def example(tmp_path):
    """A scaffolded assignment in a scratch course: (source folder, rubric path)."""
    new_assignment("demo", "hw", root=tmp_path, suites=tmp_path / "suites")
    return tmp_path / "source" / "demo", tmp_path / "suites" / "demo" / "rubric.toml"


def score_cells(source: Path) -> dict[str, tuple[str, float, str]]:
    """``{function: (notebook, points, source)}`` of every score cell."""
    found = {}
    for path in sorted(source.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if function_of(cell):
                found[function_of(cell)] = (path.name, cell.metadata.nbgrader["points"], cell.source)
    return found


def write_rubric(path: Path, functions: dict[str, str]) -> Rubric:
    total = sum(float(entry.split("points = ")[1].split()[0].rstrip("},")) for entry in functions.values())
    path.write_text(f"total = {total:g}\n[functions]\n" + "".join(f"{k} = {v}\n" for k, v in functions.items()))
    return Rubric.load(path)


def test_a_scaffolded_assignment_is_in_sync(example):
    source, rubric = example
    assert sync_score_cells(source, Rubric.load(rubric), write=False).changes == []


def test_new_removed_and_reweighted_functions_are_synced(example):
    source, rubric_path = example
    rubric = write_rubric(rubric_path, {"normalize_rows": '{ module = "hw.example", points = 4 }',
                                        "scale_rows": '{ module = "hw.example", points = 6 }'})
    report = sync_score_cells(source, rubric)
    assert report.changes == ["demo.ipynb: updated score_normalize_rows (4 points)",
                              "demo.ipynb: added score_scale_rows (6 points)"]
    cells = score_cells(source)
    assert cells["normalize_rows"][:2] == ("demo.ipynb", 4.0)
    assert cells["scale_rows"] == ("demo.ipynb", 6.0, score_cell_source("scale_rows", "hw.example"))
    rubric = write_rubric(rubric_path, {"scale_rows": '{ module = "hw.example", points = 6 }'})
    assert sync_score_cells(source, rubric).changes == [
        "demo.ipynb: removed score_normalize_rows (the rubric does not grade normalize_rows)"]
    assert set(score_cells(source)) == {"scale_rows"}
    assert sync_score_cells(source, rubric).changes == []  # idempotent


def test_check_mode_writes_nothing(example):
    source, rubric_path = example
    before = (source / "demo.ipynb").read_bytes()
    rubric = write_rubric(rubric_path, {"normalize_rows": '{ module = "hw.example", points = 3 }'})
    assert sync_score_cells(source, rubric, write=False).changes
    assert (source / "demo.ipynb").read_bytes() == before


def test_an_undecidable_notebook_is_refused_with_what_to_add(example):
    source, rubric_path = example
    nbformat.write(nbformat.v4.new_notebook(), source / "Second.ipynb")
    before = (source / "demo.ipynb").read_bytes()
    rubric = write_rubric(rubric_path, {"normalize_rows": '{ module = "hw.example", points = 4 }',
                                        "other": '{ module = "hw.other", points = 6 }'})
    with pytest.raises(SyncError, match=r'no notebook for the score cell of other: add `notebook = "Name.ipynb"`'):
        sync_score_cells(source, rubric)
    assert (source / "demo.ipynb").read_bytes() == before, "nothing is written on a refusal"
    rubric = write_rubric(rubric_path, {"normalize_rows": '{ module = "hw.example", points = 4 }',
                                        "other": '{ module = "hw.other", points = 6, notebook = "Third.ipynb" }'})
    with pytest.raises(SyncError, match="names notebook 'Third.ipynb', which the assignment does not have"):
        sync_score_cells(source, rubric)
    rubric = write_rubric(rubric_path, {"normalize_rows": '{ module = "hw.example", points = 4 }',
                                        "other": '{ module = "hw.other", points = 6, notebook = "Second.ipynb" }'})
    sync_score_cells(source, rubric)
    assert score_cells(source)["other"][0] == "Second.ipynb"


def test_a_folder_without_notebooks_is_refused(tmp_path):
    rubric = write_rubric(tmp_path / "rubric.toml", {"f": '{ module = "hw.example", points = 1 }'})
    with pytest.raises(SyncError, match="no notebook to hold the score cells"):
        sync_score_cells(tmp_path, rubric)


@pytest.mark.parametrize("assignment", ["cnn", "fcnet"])
def test_the_course_s_notebooks_match_their_rubrics(assignment):
    """`sync-score-cells NAME --check` on the committed homeworks: nothing out of date."""
    done = subprocess.run([sys.executable, "-m", "autograder", "sync-score-cells", assignment, "--check"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "the score cells match the rubric" in done.stdout, done.stdout + done.stderr
