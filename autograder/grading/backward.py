"""Backward passes graded fairly, whatever the student's forward pass did.

A backward pass takes the cache of its forward pass. The hidden suites grade
it on the student's own cache (caches are opaque: any layout is right), and,
whenever the student's forward pass is not right on the test's inputs, also on
the documented cache (``(x, w, b)`` for affine) or the reference's, so a
forward bug costs the forward's tests only. "Not right" is every way a
forward can fail: it raises, returns the wrong values or structure, times
out, crashes, or returns more than the sandbox can send back.

Example
-------
>>> caches, _ = backward_caches(student, "affine_forward", (x, w, b), ref_out, documented=(x, w, b))
>>> first_passing(caches, lambda cache: check_affine_backward(student.call("affine_backward", dout, cache)))
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from autograder.grading.checks import matches


def student_forward(student, name: str, args: tuple, expected_out) -> tuple[Any, bool]:
    """The student's forward pass ``name(*args)`` for a backward test.

    Parameters
    ----------
    student : Student
    name : str
        The graded forward function (returns ``(out, cache)``).
    args : tuple
        Its inputs (dicts are copied, so the caller's stay as they are).
    expected_out : array
        The reference's ``out`` on these inputs.

    Returns
    -------
    tuple
        ``(cache, correct)``: the student's cache, ``None`` when the forward failed in any way or
        did not return ``(out, cache)``, and whether its ``out`` equals ``expected_out``.
    """
    args = tuple(dict(a) if isinstance(a, dict) else a for a in args)
    try:
        result = student.call(name, *args)
    except AssertionError:  # raised, crashed, timed out, too large to return: the forward's own tests say so
        return None, False
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return None, False
    return result[1], matches(result[0], expected_out)


def backward_caches(student, name: str, args: tuple, expected_out, documented) -> tuple[list, bool]:
    """The caches to grade a backward pass on: the student's own, then ``documented`` unless the forward is right.

    Parameters
    ----------
    student, name, args, expected_out
        As for `student_forward`.
    documented : object
        A correct forward pass's cache: the documented layout (``(x, w, b)``) or the reference's.

    Returns
    -------
    tuple
        ``(caches, correct)``: one or two caches, the student's own first, and whether the
        student's forward is right on these inputs.
    """
    cache, correct = student_forward(student, name, args, expected_out)
    return ([cache] if cache is not None else []) + ([documented] if not correct else []), correct


def first_passing(candidates: Iterable, check: Callable[[Any], None]) -> None:
    """Pass when ``check`` passes for one candidate (tried in order); else raise the first one's failure.

    ``check`` raises an ``AssertionError`` (a failed check, or student code that failed) to say no.
    """
    failures = []
    for candidate in candidates:
        try:
            check(candidate)
            return
        except AssertionError as failure:
            failures.append(failure)
    if not failures:
        raise ValueError("first_passing: no candidate to check")
    raise failures[0]
