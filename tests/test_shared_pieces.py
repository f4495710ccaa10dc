"""What the course's homeworks share exists once: solutions, public checks, hidden tests, catalogued mistakes.

The CNN homework carries over the fully connected homework's layers and optimizers. Each
shared piece is a file of the homework that introduced it; the other homework reaches it
through a symbolic link. These tests read the real files only (links skipped) and fail when
a function, a check, a test or a mistake of a shared function is written in two places.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from autograder.grading.rubric import Rubric

REPO = Path(__file__).resolve().parents[1]
SOURCE, SUITES = REPO / "source", REPO / "autograder" / "suites"


def real_files(root: Path, pattern: str) -> list[Path]:
    """Files under ``root`` matching ``pattern`` that are not symbolic links (caches left out)."""
    return sorted(p for p in root.rglob(pattern) if not p.is_symlink() and "__pycache__" not in p.parts)


def rubric_functions(assignment: str) -> set[str]:
    return set(Rubric.load(SUITES / assignment / "rubric.toml").functions)


SHARED = rubric_functions("cnn") & rubric_functions("fcnet")


def test_the_homeworks_share_the_carried_over_functions():
    assert {"affine_forward", "batchnorm_backward", "dropout_forward", "softmax_loss", "adam"} <= SHARED


def _definitions(files: list[Path]) -> dict[str, set[Path]]:
    """Top-level function and class name -> the real files that define it."""
    found = defaultdict(set)
    for path in files:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                found[node.name].add(path)
    return found


def test_every_solution_function_is_written_once():
    """No function or class of any homework's package is defined in two real files of source/."""
    files = [p for p in real_files(SOURCE, "*.py") if "public_checks" not in p.parts]
    twice = {name: sorted(str(p.relative_to(REPO)) for p in paths)
             for name, paths in _definitions(files).items() if len(paths) > 1}
    assert not twice, twice


def _graded_by(test: ast.FunctionDef) -> str | None:
    for decorator in test.decorator_list:
        name = getattr(decorator.func, "attr", getattr(decorator.func, "id", None)) \
            if isinstance(decorator, ast.Call) else None
        if name in ("grades", "public_check") and decorator.args and isinstance(decorator.args[0], ast.Constant):
            return decorator.args[0].value
    return None


@pytest.mark.parametrize("root, pattern", [(SUITES, "test_*.py"), (SOURCE, "public_checks/*.py")],
                         ids=["hidden-tests", "public-checks"])
def test_the_tests_of_a_shared_function_live_in_one_file(root, pattern):
    """Each shared function's hidden tests (and its public checks) are in one real file, linked from the other."""
    where = defaultdict(set)
    for path in real_files(root, pattern):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and _graded_by(node) in SHARED:
                where[_graded_by(node)].add(path)
    assert set(where) == SHARED, sorted(SHARED - set(where))
    spread = {name: sorted(str(p.relative_to(REPO)) for p in paths) for name, paths in where.items() if len(paths) > 1}
    assert not spread, spread


def test_every_catalogued_mistake_is_written_once():
    names = defaultdict(set)
    for path in real_files(SUITES, "mutations*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(getattr(node.func, "id", None), str) and node.func.id == "M":
                names[node.args[0].value].add(path)
    assert len(names) > 40
    assert not {name: paths for name, paths in names.items() if len(paths) > 1}


@pytest.mark.parametrize("link", [
    "source/cnn/nnl/layers.py", "source/cnn/nnl/layer_utils.py", "source/cnn/nnl/optim.py",
    "source/cnn/public_checks/layers.py", "source/cnn/public_checks/optim.py",
    "autograder/suites/cnn/test_layers.py", "autograder/suites/cnn/test_relu.py", "autograder/suites/cnn/test_optim.py",
    "autograder/suites/cnn/mutations_layers.py",
])
def test_cnn_reaches_the_shared_pieces_through_relative_links_into_fcnet(link):
    path = REPO / link
    assert path.is_symlink() and not Path(path.readlink()).is_absolute(), f"{link} should be a relative link"
    assert path.resolve().is_file() and "fcnet" in path.resolve().relative_to(REPO).parts
