"""The submission under test, as the hidden suites see it: calls that go through the sandbox."""
from __future__ import annotations

import copy

from autograder.grading.diagnosis import Call
from autograder.grading.rubric import Rubric
from autograder.sandbox.sandbox import Handle, Sandbox, StudentError

HINTS = {
    "NotImplementedError": "is not implemented yet (it still raises NotImplementedError).",
    "import": "its module could not be imported",
    "timeout": "took too long (an endless loop, or far too slow?)",
    "crash": "crashed the worker (exit, os._exit, a signal or exhausted memory)",
}


def describe(name: str, err: StudentError) -> str:
    """One line of feedback for a student error in ``name``."""
    if err.type_name == "NotImplementedError":
        return f"{name} {HINTS['NotImplementedError']}"
    where = f" ({err.traceback[-1]})" if err.traceback else ""
    if err.kind == "exception":
        return f"{name} raised {err.type_name}: {err.message}{where}"
    return f"{name}: {HINTS.get(err.kind, err.kind)}: {err.type_name} {err.message}{where}".strip()


class StudentCodeFailed(AssertionError):
    """The student's code raised, crashed or timed out; the message is the feedback."""


class Student:
    """Calls into one student's submission by graded name.

    Parameters
    ----------
    sandbox : Sandbox
        The running sandbox over the submission.
    rubric : Rubric
        Says which module defines each graded name.
    """

    def __init__(self, sandbox: Sandbox, rubric: Rubric):
        self.sandbox = sandbox
        self.modules = {name: graded.module for name, graded in rubric.functions.items()}
        self.journal: list[Call] = []  # this test's calls and answers, for the diagnosis of a failure
        self._imported: set[str] = set()
        self._broken: dict[str, str] = {}  # module or function name -> the feedback of its first failure

    def _ensure_imported(self, module: str) -> None:
        """Import ``module`` once; a module that failed to import fails every later call at once.

        Importing is deterministic, so an import that raised, exited or looped is not retried
        for every test (an endless loop at import would otherwise cost a timeout per test).
        """
        if module in self._imported:
            return
        if module not in self._broken:
            try:
                self.sandbox.import_module(module)
                self._imported.add(module)
                return
            except StudentError as err:
                self._broken[module] = f"{module.replace('.', '/')}.py could not be imported: " + \
                    describe(module, err).split(": ", 1)[-1]
        raise StudentCodeFailed(self._broken[module])

    def _run(self, name: str, thunk, module: str | None = None):
        if module is not None:
            self._ensure_imported(module)
        if name in self._broken:
            raise StudentCodeFailed(self._broken[name])
        try:
            return thunk()
        except StudentError as err:
            feedback = describe(name, err)
            if err.kind == "timeout":  # not called again: each further call would cost another timeout
                self._broken[name] = feedback + " (not called again in this grading)"
            raise StudentCodeFailed(feedback) from None

    def call(self, name: str, *args, substitute=None, mutated: bool = False, **kwargs):
        """``name(*args, **kwargs)`` in the sandbox; ``substitute`` maps dependency names to reference callables."""
        module = self.modules[name]
        result = self._run(name, lambda: self.sandbox.call(module, name, *args, substitute=substitute,
                                                           mutated=mutated, **kwargs), module)
        self._log(Call("call", name, module, None, args, kwargs, mutated, result))
        return result

    def call_in(self, module: str, name: str, *args, substitute=None, **kwargs):
        """Call a provided (not graded) function of the submission, e.g. ``nnl.layer_utils``."""
        result = self._run(name, lambda: self.sandbox.call(module, name, *args, substitute=substitute, **kwargs),
                           module)
        self._log(Call("call", name, module, None, args, kwargs, False, result))
        return result

    def many(self, name: str, arg_tuples, output: int | None = 0, substitute=None, **kwargs) -> list:
        """``name`` on every argument tuple in one round trip; keep element ``output`` of tuple results."""
        module = self.modules[name]
        arg_tuples = list(arg_tuples)
        results = self._run(name, lambda: self.sandbox.call_many(module, name, arg_tuples,
                                                                 substitute=substitute, **kwargs), module)
        self._log(Call("many", name, module, None, arg_tuples, kwargs, False, results))
        if output is None:
            return results
        return [r[output] if isinstance(r, (tuple, list)) else r for r in results]

    def new(self, name: str, *args, **kwargs) -> Handle:
        """An instance of the graded class ``name``, kept in the sandbox."""
        return self.call(name, *args, **kwargs)

    def method(self, owner: str, target: Handle, method: str, *args, substitute=None, **kwargs):
        """``target.method(*args)`` of an object of the graded class ``owner``."""
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
