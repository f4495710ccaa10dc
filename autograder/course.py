"""The course the kit runs: its folders, and its assignments, each known from its own files.

An assignment ``<a>`` is a folder ``source/<a>/`` (notebooks and the package
students write, solution regions inside) with its hidden suite
``autograder/suites/<a>/`` (tests, ``rubric.toml``, catalogue). Nothing else
names it: commands take the assignment's name, and where the course has only
one, they use it; otherwise they refuse and list the ones there are.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from autograder.paths import REPO_ROOT, SUITES

COURSE_FILES = ("nbgrader_config.py", "course_settings.py", "source", "utils")
SOURCE = "source"


class AssignmentError(ValueError):
    """No assignment of that name, or several and none named; the message lists the known ones."""


def known_assignments(root: Path = REPO_ROOT) -> list[str]:
    """The assignments of the course at ``root``: the folders of ``source/``, sorted."""
    source = Path(root) / SOURCE
    if not source.is_dir():
        return []
    return sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def resolve_assignment(name: str | None, root: Path = REPO_ROOT) -> str:
    """The assignment a command works on: ``name``, or the course's only one when ``name`` is None.

    Raises
    ------
    AssignmentError
        When ``name`` is not an assignment of the course, or the course has several (or none)
        and no name was given; the message lists the known assignments.
    """
    known = known_assignments(root)
    listed = ", ".join(known) or f"none: {Path(root) / SOURCE} has no assignment folder"
    if name is None:
        if len(known) == 1:
            return known[0]
        if not known:
            raise AssignmentError(f"the course has no assignment (known: {listed})")
        raise AssignmentError(f"the course has {len(known)} assignments ({listed}): name one, e.g. "
                              f"--assignment {known[0]}")
    if name not in known:
        raise AssignmentError(f"no assignment {name!r} in {Path(root) / SOURCE} (known: {listed})")
    return name


def source_folder(assignment: str, root: Path = REPO_ROOT) -> Path:
    """``source/<assignment>``: the instructor's version, solutions inside."""
    return Path(root) / SOURCE / assignment


def release_folder(assignment: str, root: Path = REPO_ROOT) -> Path:
    """``release/<assignment>``: what students get (generated)."""
    return Path(root) / "release" / assignment


def solutions_folder(assignment: str, root: Path = REPO_ROOT) -> Path:
    """``solutions_private/<assignment>``: the solved copy (generated, never released)."""
    return Path(root) / "solutions_private" / assignment


def suite_path(assignment: str) -> Path:
    """``autograder/suites/<assignment>``: the hidden suite (it may not exist yet)."""
    return SUITES / assignment


def copy_course(dest: Path, root: Path = REPO_ROOT) -> Path:
    """Copy what an instructor edits (config, source, utils) into a course folder ``dest`` (created if missing).

    Symlinked files (an assignment reusing another's module) are copied as files.

    Returns
    -------
    Path
        ``dest``, ready for ``nbgrader generate_assignment``.
    """
    from autograder.authoring.generate import DEFAULT_IGNORE, UTILS_IGNORE  # not at import: nbformat is slow

    dest.mkdir(parents=True, exist_ok=True)
    for name in COURSE_FILES:
        src = Path(root) / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns(*DEFAULT_IGNORE, *UTILS_IGNORE))
        else:
            shutil.copy(src, dest / name)
    return dest


def course_id(root: Path = REPO_ROOT) -> str:
    """The nbgrader course id set in the course's ``course_settings.py`` (``c.CourseDirectory.course_id``)."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("course_settings.py", path=str(root)).load_config()
    course = config.CourseDirectory.get("course_id")
    if not course:
        raise AssignmentError(f"{Path(root) / 'course_settings.py'} sets no c.CourseDirectory.course_id")
    return str(course)


def environment(name: str, legacy: str, default: str | None = None) -> str | None:
    """The environment variable ``name``, or its older name ``legacy`` (still accepted), or ``default``."""
    return os.environ.get(name, os.environ.get(legacy, default))
