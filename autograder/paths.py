"""Where the kit and the course live on disk: one definition for every module."""
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent  # the kit's own code (autograder/)
REPO_ROOT = PACKAGE.parent                 # the course folder the kit ships in
SUITES = PACKAGE / "suites"                # one hidden suite per assignment
