"""The rubric: points per graded function, split across the hidden tests that grade it."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path


class RubricError(ValueError):
    """The rubric file or the suites' tags do not add up; the message says where."""


@dataclass(frozen=True)
class Graded:
    """One graded function or class.

    Attributes
    ----------
    name : str
        As students write it (``spatial_batchnorm_forward``, ``ThreeLayerConvNet``).
    module : str
        The student module that defines it (``nnl.conv_layers``).
    points : float
        Its share of the assignment's total.
    notebook : str or None
        The notebook whose score cell carries its score, when the rubric says (``sync-score-cells``
        otherwise puts it beside the other functions of its module).
    """

    name: str
    module: str
    points: float
    notebook: str | None = None


@dataclass(frozen=True)
class Rubric:
    """Points of an assignment, read from ``rubric.toml``.

    Attributes
    ----------
    path : Path
    total : float
    functions : dict of str to Graded
    """

    path: Path
    total: float
    functions: dict[str, Graded]

    @classmethod
    def load(cls, path: Path) -> "Rubric":
        """Read and check a rubric file.

        Raises
        ------
        RubricError
            On a missing ``total``, an entry without ``module`` or with non-positive points, or a
            total that is not the sum of the points.
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise RubricError(f"{path}: cannot read the rubric: {err}") from err
        if "total" not in data or not data.get("functions"):
            raise RubricError(f"{path}: needs `total = N` and a [functions] table")
        functions = {}
        for name, entry in data["functions"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("module"), str):
                raise RubricError(f"{path}: functions.{name} needs a `module`: the dotted module students write it in")
            points = entry.get("points")
            if not isinstance(points, (int, float)) or points <= 0:
                raise RubricError(f"{path}: functions.{name} needs `points` > 0, not {points!r}")
            notebook = entry.get("notebook")
            if notebook is not None and not (isinstance(notebook, str) and notebook.endswith(".ipynb")):
                raise RubricError(f"{path}: functions.{name}: `notebook` names a notebook file (\"Name.ipynb\"), "
                                  f"not {notebook!r}")
            unknown = sorted(set(entry) - {"module", "points", "notebook"})
            if unknown:
                raise RubricError(f"{path}: functions.{name}: unknown keys {unknown} (module, points, notebook)")
            functions[name] = Graded(name, entry["module"], float(points), notebook)
        total = sum(g.points for g in functions.values())
        if abs(total - float(data["total"])) > 1e-9:
            raise RubricError(f"{path}: the points add up to {total:g}, but total = {data['total']}")
        return cls(path, float(data["total"]), functions)

    def split(self, tests_by_function: dict[str, list[str]]) -> dict[str, float]:
        """Points of each test: its function's points shared equally by the function's tests.

        Parameters
        ----------
        tests_by_function : dict of str to list of str
            Test ids grouped by the function they grade.

        Raises
        ------
        RubricError
            When a test grades a function the rubric does not know, or a function has no test
            (its points would silently vanish from the total).
        """
        unknown = sorted(set(tests_by_function) - set(self.functions))
        if unknown:
            raise RubricError(f"{self.path}: tests grade functions missing from the rubric: {unknown}")
        untested = sorted(name for name in self.functions if not tests_by_function.get(name))
        if untested:
            raise RubricError(f"{self.path}: no hidden test grades {untested}; their points would be lost")
        return {test: self.functions[name].points / len(tests)
                for name, tests in tests_by_function.items() for test in tests}
