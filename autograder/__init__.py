"""The CNN assignment kit: generation, hidden suites, sandboxed grading, nbgrader glue."""

__version__ = "0.1.0"
