"""``python -m autograder demo``: this course's main demo, end to end on the ordinary nbgrader commands.

A scratch copy of the course; the release and private solutions generated;
a small CIFAR-10-format data set; the solved notebooks run in a kernel; then
four students (the solved copy, the blank release, the seed's broken code, one
catalogued mistake) through release, fetch, submit, collect, autograde,
feedback and export, and a score table. This script is the course's own (it
names the homework it demonstrates); the kit's commands name none.
"""
from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from autograder.course import copy_course
from autograder.paths import REPO_ROOT

ASSIGNMENT = "cnn"  # the homework the demo takes its students through
SEED_SUBMISSION = REPO_ROOT / "examples" / "seed_submission"


def _say(message: str) -> None:
    print(message, flush=True)


def run_demo(args: argparse.Namespace) -> int:
    """Generate the release and solutions, run the solved notebooks, then take four students through nbgrader."""
    from autograder.authoring.checked_release import ReleaseRefused, generate_checked_release
    from autograder.demo.fake_cifar import write_fake_cifar10

    work = Path(args.workdir).resolve()
    if work.exists():
        shutil.rmtree(work)
    course = copy_course(work / "course")
    _say(f"[1/5] course copied to {course}")

    try:
        checked = generate_checked_release(course, ASSIGNMENT)
    except ReleaseRefused as err:
        _say(str(err))
        return 1
    release, solved = checked.release, course / "solutions_private" / ASSIGNMENT
    _say(f"[2/5] nbgrader generate_assignment {ASSIGNMENT}: release/{ASSIGNMENT} has {checked.stubs} stubs in "
         f"nnl/, no solution line leaked; solutions_private/{ASSIGNMENT} written")

    data_root = work / "data"
    cifar = write_fake_cifar10(data_root, images_per_batch=args.images_per_batch, test_images=args.images_per_batch)
    _say(f"[3/5] CIFAR-10-format data set written to {cifar} (a small generated one: this machine cannot "
         "download the real one; on a connected machine run `python utils/download_cifar10.py`)")

    if args.skip_notebooks:
        _say("[4/5] solved notebooks not run (--skip-notebooks)")
        notebook_failures = 0
    else:
        _say("[4/5] running the solved notebooks top to bottom in a Jupyter kernel:")
        notebook_failures = _run_solved_notebooks(solved, cifar, args.show_checks)

    _say("")
    submissions = _demo_submissions(work / "submissions", release, solved)
    _say(f"[5/5] the class through nbgrader: release_assignment, fetch and submit for {len(submissions)} "
         "students, collect, autograde (the hidden suite, sandboxed), generate_feedback, export:")
    class_ok = _grade_class_through_nbgrader(course, work, submissions)
    return 0 if class_ok and not notebook_failures else 1


def _run_solved_notebooks(solved: Path, cifar: Path, show_checks: int) -> int:
    """Run each solved notebook in a kernel, print its checks and a table; returns how many failed."""
    from autograder.nbgrader.notebook_runner import run_notebook

    env = {**os.environ, "CIFAR10_DIR": str(cifar)}
    env.pop("NBGRADER_EXECUTION", None)
    rows, failures = [], 0
    for notebook in sorted(solved.glob("*.ipynb")):
        run = run_notebook(notebook, cwd=solved, env=env)
        checks = [f"{label}: {max(values):.2e}" for label, values in run.checks().items()]
        status = "ok" if run.error_name is None else f"FAILED ({run.error_name} in cell {run.error_cell})"
        failures += run.error_name is not None
        rows.append((notebook.name, run.cells_run, f"{run.seconds:.1f}s", status))
        _say(f"  {notebook.name}: {status}")
        for line in checks[:show_checks]:
            _say(f"      {line}")
        if len(checks) > show_checks:
            _say(f"      ... and {len(checks) - show_checks} more checks")
    _say("")
    _say(f"{'notebook':28} {'cells':>5} {'time':>7}  status")
    for name, cells, seconds, status in rows:
        _say(f"{name:28} {cells:>5} {seconds:>7}  {status}")
    return failures


def _grade_class_through_nbgrader(course: Path, work: Path, submissions: dict[str, tuple[Path, str]]) -> bool:
    """Release, hand in, collect, autograde, feedback, export; print the score table. True when all were graded."""
    from autograder.grading.feedback import blocks_of
    from autograder.nbgrader.course_flow import CourseFlow, NbgraderFailed
    from autograder.nbgrader.score_cells import read_score_reports

    flow = CourseFlow(course, work / "exchange", work / "homes", ASSIGNMENT)
    try:
        flow.nbgrader("release_assignment", ASSIGNMENT)
        for student, (folder, _) in submissions.items():
            flow.hand_in(student, folder)
        flow.nbgrader("collect", ASSIGNMENT)
        started = time.monotonic()
        flow.nbgrader("autograde", ASSIGNMENT)
        autograde_seconds = time.monotonic() - started
        flow.nbgrader("generate_feedback", ASSIGNMENT)
        rows = flow.export()
    except NbgraderFailed as err:
        _say(str(err))
        return False
    _say(f"  nbgrader autograde: {len(submissions)} submissions in {autograde_seconds:.1f}s")
    _say(f"  {'student':8} {'score':>13}  first function that lost points: first failed check")
    for student, (_, story) in submissions.items():
        row = rows.get(student)
        lost = [r for r in read_score_reports(flow.autograded(student)) if r.score < r.points]
        worst = "-"
        if lost:
            checks = blocks_of(lost[0].report)
            first = checks[0] if checks else {}
            named = first.get("Mistake", "").partition("known mistake: ")[2]
            headline = f"known mistake: {named}" if named else first.get("Found", lost[0].report.splitlines()[0])
            worst = f"{lost[0].function} ({lost[0].score:g}/{lost[0].points:g}): {_headline(headline, 80)}"
        score = f"{float(row['score']):.2f} / {float(row['max_score']):g}" if row else "NOT GRADED"
        _say(f"  {student:8} {score:>13}  {worst}")
        _say(f"  {'':8} ({story})")
    _say(f"  gradebook: {course / 'gradebook.db'}; grades.csv, feedback/ and autograded/ in {course}")
    _say("  (the maximum includes the inline questions, which TAs grade by hand in formgrader)")
    return all(student in rows for student in submissions)


def _headline(text: str, width: int = 110) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _demo_submissions(root: Path, release: Path, solved: Path) -> dict[str, tuple[Path, str]]:
    """A few students' assignment folders, as nbgrader would collect them."""
    from autograder.grading.grade import suite_folder
    from autograder.grading.mutations import load_catalogue, write_mutant

    root.mkdir(parents=True)
    made = {"alice": (solved, "everything right (the private solutions)"),
            "bob": (release, "handed in the blank release")}
    carol = root / "carol"
    shutil.copytree(release, carol)
    for module in sorted(SEED_SUBMISSION.glob("*.py")):  # the seed's student code, as nnl/<module>
        shutil.copy(module, carol / "nnl" / module.name)
    made["carol"] = (carol, "the seed's broken student code")
    mistake = {m.name: m for m in load_catalogue(suite_folder(ASSIGNMENT))}["spatial_bn_no_transpose"]
    made["dave"] = (write_mutant(solved, mistake, root / "dave"), f"all right but one mistake: {mistake.mistake}")
    return made
