"""nbgrader configuration for the CNN course kit: the kit's wiring and a guard.

Run nbgrader's commands from this folder. The course's settings (course id,
gradebook, exchange, stub text, timeouts) are in course_settings.py; edit
that file, not this one.

This file must never raise: nbgrader would log the error and go on without
it, releasing nnl/*.py with their solutions and autograding by executing the
students' notebooks. When the kit cannot be imported or course_settings.py
fails to load, generate_assignment and autograde refuse instead (exit 1,
before writing anything), naming the cause.
"""
import os
import sys
import traceback
import types
from pathlib import Path

c = get_config()  # noqa: F821 (provided by nbgrader's config loader)

HERE = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = HERE
SETTINGS = os.path.join(HERE, "course_settings.py")
PROBLEMS = []

try:
    from autograder.authoring.generate import files_students_write
    from autograder.authoring.generation_hook import after_generate_assignment
    from autograder.nbgrader.autograde import install as _install_kit_autograde

    _install_kit_autograde()  # nbgrader autograde and formgrader's button grade with the hidden suites
except Exception as _err:
    PROBLEMS.append(f"the course kit (Python package 'autograder') cannot be imported ({_err!r}); "
                    "install it into this environment (bash scripts/install.sh in its repository)")


def _where_in_settings(err):
    """``course_settings.py line N: <error>``, the line being the settings file's own."""
    line = getattr(err, "lineno", None) if isinstance(err, SyntaxError) else None
    for frame in traceback.extract_tb(err.__traceback__):
        if os.path.abspath(frame.filename) == SETTINGS:
            line = frame.lineno
    what = "".join(traceback.format_exception_only(type(err), err)).strip().splitlines()[-1]
    return f"{SETTINGS} line {line}: {what}" if line else f"{SETTINGS}: {what}"


try:
    if not os.path.isfile(SETTINGS):  # load_subconfig would pass over a missing file silently
        raise FileNotFoundError("the file is missing")
    load_subconfig("course_settings.py", path=HERE)  # noqa: F821 (provided by nbgrader's config loader)
except Exception as _err:
    PROBLEMS.append(f"{_where_in_settings(_err)} (until it loads, nbgrader runs without the course's settings)")


def refuse_to_run(**_hook_arguments):
    """``pre_convert_hook`` while something above failed: stop before anything is written.

    nbgrader runs hooks inside ``except Exception`` and logs failures at info
    level; a ``SystemExit`` gets through, so the command stops with status 1.
    """
    raise SystemExit(
        f"{os.path.join(HERE, 'nbgrader_config.py')}: refusing to run: " + "; and ".join(PROBLEMS) + ". "
        "Without the course's configuration generate_assignment would release the solutions of "
        "nnl/*.py and autograde would run student notebooks unsandboxed.")


if PROBLEMS:
    # nbgrader loads this file several times in one process: say each problem once per process.
    _memo = sys.modules.setdefault("_cnn_course_config", types.ModuleType("_cnn_course_config"))
    _said = _memo.__dict__.setdefault("said", set())
    for _problem in sorted(set(PROBLEMS) - _said):
        _said.add(_problem)
        print(f"nbgrader_config.py: {_problem}; generate_assignment and autograde will refuse to run",
              file=sys.stderr)
    c.GenerateAssignment.pre_convert_hook = refuse_to_run
    c.Autograde.pre_convert_hook = refuse_to_run
else:
    # nbgrader copies .py files unchanged; this hook stubs them, ships utils/ and
    # writes solutions_private/. It fails loudly (and removes the release) on error.
    c.GenerateAssignment.post_convert_hook = after_generate_assignment

    # `nbgrader autograde` copies every non-notebook file of source/<assignment> over
    # the student's copy. The modules students write (those with solution regions)
    # must keep the student's version, or autograde would grade the solution.
    # Provided modules (fast_layers.py, *_utils.py) are restored from the source.
    _source = os.path.join(HERE, c.CourseDirectory.get("source_directory", "source"))
    c.Autograde.exclude_overwriting = {
        assignment: files_students_write(Path(_source, assignment))
        for assignment in sorted(os.listdir(_source)) if os.path.isdir(os.path.join(_source, assignment))
    }

    # `nbgrader autograde` runs the sandboxed hidden suite on each collected
    # submission and writes each function's score into its score cell (see
    # autograder/nbgrader/autograde.py). Student notebooks are not executed: their
    # code would run with the instructor's rights. Should they be executed anyway
    # (the kit bypassed), every score cell fails (scores 0) rather than passing.
    c.OverwriteCells.add_missing_cells = True  # a deleted score cell comes back
