"""Name a student's mistake from the mutation catalogue.

While a hidden test runs, `Student` keeps a journal of the calls it made into
the submission and what came back. When the test fails, the journal is
replayed here, in the grader's process, against each catalogued mutant of the
tested function (the reference module with that mistake applied; our own
code, never the student's). If every output the student's function gave
matches the mutant's on the same inputs, the feedback names that mistake:
"your outputs match a known mistake: x is reshaped to (N*H*W, C) without
moving C last first".
"""
from __future__ import annotations

import copy
import importlib
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autograder.grading.mutations import Mutation, mutate_source
from autograder.sandbox.sandbox import Handle


@dataclass
class Call:
    """One journal entry: what the grader asked the submission and what it answered."""

    kind: str                     # "call", "new", "bare", "method", "attr" or "many"
    name: str                     # graded name, or method / attribute name
    module: str | None            # for "call"/"new"/"bare"/"many": the module that defines ``name``
    target: Any = None            # for "method"/"attr": the Handle it was called on
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    mutated: bool = False
    result: Any = None
    owner: str | None = None      # the graded class a method or attribute belongs to


def _leaves(value, path=()):
    """Yield ``(path, leaf)`` over nested tuples, lists and dicts."""
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from _leaves(value[key], path + (key,))
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from _leaves(item, path + (index,))
    else:
        yield path, value


def outputs_match(student, mutant, rtol: float = 1e-6, atol: float = 1e-8) -> bool | None:
    """Do all the numeric leaves the student returned equal the mutant's, position by position?

    Handles (opaque objects) are skipped; None when nothing numeric was returned (a constructor,
    a setter), so that such a call neither confirms nor rules out the mistake. Only finite
    values match: an overflow to ``inf`` (or a NaN) says nothing about which mistake was made,
    even where a mutant overflows the same way.
    """
    theirs = dict(_leaves(mutant))
    compared = 0
    for path, leaf in _leaves(student):
        if isinstance(leaf, Handle) or leaf is None or isinstance(leaf, (str, bool)):
            continue
        if path not in theirs:
            return False
        try:
            mine = np.asarray(leaf, dtype=np.float64)
            other = np.asarray(theirs[path], dtype=np.float64)
        except (TypeError, ValueError):
            return False
        if mine.shape != other.shape or not (np.isfinite(mine).all() and np.isfinite(other).all()):
            return False
        if not np.allclose(mine, other, rtol=rtol, atol=atol):
            return False
        compared += 1
    return True if compared else None


class Diagnoser:
    """Replays journals against the catalogue's mutants.

    Parameters
    ----------
    reference : Path
        The reference assignment folder (``source/cnn``); its ``nnl`` is importable in this process.
    catalogue : list of Mutation
    """

    def __init__(self, reference: Path, catalogue: list[Mutation]):
        self.reference = Path(reference)
        self.catalogue = catalogue
        if str(self.reference) not in sys.path:  # the unmutated modules are the reference's own
            sys.path.insert(0, str(self.reference))
        self._namespaces: dict[str, dict[str, types.ModuleType]] = {}

    def _namespace(self, mutation: Mutation) -> dict[str, types.ModuleType]:
        """Module name -> module, with the mutated module replacing the reference one."""
        if mutation.name not in self._namespaces:
            module_name = mutation.module[:-3].replace("/", ".")
            source = mutate_source((self.reference / mutation.module).read_text(), mutation)
            mutant = types.ModuleType(f"_mutant_{mutation.name}")
            mutant.__file__ = str(self.reference / mutation.module)
            exec(compile(source, mutant.__file__, "exec"), mutant.__dict__)
            self._namespaces[mutation.name] = {module_name: mutant}
        return self._namespaces[mutation.name]

    def _replay(self, journal: list[Call], namespace: dict[str, types.ModuleType], function: str):
        """Yield ``(student result, mutant result)`` for every call of ``function`` in the journal."""
        objects: dict[int, Any] = {}

        def resolve(value):
            if isinstance(value, Handle):
                if value.id not in objects:
                    raise LookupError("an object made outside the journal")
                return objects[value.id]
            if isinstance(value, tuple):
                return tuple(resolve(v) for v in value)
            if isinstance(value, list):
                return [resolve(v) for v in value]
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            return copy.deepcopy(value)

        def remember(student_value, mutant_value):
            if isinstance(student_value, Handle):
                objects[student_value.id] = mutant_value
            elif isinstance(student_value, (tuple, list)) and isinstance(mutant_value, (tuple, list)):
                for s, m in zip(student_value, mutant_value):
                    remember(s, m)

        def lookup(module: str, name: str):
            loaded = namespace.get(module) or importlib.import_module(module)
            return getattr(loaded, name)

        for call in journal:
            if call.kind == "many":
                fn = lookup(call.module, call.name)
                outputs = [fn(*resolve(args), **resolve(call.kwargs)) for args in call.args]
                if call.name == function:
                    yield call.result, outputs
                continue
            args, kwargs = resolve(call.args), resolve(call.kwargs)
            if call.kind in ("call", "new"):
                result = lookup(call.module, call.name)(*args, **kwargs)
            elif call.kind == "bare":  # made without __init__, given the attributes in kwargs
                cls = lookup(call.module, call.name)
                result = cls.__new__(cls)
                for attribute, value in kwargs.items():
                    setattr(result, attribute, value)
            elif call.kind == "method":
                result = getattr(resolve(call.target), call.name)(*args, **kwargs)
            else:  # attr
                result = getattr(resolve(call.target), call.name)
            if call.mutated:
                result = (result, (args, kwargs))
            remember(call.result, result)
            if call.name == function or call.owner == function:
                yield call.result, result

    def diagnose(self, journal: list[Call], function: str) -> Mutation | None:
        """The first catalogued mistake of ``function`` whose outputs all equal the student's, if any."""
        for mutation in self.catalogue:
            if mutation.function != function:
                continue
            try:
                pairs = list(self._replay(journal, self._namespace(mutation), function))
            except Exception:  # the mutant cannot even replay these calls: not this mistake
                continue
            verdicts = [outputs_match(student, mutant) for student, mutant in pairs]
            compared = [verdict for verdict in verdicts if verdict is not None]
            if compared and all(compared):
                return mutation
        return None
