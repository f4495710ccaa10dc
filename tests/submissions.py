"""Build student submissions for the grader's tests: the solved copy with some functions replaced.

Also `marked_processes`, to find what a grading of one of them left running.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOLVED = REPO / "solutions_private" / "cnn"
RELEASE = REPO / "release" / "cnn"


def copy_of(folder: Path, dest: Path) -> Path:
    """A throwaway copy of an assignment folder (solved or release)."""
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def replace_function(module: Path, name: str, source: str) -> None:
    """Replace the top-level function or class ``name`` of ``module`` by ``source``.

    ``source`` is dedented; it may define helpers too. Raises KeyError when the module has no
    top-level ``name``.
    """
    text = module.read_text()
    lines = text.split("\n")
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            new = textwrap.dedent(source).strip("\n").split("\n")
            module.write_text("\n".join(lines[:start] + new + lines[node.end_lineno:]))
            return
    raise KeyError(f"{module} has no top-level {name}")


# A student module that hangs at import: its grading outlasts any time limit, however fast the machine.
HANG_AT_IMPORT = {"nnl/optim.py": {"sgd": '''
    import time as _time
    _time.sleep(10 ** 6)

    def sgd(w, dw, config=None):
        return w, config
    '''}}


# Appended to every student module: each of its functions and classes sleeps when called, so a
# grading of it lasts minutes (each graded function costs a call's time limit) however fast the machine.
HANG_IN_EVERY_FUNCTION = """

import time as _hang_time


def _hang(*args, **kwargs):
    _hang_time.sleep(10 ** 6)


for _name, _value in list(globals().items()):
    if callable(_value) and getattr(_value, "__module__", None) == __name__ and not _name.startswith("_"):
        globals()[_name] = _hang
"""


def hanging_everywhere(dest: Path, solved: Path = SOLVED) -> Path:
    """The solved copy with every function and class of its student modules hanging when called."""
    copy_of(solved, dest)
    for module in sorted((dest / "nnl").glob("*.py")):
        if module.name != "__init__.py":
            module.write_text(module.read_text() + HANG_IN_EVERY_FUNCTION)
    return dest


def solved_with(dest: Path, replacements: dict[str, dict[str, str]], solved: Path = SOLVED) -> Path:
    """The solved copy (cnn's unless ``solved`` says) with functions replaced:
    ``{"nnl/layers.py": {"relu_forward": "def ..."}}``."""
    copy_of(solved, dest)
    for module, functions in replacements.items():
        for name, source in functions.items():
            replace_function(dest / module, name, source)
    return dest


def grade_json(submission: Path, out: Path, *extra: str) -> dict:
    """Run the real grading command on ``submission`` and return the parsed results."""
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--assignment", "cnn",
                             "--json", str(out),
                             *extra], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"grading failed ({result.returncode}): {result.stderr[-3000:]}"
    return json.loads(out.read_text())


def scores_by_tag(results: dict) -> dict[str, tuple[float, float]]:
    """``{function: (earned, possible)}`` over the tests tagged with it."""
    totals: dict[str, list[float]] = {}
    for test in results["tests"]:
        for tag in test["tags"]:
            earned, possible = totals.setdefault(tag, [0.0, 0.0])
            totals[tag] = [earned + test["score"], possible + test["max_score"]]
    return {tag: (round(e, 9), round(p, 9)) for tag, (e, p) in totals.items()}


def marked_processes(marker: str) -> list[int]:
    """Live (non-zombie) processes whose command line carries ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry))
    return found
