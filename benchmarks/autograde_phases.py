"""Where the CPU of the kit's `nbgrader autograde` process goes, by step, for one class.

Builds the class of ``bench_nbgrader.py`` (solved copies, blank releases and catalogued
mistakes, in turn) on a fresh copy of the generated course, appends to that copy's
``nbgrader_config.py`` a few lines that time (``time.thread_time``: CPU, not waiting) each
step of nbgrader's loop in its main thread: the kit's steps, nbgrader's ``init_assignment``,
nbconvert's ``from_filename`` (a notebook read, preprocessed and checked; twice per notebook:
sanitize, then autograde) and each preprocessor inside it. Then it runs ``nbgrader
autograde cnn`` once and prints the CPU of each step, largest first. The gradings themselves
run in the grading server's processes and are not in these figures.

Usage (from the repository root)::

    python benchmarks/autograde_phases.py [--students N]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_nbgrader import fresh_course, make_class
from machine import cpu_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.nbgrader.commands import nbgrader_env  # noqa: E402

MARK = "PHASE "
# appended to the course's configuration; nbgrader reads that file more than once, so it installs its
# timers once per process
TIMERS = '''

def _kit_phase_timers():
    import atexit, collections, sys, time
    import nbconvert.exporters.exporter as exporter
    import nbconvert.preprocessors as nbconvert_preprocessors
    import nbgrader.converters.autograde as nbgrader_autograde
    from nbgrader import preprocessors
    from autograder.nbgrader import autograde as kit
    if getattr(kit, "_phase_timers", False):
        return
    kit._phase_timers = True
    cpu, calls = collections.defaultdict(float), collections.Counter()

    def timed(owner, name, label):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                cpu[label] += time.thread_time() - start
                calls[label] += 1
        setattr(owner, name, wrapper)

    for name in ("init_notebooks", "_grade_ahead", "init_destination", "_results_of", "set_permissions"):
        timed(kit.KitAutograde, name, f"kit: KitAutograde.{name}")
    timed(nbgrader_autograde.Autograde, "init_assignment", "nbgrader: Autograde.init_assignment")
    timed(exporter.Exporter, "from_filename", "nbconvert: Exporter.from_filename (all of a pass)")
    for step in (preprocessors.ClearOutput, preprocessors.DeduplicateIds, preprocessors.OverwriteKernelspec,
                 kit.RestoreGradeFlags, kit.OverwriteCellsSafely, preprocessors.CheckCellMetadata, kit.ScoreCells,
                 preprocessors.IgnorePattern, nbconvert_preprocessors.ClearMetadataPreprocessor,
                 preprocessors.LimitOutput, preprocessors.SaveAutoGrades, preprocessors.AssignLatePenalties):
        timed(step, "preprocess", f"preprocessor {step.__name__} (inside from_filename)")

    @atexit.register
    def report():
        print(f"PHASE the main thread in all, from its start {time.thread_time():.3f} 1", file=sys.stderr)
        for label, seconds in cpu.items():
            print(f"PHASE {label} {seconds:.3f} {calls[label]}", file=sys.stderr)


_kit_phase_timers()
'''


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20, help="submissions in the class (default: %(default)s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "class").mkdir()
        course = fresh_course(tmp, "kit", make_class(tmp / "class", args.students), TIMERS)
        done = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "cnn"], cwd=course.root,
                              env=nbgrader_env(course.env), capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"nbgrader autograde exited {done.returncode}")
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith(MARK):
            label, seconds, calls = line[len(MARK):].rsplit(" ", 2)
            rows.append((label, float(seconds), int(calls)))
    print(f"{args.students} submissions; {cpu_model()}; CPU of the kit's nbgrader autograde's main thread by step")
    print("| step | CPU (s) | calls | per call (ms) |")
    print("| --- | ---: | ---: | ---: |")
    for label, seconds, calls in sorted(rows, key=lambda row: -row[1]):
        print(f"| {label} | {seconds:.3f} | {calls} | {1000 * seconds / calls:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
