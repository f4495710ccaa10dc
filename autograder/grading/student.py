"""The submission under test, as the hidden suites see it: calls that go through the sandbox."""
from __future__ import annotations

import contextlib
import copy

import numpy as np

from autograder.grading.diagnosis import Call
from autograder.grading.rubric import Rubric
from autograder.sandbox.sandbox import REFERENCE_CACHE_PART, Handle, Sandbox, StudentError

HINTS = {
    "NotImplementedError": "is not implemented yet (it still raises NotImplementedError).",
    "import": "its module could not be imported",
    "timeout": "took too long (an endless loop, or far too slow?)",
    "crash": "crashed the worker (exit, os._exit, a signal or exhausted memory)",
    "protocol": "returned something that could not be read back",
}


def describe(name: str, err: StudentError) -> str:
    """One line of feedback for a student error in ``name``, in the student's terms."""
    if err.type_name == "NotImplementedError":
        return f"{name} {HINTS['NotImplementedError']}"
    where = f" ({err.traceback[-1]})" if err.traceback else ""
    if err.kind == "too_large":
        return f"{name}'s output could not be returned: {err.message}."
    if err.type_name == "MemoryError":
        return f"{name} ran out of memory: {err.message or 'MemoryError'}{where}"
    if err.kind == "exception":
        return f"{name} raised {err.type_name}: {err.message}{where}{_reference_cache_note(err)}"
    detail = " ".join(part for part in (err.type_name, err.message) if part)
    return f"{name}: {HINTS.get(err.kind, err.kind)}: {detail}{where}".strip()


def _reference_cache_note(err: StudentError) -> str:
    """Why the student's code met an opaque object, when it looked inside a reference's cache."""
    if REFERENCE_CACHE_PART not in err.message:
        return ""
    return (f" ({REFERENCE_CACHE_PART} is a part of a cache made by the reference's version of a function "
            "your code calls, which this check used instead of yours; your code should only pass a cache "
            "on to the backward function of the layer that made it, not look inside it.)")


def _path(module: str) -> str:
    """The file of a dotted module name, as the student sees it: ``nnl/conv_layers.py``."""
    return f"{module.replace('.', '/')}.py"


class StudentCodeFailed(AssertionError):
    """The student's code raised, crashed or timed out; the message is the feedback.

    Attributes
    ----------
    error : StudentError or None
        What the sandbox reported (None for a failure remembered from an earlier call).
    """

    def __init__(self, message: str, error: StudentError | None = None):
        super().__init__(message)
        self.error = error


def raised_in_own_stub(failure: BaseException, graded: str, module: str) -> bool:
    """Whether ``failure`` is ``graded``'s own unimplemented stub (a NotImplementedError raised in its module,
    by ``graded`` itself or, for a class, by one of its methods): then no substitute of what it calls helps."""
    error = getattr(failure, "error", None)
    if error is None or error.type_name != "NotImplementedError" or not error.traceback:
        return False
    where, _, rest = error.traceback[-1].partition(" in ")
    function = rest.split(":", 1)[0]
    in_module = where.rsplit(":", 1)[0] == _path(module)
    return in_module and (function == graded or graded[:1].isupper())


class _Recorder:
    """A reference callable standing in for a student dependency; remembers the arguments it got."""

    def __init__(self, function, calls: list):
        self.function, self.calls = function, calls

    def __call__(self, *args, **kwargs):
        self.calls.append(tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args))
        return self.function(*args, **kwargs)


