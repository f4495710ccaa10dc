"""What ``nbgrader_config.py`` plugs into nbgrader.

nbgrader runs converter hooks inside ``except Exception`` and logs a failure
at info level: a failing hook would look like a success, and a release with
the solutions inside would ship. The kit's hooks therefore raise
:class:`HookFailed`, a ``SystemExit``, which that ``except`` does not catch:
the nbgrader command stops with a non-zero status and the error on stderr,
after the hook has removed whatever it left half-made.
"""
from __future__ import annotations

import os
import shutil
import traceback
from pathlib import Path

from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from autograder.authoring.generate import Assignment, finish_generated_assignment


class HookFailed(SystemExit):
    """A kit hook failed; nbgrader must stop (exit status 1) rather than carry on."""

    def __init__(self, message: str):
        super().__init__(f"[course kit] {message}")


class CourseKit(LoggingConfigurable):
    """The kit's own course settings, configured in ``course_settings.py`` as ``c.CourseKit.*``."""

    solutions_directory = Unicode(
        "solutions_private",
        help="Folder (relative to the course root) for the private solved copies; never released.",
    ).tag(config=True)

    utils_directory = Unicode(
        "utils",
        help="Folder (relative to the course root) of the course utilities shipped in every release.",
    ).tag(config=True)


def _running_app():
    """The nbgrader application that is running this hook."""
    from nbgrader.apps import GenerateAssignmentApp

    if not GenerateAssignmentApp.initialized():
        raise HookFailed("the generate-assignment hook ran outside `nbgrader generate_assignment`")
    return GenerateAssignmentApp.instance()


def _assignment_paths(app, assignment_id: str) -> Assignment:
    """Read the folders and the stub text from the running app's configuration."""
    from nbgrader.preprocessors import ClearSolutions

    coursedir = app.coursedir
    kit = CourseKit(parent=app)
    clear = ClearSolutions(parent=app)
    root = Path(coursedir.root)
    return Assignment(
        source=Path(os.path.normpath(coursedir.format_path(coursedir.source_directory, ".", assignment_id))),
        release=Path(os.path.normpath(coursedir.format_path(coursedir.release_directory, ".", assignment_id))),
        solutions=root / kit.solutions_directory / assignment_id,
        utils=root / kit.utils_directory,
        stub=clear.code_stub["python"],
        begin=clear.begin_solution_delimeter,
        end=clear.end_solution_delimeter,
        ignore=tuple(coursedir.ignore),
    )


def after_generate_assignment(assignment: str, student: str, notebooks) -> None:
    """``GenerateAssignment.post_convert_hook``: stub ``.py`` files, add utils, write solutions.

    Parameters
    ----------
    assignment : str
        The assignment id nbgrader is generating.
    student, notebooks
        Passed by nbgrader; unused.

    Raises
    ------
    HookFailed
        After removing the release folder, when any step fails.
    """
    app = _running_app()
    coursedir = app.coursedir
    release = os.path.normpath(coursedir.format_path(coursedir.release_directory, ".", assignment))
    try:
        finish_generated_assignment(_assignment_paths(app, assignment), log=app.log)
    except Exception as err:
        app.log.error("course kit: generating %r failed:\n%s", assignment, traceback.format_exc())
        shutil.rmtree(release, ignore_errors=True)
        raise HookFailed(f"generating {assignment!r} failed, release removed: {err}") from err
