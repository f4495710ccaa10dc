"""The reference solution of an assignment, imported in the grader's process for the hidden suites.

The reference is the assignment's solution source (``source/<assignment>``). Its package is the
one the rubric's ``module`` entries name (``nnl.layers`` -> ``nnl``); every module of that
package is imported, and the suites see every public name as ``ref.<name>``.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace

from autograder.grading.rubric import Rubric


class ReferenceError(ImportError):
    """The reference solution cannot be imported; the message names the folder and module."""


def packages_of(rubric: Rubric) -> list[str]:
    """The top-level packages of the rubric's graded modules (``["nnl"]``)."""
    return sorted({graded.module.split(".")[0] for graded in rubric.functions.values()})


def load_reference(folder: Path, rubric: Rubric) -> SimpleNamespace:
    """Every public name of every module of the rubric's packages in ``folder``.

    Parameters
    ----------
    folder : Path
        The reference assignment folder (``source/<assignment>``), holding the package(s).
    rubric : Rubric

    Returns
    -------
    SimpleNamespace
        ``ref.conv_forward_naive`` and so on; names defined in several modules are the same object.

    Raises
    ------
    ReferenceError
        When a package folder is missing or a module fails to import.
    """
    folder = Path(folder).resolve()
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    names: dict = {}
    for package in packages_of(rubric):
        where = folder / package
        if not (where / "__init__.py").is_file():
            raise ReferenceError(f"{where}: no package {package!r} (the rubric's modules name it)")
        for path in sorted(where.glob("*.py")):
            module = package if path.stem == "__init__" else f"{package}.{path.stem}"
            try:
                loaded = importlib.import_module(module)
            except Exception as err:
                raise ReferenceError(f"{path}: the reference does not import: {type(err).__name__}: {err}") from err
            names.update({k: v for k, v in vars(loaded).items() if not k.startswith("_")})
    return SimpleNamespace(**names)
