"""Autograde time per submission: the kit's `nbgrader autograde`, the grading command, plain nbgrader.

One class of collected submissions (the solved copy, the blank release and
catalogued mistakes, in turn) is graded three ways, each on its own fresh
copy of the generated course:

- ``nbgrader autograde cnn`` with the kit (the hidden suite in the sandbox,
  notebooks not executed): what a TA runs, with its default parallelism (the
  CPU count) and with ``--KitAutograde.jobs=1`` (one submission after another);
- ``python -m autograder grade-all`` on the same submission folders (the class
  command, the same parallelism), and with ``--jobs 1``: beside the kit's autograde
  with one job, the comparison where nbgrader's recording has a core of its own;
- ``python -m autograder grade`` on each submission folder, one after another;
- plain ``nbgrader autograde cnn`` without the kit, executing every notebook
  in a kernel (nbgrader's own way; the score cells then fail, so its grades
  mean nothing: this is only its running time). The notebooks read a
  generated CIFAR-10-format set (``CIFAR10_DIR``), as the demo does, so their
  data cells run instead of failing early.

Usage: python benchmarks/bench_nbgrader.py [--students N] [--without-plain]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.course import copy_course  # noqa: E402
from autograder.demo.fake_cifar import write_fake_cifar10  # noqa: E402
from autograder.grading.grade import suite_folder  # noqa: E402
from autograder.grading.mutations import load_catalogue, write_mutant  # noqa: E402
from autograder.nbgrader.course_flow import CourseFlow  # noqa: E402

SOLVED = REPO / "solutions_private" / "cnn"
RELEASE = REPO / "release" / "cnn"
WITHOUT_KIT = ("\nimport nbgrader.apps.autogradeapp, nbgrader.converters.autograde\n"
               "nbgrader.apps.autogradeapp.Autograde = nbgrader.converters.autograde.Autograde\n")


def make_class(root: Path, students: int) -> dict[str, Path]:
    """``students`` submission folders: solved, blank, then one catalogued mistake each, in turn."""
    mutants = load_catalogue(suite_folder("cnn"))
    folders = {}
    for i in range(students):
        name = f"student{i:02d}"
        kind = i % 3
        if kind == 0:
            folders[name] = shutil.copytree(SOLVED, root / name)
        elif kind == 1:
            folders[name] = shutil.copytree(RELEASE, root / name)
        else:
            folders[name] = write_mutant(SOLVED, mutants[i % len(mutants)], root / name)
    return folders


def fresh_course(tmp: Path, name: str, folders: dict[str, Path], config_extra: str = "") -> CourseFlow:
    course = copy_course(tmp / name)
    flow = CourseFlow(course, tmp / f"{name}-exchange", tmp / f"{name}-homes", "cnn")
    flow.nbgrader("generate_assignment", "cnn", "--force")
    for student, folder in folders.items():
        shutil.copytree(folder, flow.submitted(student))
    if config_extra:
        config = course / "nbgrader_config.py"
        config.write_text(config.read_text() + config_extra)
    return flow


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=6, help="submissions in the class (default: %(default)s)")
    parser.add_argument("--without-plain", action="store_true", help="leave out plain nbgrader (minutes per class)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "class").mkdir()
        folders = make_class(tmp / "class", args.students)
        os.environ["CIFAR10_DIR"] = str(write_fake_cifar10(tmp / "data", images_per_batch=300, test_images=300))
        rows = []

        kit = fresh_course(tmp, "kit", folders)
        rows.append(("nbgrader autograde, with the kit", timed(lambda: kit.nbgrader("autograde", "cnn"))))
        serial = fresh_course(tmp, "serial", folders)
        rows.append(("nbgrader autograde, with the kit, --KitAutograde.jobs=1",
                     timed(lambda: serial.nbgrader("autograde", "cnn", "--KitAutograde.jobs=1"))))
        def grade_all(out: str, *options: str) -> float:
            return timed(lambda: subprocess.run(
                [sys.executable, "-m", "autograder", "grade-all", str(tmp / "class"), "--assignment", "cnn",
                 "--out", str(tmp / out), "--no-progress", *options], cwd=REPO, check=True, capture_output=True))
        rows.append(("python -m autograder grade-all", grade_all("grade-all")))
        rows.append(("python -m autograder grade-all --jobs 1", grade_all("grade-all-1", "--jobs", "1")))

        def grade_each():
            for student, folder in folders.items():
                subprocess.run([sys.executable, "-m", "autograder", "grade", str(folder), "--assignment", "cnn", "--json",
                                str(tmp / f"{student}.json")], cwd=REPO, check=True, capture_output=True)
        rows.append(("python -m autograder grade, one by one", timed(grade_each)))

        if not args.without_plain:
            plain = fresh_course(tmp, "plain", folders, WITHOUT_KIT)
            rows.append(("plain nbgrader autograde (executes the notebooks)",
                         timed(lambda: plain.nbgrader("autograde", "cnn"))))

    model = cpu_model()
    grade_all_seconds = dict(rows)["python -m autograder grade-all"]
    print(f"{args.students} submissions; {model}, {platform.machine()}, nproc {os.cpu_count()}, "
          f"{sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}")
    print("| how | whole class (s) | per submission (s) | submissions per minute | / grade-all |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.1f} | {seconds / args.students:.2f} | {60 * args.students / seconds:.1f} "
              f"| {seconds / grade_all_seconds:.2f}x |")
    one_at_a_time = dict(rows)["nbgrader autograde, with the kit, --KitAutograde.jobs=1"]
    print(f"one grading at a time (a core left to nbgrader's recording): the kit's autograde / grade-all, "
          f"both with 1 job: {one_at_a_time / dict(rows)['python -m autograder grade-all --jobs 1']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