class Student:
    """Calls into one student's submission by graded name.

    Parameters
    ----------
    sandbox : Sandbox
        The running sandbox over the submission.
    rubric : Rubric
        Says which module defines each graded name.

    Notes
    -----
    Inside `isolated`, every call also replaces the named dependencies (graded functions the
    function under test calls) by the reference's, in the worker, and records what the student's
    code passed to them (`received`).
    """

    def __init__(self, sandbox: Sandbox, rubric: Rubric):
        self.sandbox = sandbox
        self.modules = {name: graded.module for name, graded in rubric.functions.items()}
        self.journal: list[Call] = []  # this test's calls and answers, for the diagnosis of a failure
        self._imported: set[str] = set()
        self._broken: dict[tuple, str] = {}  # (module or function, isolation) -> the feedback of its first failure
        self._isolation: dict[str, _Recorder] = {}
        self._received: dict[str, list[tuple]] = {}

    # -- isolation of a function from the graded functions it calls ----------------------------

    @contextlib.contextmanager
    def isolated(self, references: dict):
        """Within the block, the graded functions ``references`` names are the reference's in every call.

        Parameters
        ----------
        references : dict of str to callable
            Dependency name -> the reference implementation.
        """
        self._received = {name: [] for name in references}
        self._isolation = {name: _Recorder(function, self._received[name]) for name, function in references.items()}
        try:
            yield self
        finally:
            self._isolation = {}

    @property
    def isolating(self) -> tuple[str, ...]:
        """The dependencies replaced by the reference's at the moment (empty outside `isolated`)."""
        return tuple(sorted(self._isolation))

    def received(self, dependency: str) -> list[tuple]:
        """The arguments of each call the student's code made to ``dependency`` while isolated (copies)."""
        return list(self._received.get(dependency, []))

    def _substitutes(self, called: str, explicit: dict | None) -> dict | None:
        merged = {name: f for name, f in self._isolation.items() if name != called}
        merged.update(explicit or {})
        return merged or None

    # -- calls ----------------------------------------------------------------------------------

    def _ensure_imported(self, module: str) -> None:
        """Import ``module`` once; a module that failed to import fails every later call at once.

        Importing is deterministic, so an import that raised, exited or looped is not retried
        for every test (an endless loop at import would otherwise cost a timeout per test), and a
        module whose import timed out is refused in the sandbox, so that every module importing it
        fails at once instead of costing a timeout of its own.
        """
        if module in self._imported:
            return
        key = (module, ())
        if key not in self._broken:
            try:
                self.sandbox.import_module(module)
                self._imported.add(module)
                return
            except StudentError as err:
                self._broken[key] = f"{_path(module)} could not be imported: " + \
                    describe(module, err).split(": ", 1)[-1]
                if err.kind == "timeout":  # the modules importing the stuck one fail at once, not by timing out
                    stuck = err.importing[-1] if err.importing else module
                    if stuck != module:
                        self._broken[key] += f" (stuck in the top-level code of {_path(stuck)})"
                        self._broken.setdefault((stuck, ()), f"{_path(stuck)} could not be imported: its top-level "
                                                             "code did not finish within the time limit")
                    self.sandbox.refuse_import(stuck, f"{_path(stuck)} did not finish importing within the time "
                                                      "limit in an earlier check, so it is not imported again")
        raise StudentCodeFailed(self._broken[key])

    def _run(self, name: str, thunk, module: str | None = None):
        if module is not None:
            self._ensure_imported(module)
        key = (name, self.isolating)
        if key in self._broken:
            raise StudentCodeFailed(self._broken[key])
        try:
            return thunk()
        except StudentError as err:
            feedback = describe(name, err)
            if err.kind == "timeout":  # not called again: each further call would cost another timeout
                self._broken[key] = feedback + " (not called again in this grading)"
            raise StudentCodeFailed(feedback, err) from None

    def call(self, name: str, *args, substitute=None, mutated: bool = False, **kwargs):
        """``name(*args, **kwargs)`` in the sandbox; ``substitute`` maps dependency names to reference callables."""
        module = self.modules[name]
        substitute = self._substitutes(name, substitute)
        result = self._run(name, lambda: self.sandbox.call(module, name, *args, substitute=substitute,
                                                           mutated=mutated, **kwargs), module)
        self._log(Call("call", name, module, None, args, kwargs, mutated, result))
        return result

    def call_in(self, module: str, name: str, *args, substitute=None, **kwargs):
        """Call a provided (not graded) function of the submission, e.g. ``nnl.layer_utils``."""
        substitute = self._substitutes(name, substitute)
        result = self._run(name, lambda: self.sandbox.call(module, name, *args, substitute=substitute, **kwargs),
                           module)
        self._log(Call("call", name, module, None, args, kwargs, False, result))
        return result

    def many(self, name: str, arg_tuples, output: int | None = 0, substitute=None, **kwargs) -> list:
        """``name`` on every argument tuple in one round trip; keep element ``output`` of tuple results."""
        module = self.modules[name]
        arg_tuples = list(arg_tuples)
        substitute = self._substitutes(name, substitute)
        results = self._run(name, lambda: self.sandbox.call_many(module, name, arg_tuples,
                                                                 substitute=substitute, **kwargs), module)
        self._log(Call("many", name, module, None, arg_tuples, kwargs, False, results))
        if output is None:
            return results
        return [r[output] if isinstance(r, (tuple, list)) else r for r in results]

    def new(self, name: str, *args, **kwargs) -> Handle:
        """An instance of the graded class ``name``, kept in the sandbox."""
        return self.call(name, *args, **kwargs)

    def bare(self, name: str, attributes: dict) -> Handle:
        """An instance of the graded class ``name`` made without its ``__init__``, given ``attributes``.

        One round trip: ``cls.__new__(cls)``, then ``setattr`` for each attribute in order.
        """
        module = self.modules[name]
        substitute = self._substitutes(name, None)
        result = self._run(f"{name}.__new__", lambda: self.sandbox.bare_instance(module, name, attributes,
                                                                                 substitute=substitute), module)
        self._log(Call("bare", name, module, None, (), attributes, False, result, name))
        return result

    def method(self, owner: str, target: Handle, method: str, *args, substitute=None, **kwargs):
        """``target.method(*args)`` of an object of the graded class ``owner``."""
        substitute = self._substitutes(owner, substitute)
        result = self._run(f"{owner}.{method}", lambda: self.sandbox.call_method(target, method, *args,
                                                                                 substitute=substitute, **kwargs))
        self._log(Call("method", method, None, target, args, kwargs, False, result, owner))
        return result

    def attr(self, owner: str, target: Handle, attribute: str):
        """The decoded attribute ``target.attribute`` (``model.params``)."""
        result = self._run(f"{owner}.{attribute}", lambda: self.sandbox.getattr(target, attribute))
        self._log(Call("attr", attribute, None, target, (), {}, False, result, owner))
        return result

    def _log(self, call: Call) -> None:
        """Keep a copy of the call (tests may change their arrays afterwards)."""
        call.args, call.kwargs = copy.deepcopy(call.args), copy.deepcopy(call.kwargs)
        self.journal.append(call)
