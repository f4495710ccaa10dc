"""nbgrader configuration for the CNN course kit.

Run nbgrader's commands from this folder; the kit's hooks are plugged in here.
Every course knob lives in this one file.
"""
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by nbgrader's config loader)

HERE = os.path.dirname(os.path.abspath(__file__))

# This file must never raise: nbgrader would log the error and go on without
# it, releasing nnl/*.py with their solutions and autograding by executing the
# students' notebooks. Without the kit, the commands that need it refuse instead.
try:
    from autograder.generate import files_students_write
    from autograder.nbgrader_autograde import install as _install_kit_autograde
    from autograder.nbgrader_hooks import after_generate_assignment

    _install_kit_autograde()  # nbgrader autograde and formgrader's button grade with the hidden suites
    KIT_ERROR = None
except Exception as _err:
    KIT_ERROR = _err


def refuse_without_the_kit(**_hook_arguments):
    """``pre_convert_hook`` when the kit cannot be imported: stop before anything is written.

    nbgrader runs hooks inside ``except Exception`` and logs failures at info
    level; a ``SystemExit`` gets through, so the command stops with status 1.
    """
    raise SystemExit(
        f"{os.path.join(HERE, 'nbgrader_config.py')}: the course kit (Python package 'autograder') "
        f"cannot be imported ({KIT_ERROR!r}). Refusing to run: without it generate_assignment would "
        "release the solutions of nnl/*.py and autograde would run student notebooks unsandboxed. "
        "Install the kit into this environment (bash scripts/install.sh in its repository).")


if KIT_ERROR is not None:
    print(f"nbgrader_config.py: the course kit is NOT importable ({KIT_ERROR!r}); "
          "generate_assignment and autograde will refuse to run", file=sys.stderr)
    c.GenerateAssignment.pre_convert_hook = refuse_without_the_kit
    c.Autograde.pre_convert_hook = refuse_without_the_kit

# --- course and folders -------------------------------------------------------
c.CourseDirectory.course_id = "cnn-course"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".pytest_cache"]

# The gradebook: SQLite beside this file unless CNN_GRADEBOOK_URL names another
# database (any SQLAlchemy URL, e.g. postgresql://nbgrader@db/cnn).
c.CourseDirectory.db_url = os.environ.get(
    "CNN_GRADEBOOK_URL", "sqlite:///" + os.path.join(HERE, "gradebook.db"))

# The exchange students fetch from and submit to (nbgrader's default unless
# CNN_EXCHANGE_ROOT says otherwise, e.g. a scratch folder for a trial run).
c.Exchange.root = os.environ.get("CNN_EXCHANGE_ROOT", "/srv/nbgrader/exchange")

# The kit's own folders (see autograder.nbgrader_hooks.CourseKit).
c.CourseKit.solutions_directory = "solutions_private"
c.CourseKit.utils_directory = "utils"

# --- what students get ----------------------------------------------------------
# The same stub replaces solution regions in notebook cells and in nnl/*.py.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"

# nbgrader copies .py files unchanged; this hook stubs them, ships utils/ and
# writes solutions_private/. It fails loudly (and removes the release) on error.
if KIT_ERROR is None:
    c.GenerateAssignment.post_convert_hook = after_generate_assignment

# --- what autograde must leave alone ---------------------------------------------
# `nbgrader autograde` copies every non-notebook file of source/<assignment> over
# the student's copy. The modules students write (those with solution regions)
# must keep the student's version, or autograde would grade the solution.
# Provided modules (fast_layers.py, *_utils.py) are restored from the source.
SOURCE = os.path.join(HERE, "source")
if KIT_ERROR is None:
    c.Autograde.exclude_overwriting = {
        assignment: files_students_write(Path(SOURCE, assignment))
        for assignment in sorted(os.listdir(SOURCE)) if os.path.isdir(os.path.join(SOURCE, assignment))
    }

# --- autograde: the hidden suites are the grades of record ------------------------
# `nbgrader autograde` runs the sandboxed hidden suite on each collected
# submission and writes each function's score into its score cell (see
# autograder/nbgrader_autograde.py). Student notebooks are not executed: their
# code would run with the instructor's rights. Without the kit, autograde
# refuses (above); and should the notebooks be executed anyway, every score
# cell fails (scores 0) rather than passing silently.
c.OverwriteCells.add_missing_cells = True  # a deleted score cell comes back
c.KitAutograde.grading_timeout = 900  # seconds per submission before a grader failure
c.KitAutograde.max_file_mb = 50  # bigger submitted files go to quarantine/, not graded

# Students' `nbgrader validate` runs their notebooks: a cell may take this long.
c.Execute.timeout = 300
