"""Class-scale throughput: `grade-all` on a generated class, against plain `nbgrader autograde`.

The class: ``--students`` submissions made from the solved copy, where each
graded function independently stays correct (70%), becomes one of its
catalogued mistakes (15%) or is left as the release's stub (15%), seeded.

Timed, in one run on this machine:
- ``python -m autograder grade-all`` with ``--jobs 1`` and ``--jobs 2``;
- the same on a local Dask cluster (a ``dask scheduler`` and two ``dask worker``
  processes, one thread each) through ``--dask-scheduler``;
- plain ``nbgrader autograde`` (executing the notebooks, without the kit) on the
  first ``--nbgrader-sample`` students of the class (its per-submission time is
  steady, so the sample gives its rate without grading the whole class twice).

Usage: python benchmarks/bench_grade_all.py [--students 100] [--nbgrader-sample 10]
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_nbgrader import WITHOUT_KIT, fresh_course  # noqa: E402

from autograder.demo.fake_cifar import write_fake_cifar10  # noqa: E402
from autograder.grading.grade import suite_folder  # noqa: E402
from autograder.grading.mutations import load_catalogue, mutate_source  # noqa: E402
from autograder.grading.rubric import Rubric  # noqa: E402

SOLVED = REPO / "solutions_private" / "cnn"
RELEASE = REPO / "release" / "cnn"


def _definition(text: str, name: str) -> tuple[int, int]:
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return node.lineno - 1, node.end_lineno
    raise KeyError(name)


def stub_function(module: Path, name: str) -> None:
    """Replace ``name`` in ``module`` by its stubbed version from the release."""
    released = (RELEASE / module.relative_to(module.parents[1])).read_text().split("\n")
    start, end = _definition("\n".join(released), name)
    lines = module.read_text().split("\n")
    mine_start, mine_end = _definition("\n".join(lines), name)
    module.write_text("\n".join(lines[:mine_start] + released[start:end] + lines[mine_end:]))


def make_class(root: Path, students: int, seed: int = 0) -> dict[str, str]:
    """Write ``root/<student>/`` folders; returns a one-line story per student."""
    rng = random.Random(seed)
    rubric = Rubric.load(suite_folder("cnn") / "rubric.toml")
    mutants: dict[str, list] = {}
    for mutation in load_catalogue(suite_folder("cnn")):
        mutants.setdefault(mutation.function, []).append(mutation)
    stories = {}
    for i in range(students):
        folder = root / f"student{i:03d}"
        shutil.copytree(SOLVED, folder, ignore=shutil.ignore_patterns("__pycache__"))
        changes = []
        for name, graded in rubric.functions.items():
            module = folder / (graded.module.replace(".", "/") + ".py")
            roll = rng.random()
            if roll < 0.15 and name in mutants:
                mutation = rng.choice(mutants[name])
                module.write_text(mutate_source(module.read_text(), mutation))
                changes.append(f"{name}:{mutation.name}")
            elif roll < 0.30:
                stub_function(module, name)
                changes.append(f"{name}:stub")
        stories[folder.name] = ", ".join(changes) or "all correct"
    return stories


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - start


def grade_all(root: Path, out: Path, *extra: str) -> float:
    return timed([sys.executable, "-m", "autograder", "grade-all", str(root), "--assignment", "cnn", "--out", str(out), "--no-progress",
                  *extra])


def with_dask_cluster(folder: Path, run):
    """Start a scheduler and two single-thread workers on localhost, call ``run(address)``, stop them."""
    scheduler_file = folder / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file",
                               str(scheduler_file), "--port", "0", "--host", "127.0.0.1", "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        while not scheduler_file.exists():
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for i in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads", "1",
                 "--no-dashboard", "--local-directory", str(folder / f"w{i}")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        time.sleep(3)  # let the workers register
        return run(address)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100, help="class size (default: %(default)s)")
    parser.add_argument("--nbgrader-sample", type=int, default=10,
                        help="students plain nbgrader autograde grades (default: %(default)s)")
    parser.add_argument("--nbgrader-only", action="store_true",
                        help="time only plain nbgrader autograde (on --nbgrader-sample students)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        stories = make_class(tmp / "class", args.students)
        stubs = sum(s.count(":stub") for s in stories.values())
        mistakes = sum(s.count(":") for s in stories.values()) - stubs
        rows, scores = [], [float("nan")]
        if not args.nbgrader_only:
            rows = [(f"grade-all --jobs {jobs}", args.students,
                     grade_all(tmp / "class", tmp / f"out{jobs}", "--jobs", str(jobs))) for jobs in (1, 2)]
            dask_seconds = with_dask_cluster(tmp, lambda address: grade_all(tmp / "class", tmp / "out-dask",
                                                                            "--dask-scheduler", address))
            rows.append(("grade-all --dask-scheduler (2 workers)", args.students, dask_seconds))
            scores = [json.loads(p.read_text())["score"] for p in sorted((tmp / "out2" / "results").glob("*.json"))]

        os.environ["CIFAR10_DIR"] = str(write_fake_cifar10(tmp / "data", images_per_batch=300, test_images=300))
        sample = {name: tmp / "class" / name for name in sorted(stories)[: args.nbgrader_sample]}
        plain = fresh_course(tmp, "plain", sample, WITHOUT_KIT)
        start = time.perf_counter()
        plain.nbgrader("autograde", "cnn")
        rows.append(("plain nbgrader autograde (executes notebooks)", len(sample), time.perf_counter() - start))

    print(f"{args.students} generated submissions ({mistakes} catalogued mistakes and {stubs} stubs over "
          f"{args.students * 21} graded functions; mean score {sum(scores) / len(scores):.1f}); "
          f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print("| how | submissions | wall time (s) | submissions per minute | vs plain nbgrader |")
    print("| --- | ---: | ---: | ---: | ---: |")
    baseline = 60 * rows[-1][1] / rows[-1][2]
    for label, count, seconds in rows:
        rate = 60 * count / seconds
        print(f"| {label} | {count} | {seconds:.1f} | {rate:.1f} | {rate / baseline:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
