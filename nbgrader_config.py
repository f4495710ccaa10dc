"""nbgrader configuration for the CNN course kit.

Run nbgrader's commands from this folder; the kit's hooks are plugged in here.
Every course knob lives in this one file.
"""
import os
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
