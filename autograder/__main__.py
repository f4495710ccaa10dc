"""Command line: ``python -m autograder COMMAND``."""
from autograder.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
