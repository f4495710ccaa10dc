"""nbgrader configuration for the CNN course kit.

Run nbgrader's commands from this folder; the kit's hooks are plugged in here.
Every course knob lives in this one file.
"""
import os
import sys
from pathlib import Path

from autograder.generate import files_students_write
from autograder.nbgrader_hooks import after_generate_assignment

c = get_config()  # noqa: F821 (provided by nbgrader's config loader)

HERE = os.path.dirname(os.path.abspath(__file__))

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
c.GenerateAssignment.post_convert_hook = after_generate_assignment

# --- what autograde must leave alone ---------------------------------------------
# `nbgrader autograde` copies every non-notebook file of source/<assignment> over
# the student's copy. The modules students write (those with solution regions)
# must keep the student's version, or autograde would grade the solution.
# Provided modules (fast_layers.py, *_utils.py) are restored from the source.
SOURCE = os.path.join(HERE, "source")
c.Autograde.exclude_overwriting = {
    assignment: files_students_write(Path(SOURCE, assignment))
    for assignment in sorted(os.listdir(SOURCE)) if os.path.isdir(os.path.join(SOURCE, assignment))
}

# --- autograde: the hidden suites are the grades of record ------------------------
# `nbgrader autograde` runs the sandboxed hidden suite on each collected
# submission and writes each function's score into its score cell (see
# autograder/nbgrader_autograde.py). Student notebooks are not executed: their
# code would run with the instructor's rights. If the kit cannot be installed,
# every score cell fails (scores 0) rather than passing silently.
c.OverwriteCells.add_missing_cells = True  # a deleted score cell comes back
c.KitAutograde.grading_timeout = 900  # seconds per submission before a grader failure
c.KitAutograde.max_file_mb = 50  # bigger submitted files go to quarantine/, not graded
try:
    from autograder.nbgrader_autograde import install as _install_kit_autograde

    _install_kit_autograde()
except Exception as _err:  # this file must never raise: nbgrader would skip it whole
    print(f"nbgrader_config.py: the course kit's autograde is NOT installed ({_err!r}); "
          "autograde would score every function 0", file=sys.stderr)

# Students' `nbgrader validate` runs their notebooks: a cell may take this long.
c.Execute.timeout = 300
