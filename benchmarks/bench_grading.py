"""Whole-suite grading time: `python -m autograder grade` on three submissions.

- the reference (`solutions_private/cnn`),
- a loop-based student submission (the correct alternatives of the suite's own
  tests: loop convolution and pooling with own batchnorm maths, loop/einsum
  layers, hand-written optimizers),
- the blank release (every function raises NotImplementedError).

Each is graded ``--repeat`` times through the real command (a fresh process,
as a batch run would do); the table gives the median wall time of the whole
command and the median time the grader itself reports (``execution_time``:
the hidden suite, sandbox start-up and shutdown included).

Usage: python benchmarks/bench_grading.py [--repeat N]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from test_suite_conv_layers import LOOPS_AND_OWN_MATH  # noqa: E402
from test_suite_layers import ALTERNATIVE_LAYERS, ALTERNATIVE_OPTIM  # noqa: E402

from submissions import RELEASE, SOLVED, solved_with  # noqa: E402


def grade_once(submission: Path, out: Path) -> tuple[float, float, float]:
    """(wall seconds, reported execution_time, score) of one grading."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--assignment", "cnn",
                    "--json", str(out)],
                   cwd=REPO, check=True, capture_output=True)
    wall = time.perf_counter() - start
    report = json.loads(out.read_text())
    return wall, report["execution_time"], report["score"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="gradings per submission (default: %(default)s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        loops = solved_with(Path(tmp) / "loops", {"nnl/conv_layers.py": LOOPS_AND_OWN_MATH,
                                                   "nnl/layers.py": ALTERNATIVE_LAYERS,
                                                   "nnl/optim.py": ALTERNATIVE_OPTIM})
        rows = []
        for label, folder in [("reference (solutions_private)", SOLVED), ("loop-based student", loops),
                              ("blank release", RELEASE)]:
            runs = [grade_once(folder, Path(tmp) / "out.json") for _ in range(args.repeat)]
            rows.append((label, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
                         runs[0][2]))
    bwrap = shutil.which("bwrap")
    print(f"Machine: {platform.machine()}, nproc {len(os.sched_getaffinity(0))}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, sandbox: {'bubblewrap' if bwrap else 'rlimits-only'}; "
          f"median of {args.repeat} gradings")
    print()
    print("| submission | score | whole command (s) | grader's execution_time (s) |")
    print("| --- | ---: | ---: | ---: |")
    for label, wall, reported, score in rows:
        print(f"| {label} | {score:g} | {wall:.2f} | {reported:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
