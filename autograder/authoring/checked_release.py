"""``nbgrader generate_assignment`` followed by the gate that no solution line reached the release.

nbgrader goes on without a ``nbgrader_config.py`` it cannot load (it logs the
error and uses its defaults): the kit's hook never runs, and the release
ships the assignment's ``.py`` modules with their solutions, exit status 0. This module runs the
ordinary command and then refuses, loudly, any release that shows a
solution line or was made without the course's configuration.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from autograder.nbgrader.commands import run_nbgrader

# What traitlets logs when a config file raised while loading (nbgrader then carries on without it).
CONFIG_NOT_LOADED = "Exception while loading config file"


class ReleaseRefused(RuntimeError):
    """The release could not be made, or was made unsafe and has been removed; the message says which."""


@dataclass
class CheckedRelease:
    """A release that passed the gate.

    Attributes
    ----------
    release : Path
        ``COURSE/release/<assignment>``.
    stubs : int
        Stubbed solution regions in the modules students write.
    """

    release: Path
    stubs: int


def generate_checked_release(course: Path, assignment: str, timeout: float = 600) -> CheckedRelease:
    """Run ``nbgrader generate_assignment ASSIGNMENT --force`` in ``course``, then check what it wrote.

    Inputs
    ------
    course : Path
        The course folder (holds ``nbgrader_config.py`` and ``source/<assignment>``).
    assignment : str
        The assignment id, e.g. ``"cnn"``.
    timeout : float
        Seconds nbgrader may take.

    Returns
    -------
    CheckedRelease
        The release folder and its stub count.

    Raises
    ------
    ReleaseRefused
        When nbgrader fails (the message ends with its log), when nbgrader ran
        without the course's ``nbgrader_config.py``, or when any solution line
        of ``source/<assignment>`` appears in the release. In the last two
        cases the release folder is removed, so it cannot be released by mistake.
    """
    from autograder.authoring.generate import (  # not at import: nbformat takes seconds to load
        files_students_write, find_solution_leaks)
    from autograder.authoring.solution_regions import find_regions

    course = Path(course).resolve()
    source, release = course / "source" / assignment, course / "release" / assignment
    if not source.is_dir():
        raise ReleaseRefused(f"{source}: no such assignment source folder")
    result = run_nbgrader(["generate_assignment", assignment, "--force"], cwd=course, timeout=timeout)
    if result.returncode != 0:
        raise ReleaseRefused(f"nbgrader generate_assignment {assignment} failed (exit {result.returncode}):\n"
                             f"{result.stderr[-4000:]}")
    problems = []
    if CONFIG_NOT_LOADED in result.stderr:
        log = result.stderr[result.stderr.index(CONFIG_NOT_LOADED):][:3000]
        problems.append(f"nbgrader could not load {course / 'nbgrader_config.py'} and ran without it:\n{log}")
    leaks = find_solution_leaks(source, release) if release.is_dir() else []
    if leaks:
        shown = "\n  ".join(leaks[:20])
        problems.append(f"{len(leaks)} solution line(s) reached the release:\n  {shown}")
    if problems:
        shutil.rmtree(release, ignore_errors=True)
        raise ReleaseRefused(f"release/{assignment} refused and removed:\n" + "\n".join(problems))
    if not release.is_dir():
        raise ReleaseRefused(f"nbgrader exited 0 but wrote no {release}")
    stubs = sum(len(find_regions((source / rel).read_text(), name=str(source / rel)))
                for rel in files_students_write(source))
    return CheckedRelease(release, stubs)
