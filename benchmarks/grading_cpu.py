"""A forked grading's CPU in the grader's process, and how much of it comes before the first test.

Makes the grading server's imports (`grading_server.preload`), then forks one
child per grading that runs `grade` whole, as the grading server's own gradings
do (before the suite process of `prepared_suite`, every grading of `grade-all`
and the kit's `nbgrader autograde`; now those it cannot hand over). Each child
grades SUBMISSION with the assignment's hidden suite
(student code in the sandbox) and reports the CPU of its main thread
(``time.thread_time``): in all, and up to the end of pytest's collection (its
configuration, the suite's modules imported and rewritten, the reference and the
catalogue loaded, the tests collected). That first part is the same for every
submission of a batch. The sandbox, its worker and the thread that starts it are
not counted.

Usage (from the repository root)::

    python benchmarks/grading_cpu.py release/cnn --assignment cnn [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from machine import cpu_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.grading.grading_server import preload  # noqa: E402


class CollectionMark:
    """A pytest plugin object noting the main thread's CPU when collection ends."""

    def __init__(self):
        self.collected = None

    def pytest_collection_finish(self, session):
        self.collected = time.thread_time()


def one_forked_grading(submission: Path, assignment: str) -> tuple[float, float]:
    """``(CPU in all, CPU up to the end of collection)`` of one grading in a forked child, in seconds."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: grade, send the two figures, exit without running the parent's cleanup
        os.close(read_end)
        try:
            import pytest

            from autograder.grading import grade as grading

            mark = CollectionMark()
            main = pytest.main

            def with_mark(args, plugins=()):
                return main(args, plugins=[*plugins, mark])

            grading.pytest.main = with_mark
            start = time.thread_time()
            grading.grade(submission, assignment)
            end = time.thread_time()
            os.write(write_end, f"{end - start} {mark.collected - start}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as figures:
        text = figures.read()
    os.waitpid(pid, 0)
    if not text:
        raise SystemExit(f"the forked grading of {submission} reported nothing")
    total, collection = map(float, text.split())
    return total, collection


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", type=Path, help="a submission folder (release/cnn, solutions_private/cnn, ...)")
    parser.add_argument("--assignment", required=True, help="which hidden suite")
    parser.add_argument("--repeat", type=int, default=5, help="gradings (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.submission.is_dir():
        parser.error(f"no submission folder at {args.submission}")
    preload()
    runs = [one_forked_grading(args.submission.resolve(), args.assignment) for _ in range(args.repeat)]
    total = statistics.median(run[0] for run in runs)
    collection = statistics.median(run[1] for run in runs)
    print(f"{cpu_model()}; {args.submission} with the {args.assignment} suite, median of {args.repeat} forked gradings")
    print(f"grader's main thread: {1000 * total:.0f} ms of CPU, of which {1000 * collection:.0f} ms "
          f"({collection / total:.0%}) before the first test (pytest's configuration and collection)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
