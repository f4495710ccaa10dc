"""Whole-suite grading time: `python -m autograder grade` on three submissions of one homework.

- the reference (`solutions_private/<a>`),
- a loop-based student submission (the correct alternatives of the kit's own
  suite tests: for cnn loop convolution and pooling with own batchnorm maths;
  for both, loop/einsum layers and hand-written optimizers),
- the blank release (every function raises NotImplementedError).

Each is graded ``--repeat`` times through the real command (a fresh process),
and as many times as ``grade-all`` and the kit's ``nbgrader autograde`` grade
it: the same command in a process forked from the grading server
(``autograder.grading.grading_server``), which has made the imports once, by
its suite process, which has collected the suite once (``prepared_suite``). The
table gives the median wall time of the whole command and the median time the
grader itself reports (``execution_time``: the hidden suite, sandbox start-up
and shutdown included). With ``--against PATH`` (another checkout of the kit,
e.g. a worktree of an older commit) every grading is also run with that kit,
alternately, and the table gives the ratios.

Usage: python benchmarks/bench_grading.py [--assignment cnn] [--repeat N] [--against PATH]
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
from machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from test_suite_conv_layers import LOOPS_AND_OWN_MATH  # noqa: E402
from test_suite_layers import ALTERNATIVE_LAYERS, ALTERNATIVE_OPTIM  # noqa: E402

from submissions import solved_with  # noqa: E402

from autograder.grading.grading_process import grade_in_child  # noqa: E402
from autograder.grading.grading_server import SUITE_SOCKET_SUFFIX, GradingServer  # noqa: E402


def grade_once(kit: Path, submission: Path, assignment: str, out: Path) -> tuple[float, float, float]:
    """(wall seconds, reported execution_time, score) of one grading with the kit checked out at ``kit``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--assignment", assignment,
                    "--json", str(out)], cwd=kit, check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(kit)})
    wall = time.perf_counter() - start
    report = json.loads(out.read_text())
    return wall, report["execution_time"], report["score"]


def grade_forked(server: GradingServer, submission: Path, assignment: str) -> tuple[float, float, float]:
    """(wall seconds, reported execution_time, score) of one grading forked from ``server`` (this kit)."""
    start = time.perf_counter()
    report = grade_in_child(submission, assignment, 900, server)
    return time.perf_counter() - start, report["execution_time"], report["score"]


def submissions(tmp: Path, assignment: str) -> list[tuple[str, Path]]:
    solved, release = REPO / "solutions_private" / assignment, REPO / "release" / assignment
    alternatives = {"nnl/layers.py": ALTERNATIVE_LAYERS, "nnl/optim.py": ALTERNATIVE_OPTIM}
    if assignment == "cnn":
        alternatives["nnl/conv_layers.py"] = LOOPS_AND_OWN_MATH
    loops = solved_with(tmp / "loops", alternatives, solved=solved)
    return [("reference (solutions_private)", solved), ("loop-based student", loops), ("blank release", release)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="cnn", help="which homework (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="gradings per submission (default: %(default)s)")
    parser.add_argument("--against", type=Path, help="another checkout of the kit to compare with, in the same run")
    args = parser.parse_args(argv)
    kits = [("this kit", REPO)] + ([("other kit", args.against.resolve())] if args.against else [])
    with tempfile.TemporaryDirectory() as tmp, GradingServer(prepare=(args.assignment,)) as server:
        # as in a batch: the suite collected once, each grading forked after its collection
        server.wait_until_ready()
        suite, deadline = Path(server.path + SUITE_SOCKET_SUFFIX.format(number=0)), time.monotonic() + 120
        while not suite.exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"the grading server's suite process for {args.assignment} did not collect its suite")
            time.sleep(0.05)
        rows = []
        for label, folder in submissions(Path(tmp), args.assignment):
            runs = {name: [] for name in [name for name, _ in kits] + ["forked"]}
            for _ in range(args.repeat):  # alternately, so that all see the same machine
                for name, kit in kits:
                    runs[name].append(grade_once(kit, folder, args.assignment, Path(tmp) / "out.json"))
                runs["forked"].append(grade_forked(server, folder, args.assignment))
            rows.append((label, {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs),
                                        rs[0][2]) for name, rs in runs.items()}))
    bwrap = shutil.which("bwrap")
    model = cpu_model()
    print(f"{model}; {platform.machine()}, nproc {len(os.sched_getaffinity(0))}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, sandbox: {'bubblewrap' if bwrap else 'rlimits-only'}; homework "
          f"{args.assignment}; median of {args.repeat} gradings" + (f"; other kit: {args.against}" if args.against else ""))
    print()
    if args.against:
        print("| submission | score | this kit: command (s) | execution_time (s) | forked (s) | other kit: "
              "command (s) | execution_time (s) | other / this (command) | other / this (forked) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for label, by_kit in rows:
            (wall, reported, score), (owall, oreported, _) = by_kit["this kit"], by_kit["other kit"]
            forked = by_kit["forked"][0]
            print(f"| {label} | {score:g} | {wall:.2f} | {reported:.2f} | {forked:.2f} | {owall:.2f} | "
                  f"{oreported:.2f} | {owall / wall:.2f}x | {owall / forked:.2f}x |")
    else:
        print("| submission | score | whole command (s) | grader's execution_time (s) | forked (s) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for label, by_kit in rows:
            wall, reported, score = by_kit["this kit"]
            print(f"| {label} | {score:g} | {wall:.2f} | {reported:.2f} | {by_kit['forked'][0]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
