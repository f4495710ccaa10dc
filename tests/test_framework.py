"""The kit as a framework: a third homework made with `new-assignment`, beside the course's own.

A temporary copy of the course (the repository, symbolic links kept) gets a new assignment,
`linear`, from `python -m autograder new-assignment`; then, on it and on `cnn` side by side:
generate, grade (solved full, release 0), validate, grade-all and report, the Gradescope
bundle (only its own suite inside), and the real `nbgrader autograde` of both into one
gradebook, with `nbgrader export` showing both. Every command refuses, listing the
assignments, when several exist and none is named; a change to one suite regrades only it.
"""
from __future__ import annotations

import ast
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tokenize
import zipfile
from pathlib import Path

import pytest

from autograder.nbgrader.course_flow import CourseFlow

REPO = Path(__file__).resolve().parents[1]
NEW = "linear"
KNOWN = "cnn, fcnet, linear"


def copy_repository(dest: Path) -> Path:
    """The repository's tracked files (as in the working tree) at ``dest``, symbolic links kept as links."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source, target = REPO / name, dest / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return dest


class Course:
    """A course copy whose kit is its own (``PYTHONPATH``): commands run there see its assignments."""

    def __init__(self, root: Path):
        self.root = root
        self.env = {**os.environ, "PYTHONPATH": str(root)}

    def kit(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check:
            assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        return done

    def results(self, folder: str, assignment: str, name: str) -> dict:
        out = self.root / f"{name}.json"
        self.kit("grade", folder, "--assignment", assignment, "--json", str(out))
        return json.loads(out.read_text())


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    course = Course(copy_repository(tmp_path_factory.mktemp("framework") / "course"))
    made = course.kit("new-assignment", NEW)
    assert f"source/{NEW}/{NEW}.ipynb" in made.stdout and f"autograder/suites/{NEW}/rubric.toml" in made.stdout
    course.kit("generate", NEW)
    return course


def test_the_new_assignment_generates_and_grades_like_the_course_s_own(course):
    """Solved copies full marks and releases 0, for the new homework and for cnn, in the same course."""
    for assignment in (NEW, "cnn"):
        solved = course.results(f"solutions_private/{assignment}", assignment, f"{assignment}-solved")
        blank = course.results(f"release/{assignment}", assignment, f"{assignment}-blank")
        assert solved["score"] == pytest.approx(sum(t["max_score"] for t in solved["tests"])) and solved["score"] > 0
        assert blank["score"] == 0 and blank["tests"]
    assert "### BEGIN SOLUTION" not in (course.root / "release" / NEW / "nnl" / "example.py").read_text()


def test_the_new_assignment_validates_with_its_own_suite(course):
    """Does `validate linear` grade with linear's suite: reference full, release 0, its one mistake caught?"""
    done = course.kit("validate", NEW, "--json", str(course.root / "validate.json"))
    report = json.loads((course.root / "validate.json").read_text())
    assert report["ok"] and report["reference_score"] == report["total"] == 10, done.stdout[-2000:]
    assert [m["name"] for m in report["mutants"]] == ["normalize_rows_by_columns"]


@pytest.mark.parametrize("command", [
    ["grade", "release/cnn"], ["grade-all", "release", "--out", "out"], ["report", "out"], ["gradescope"],
    ["validate"], ["generate"], ["sync-score-cells"],
])
def test_every_command_refuses_without_a_name_when_there_are_several(course, command):
    done = course.kit(*command, check=False)
    assert done.returncode == 2, (command, done.returncode, done.stdout[-500:], done.stderr[-1500:])
    assert f"3 assignments ({KNOWN}): name one" in done.stderr, done.stderr[-1500:]


def test_grade_all_and_report_work_per_assignment(course, tmp_path):
    for assignment in (NEW, "cnn", "fcnet"):
        root = tmp_path / assignment
        for student, folder in (("solved", "solutions_private"), ("blank", "release")):
            shutil.copytree(course.root / folder / assignment, root / student)
        out = tmp_path / f"out-{assignment}"
        course.kit("grade-all", str(root), "--assignment", assignment, "--out", str(out), "--no-progress")
        with open(out / "class.csv") as table:
            rows = {row["student"]: row for row in csv.DictReader(table)}
        assert float(rows["blank"]["score"]) == 0 and float(rows["solved"]["score"]) == float(rows["solved"]["max_score"])
        course.kit("report", str(out), "--assignment", assignment)
        function = {NEW: "normalize_rows", "cnn": "conv_forward_naive", "fcnet": "FullyConnectedNet"}[assignment]
        assert function in (out / "report.html").read_text()


