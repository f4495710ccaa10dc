"""Deliberately broken variants of the reference: the mutation catalogue's machinery.

A `Mutation` names one realistic mistake in one graded function as text
edits of the reference source (``"axis=(1, 2, 3)) + b"`` -> ``"axis=(1, 2, 3))"``:
"forgot the bias"). The catalogue of an assignment lives beside its hidden
suite (``suites/<assignment>/mutations.py`` and ``mutations_*.py``, each a list
``MUTATIONS``). It proves
that every hidden test can fail (``validate``), and its ``mistake`` texts are
what the feedback names when a student's outputs match a mutant's.
"""
from __future__ import annotations

import ast
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path


class MutationError(ValueError):
    """A mutation no longer fits the reference (its text is not in the function)."""


@dataclass(frozen=True)
class Mutation:
    """One catalogued mistake.

    Attributes
    ----------
    name : str
        Short unique id (``conv_forward_no_bias``).
    function : str
        The graded function or class it breaks.
    module : str
        Its file in the assignment folder (``nnl/conv_layers.py``).
    edits : tuple of (str, str)
        ``(old, new)`` text replacements, each applied once inside ``function``'s source.
    mistake : str
        What the student did, as feedback names it ("the bias b is not added").
    """

    name: str
    function: str
    module: str
    edits: tuple[tuple[str, str], ...]
    mistake: str


def _span(tree: ast.Module, name: str) -> tuple[int, int]:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return node.lineno - 1, node.end_lineno
    raise MutationError(f"no top-level {name}")


def mutate_source(text: str, mutation: Mutation) -> str:
    """The module text with the mutation's edits applied inside its function.

    Raises
    ------
    MutationError
        When an edit's ``old`` text does not occur in the function (the catalogue is stale).
    """
    try:
        start, end = _span(ast.parse(text), mutation.function)
    except MutationError as err:
        raise MutationError(f"{mutation.name}: {mutation.module}: {err}") from None
    lines = text.split("\n")
    body = "\n".join(lines[start:end])
    for old, new in mutation.edits:
        if old not in body:
            raise MutationError(f"{mutation.name}: {old!r} is not in {mutation.function} of {mutation.module}")
        body = body.replace(old, new, 1)
    return "\n".join(lines[:start] + body.split("\n") + lines[end:])


def write_mutant(solved: Path, mutation: Mutation, dest: Path) -> Path:
    """A copy of the solved assignment folder ``solved`` with ``mutation`` applied, at ``dest``."""
    shutil.copytree(solved, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    module = dest / mutation.module
    module.write_text(mutate_source(module.read_text(), mutation))
    return dest


def catalogue_files(suite: Path) -> list[Path]:
    """The catalogue files of a suite: ``mutations.py`` and ``mutations_*.py`` (a shared module's
    mistakes, e.g. a link to the assignment that introduced that module), sorted."""
    return sorted(p for p in Path(suite).glob("mutations*.py") if p.is_file())


def load_catalogue(suite: Path) -> list[Mutation]:
    """The ``MUTATIONS`` of every catalogue file of ``suite``, checked for unique names.

    Raises
    ------
    MutationError
        When a file has no ``MUTATIONS`` list or two mutations share a name.
    """
    mutations = []
    for path in catalogue_files(suite):
        spec = importlib.util.spec_from_file_location(f"_mutations_{Path(suite).name}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not isinstance(getattr(module, "MUTATIONS", None), list):
            raise MutationError(f"{path}: needs a list MUTATIONS of Mutation(...)")
        mutations += module.MUTATIONS
    names = [m.name for m in mutations]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise MutationError(f"{suite}: repeated mutation names {repeated}")
    return mutations
