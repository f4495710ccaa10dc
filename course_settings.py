"""The CNN course's settings: the file instructors edit.

nbgrader reads it through nbgrader_config.py, which wires the course kit in
and guards this file: if it fails to load (a typo, a syntax error),
`nbgrader generate_assignment` and `nbgrader autograde` refuse to run and name
the line, where plain nbgrader would skip a broken config and release the
solutions. Other nbgrader commands go on with nbgrader's defaults and print
the error.
"""
import os

c = get_config()  # noqa: F821 (provided by nbgrader's config loader)

HERE = os.path.dirname(os.path.abspath(__file__))

# --- course and folders -------------------------------------------------------
c.CourseDirectory.course_id = "cnn-course"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".pytest_cache"]

# The gradebook: SQLite beside this file unless COURSE_GRADEBOOK_URL names another
# database (any SQLAlchemy URL, e.g. postgresql://nbgrader@db/cnn).
c.CourseDirectory.db_url = os.environ.get("COURSE_GRADEBOOK_URL", os.environ.get(
    "CNN_GRADEBOOK_URL", "sqlite:///" + os.path.join(HERE, "gradebook.db")))  # CNN_*: the older name

# The exchange students fetch from and submit to (nbgrader's default unless
# COURSE_EXCHANGE_ROOT says otherwise, e.g. a scratch folder for a trial run; the older
# name CNN_EXCHANGE_ROOT is still accepted).
c.Exchange.root = os.environ.get("COURSE_EXCHANGE_ROOT", os.environ.get("CNN_EXCHANGE_ROOT", "/srv/nbgrader/exchange"))

# The kit's own folders (see autograder.authoring.generation_hook.CourseKit).
c.CourseKit.solutions_directory = "solutions_private"
c.CourseKit.utils_directory = "utils"

# --- what students get ----------------------------------------------------------
# The same stub replaces solution regions in notebook cells and in nnl/*.py.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"

# --- autograde ------------------------------------------------------------------
c.KitAutograde.grading_timeout = 900  # seconds per submission before a grader failure
c.KitAutograde.jobs = os.cpu_count() or 1  # submissions graded at once (each in its own sandbox)
c.KitAutograde.dask_scheduler = os.environ.get("COURSE_DASK_SCHEDULER", "")  # e.g. tcp://host:8786: grade on Dask
c.KitAutograde.max_file_mb = 50  # bigger submitted files go to quarantine/, not graded

# Students' `nbgrader validate` runs their notebooks: a cell may take this long.
c.Execute.timeout = 300