def test_editing_one_suite_regrades_that_assignment_only(course, tmp_path):
    outs = {}
    for assignment in (NEW, "cnn"):
        root = tmp_path / assignment
        shutil.copytree(course.root / "solutions_private" / assignment, root / "ann")
        outs[assignment] = (root, tmp_path / f"out-{assignment}")
        course.kit("grade-all", str(root), "--assignment", assignment, "--out", str(outs[assignment][1]),
                   "--no-progress")
    suite_test = course.root / "autograder" / "suites" / NEW / "test_example.py"
    suite_test.write_text(suite_test.read_text() + "\n# an instructor's edit\n")
    for assignment, expected in ((NEW, "1 graded now, 0 unchanged"), ("cnn", "0 graded now, 1 unchanged")):
        root, out = outs[assignment]
        done = course.kit("grade-all", str(root), "--assignment", assignment, "--out", str(out), "--no-progress")
        assert expected in done.stdout, (assignment, done.stdout[-800:])


def test_a_gradescope_bundle_carries_only_its_own_suite(course, tmp_path):
    zip_path = tmp_path / "linear.zip"
    course.kit("gradescope", NEW, "--out", str(zip_path))
    names = zipfile.ZipFile(zip_path).namelist()
    suites = {name.split("/")[2] for name in names if name.startswith("autograder/suites/")}
    assert suites == {NEW}, suites
    assert f"source/{NEW}/nnl/example.py" in names and not any(n.startswith("source/cnn/") for n in names)


@pytest.mark.nbgrader
def test_nbgrader_autogrades_both_homeworks_into_one_gradebook(course, tmp_path):
    flow = CourseFlow(course.root, tmp_path / "exchange", tmp_path / "homes", NEW)
    env = {"PYTHONPATH": str(course.root)}
    for assignment in (NEW, "cnn"):
        flow.nbgrader("generate_assignment", assignment, "--force", env=env)
    for student in ("ada", "bo"):
        flow.nbgrader("db", "student", "add", student, env=env)
        for assignment in (NEW, "cnn"):
            folder = "solutions_private" if student == "ada" else "release"
            shutil.copytree(course.root / folder / assignment, flow.of(assignment).submitted(student))
    for assignment in (NEW, "cnn"):
        flow.nbgrader("autograde", assignment, env=env)
    path = tmp_path / "grades.csv"
    flow.nbgrader("export", "--to", str(path), env=env)
    with open(path) as table:
        rows = {(row["assignment"], row["student_id"]): row for row in csv.DictReader(table)}
    assert float(rows[(NEW, "ada")]["score"]) == 10 and float(rows[(NEW, "bo")]["score"]) == 0
    assert float(rows[("cnn", "ada")]["score"]) == 100 and float(rows[("cnn", "bo")]["score"]) == 0


# -- the kit's code names no homework ----------------------------------------------------------------

HOMEWORK_NAMES = re.compile(r"\b(cnn|nnl)\b")


def _names_outside_docstrings(path: Path) -> list[str]:
    """Code, strings and comments of ``path`` (not docstrings) that name a homework or its package."""
    text = path.read_text()
    docstrings = {node.body[0].value.lineno for node in ast.walk(ast.parse(text))
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str)}
    found = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in (tokenize.STRING, tokenize.NAME, tokenize.COMMENT) and HOMEWORK_NAMES.search(token.string):
            if not (token.type == tokenize.STRING and token.start[0] in docstrings):
                found.append(f"{path.relative_to(REPO)}:{token.start[0]}: {token.string[:80]}")
    return found


def test_the_kit_s_code_names_no_homework():
    """Outside the suites and the demo's own script, no code, string or comment says cnn or nnl."""
    kit = REPO / "autograder"
    files = [p for p in sorted(kit.rglob("*.py")) if p.relative_to(kit).parts[0] not in ("suites", "demo")]
    assert len(files) > 20
    found = [line for path in files for line in _names_outside_docstrings(path)]
    assert not found, "\n".join(found)
