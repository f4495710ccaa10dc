"""``python -m autograder demo``: this course's main demo, end to end on the ordinary nbgrader commands.

A scratch copy of the course; the releases and private solutions of both
homeworks generated; a small CIFAR-10-format data set; the solved notebooks run
in a kernel; then five students (the solved copy, the blank release, the seed's
broken code, and two with one catalogued mistake each) through release, fetch,
submit, collect, autograde, feedback for each homework in turn, both into one
gradebook, and a score table per homework from one `nbgrader export`. This
script is the course's own (it names the homeworks it demonstrates); the kit's
commands name none.
"""
from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from autograder.course import copy_course
from autograder.paths import REPO_ROOT

# The homeworks the demo takes its students through, in term order; each student's mistakes by name.
HOMEWORKS = {
    "fcnet": {"dave": "fcn_batchnorm_after_relu", "erin": "softmax_loss_summed"},
    "cnn": {"dave": "spatial_bn_no_transpose", "erin": "conv_no_bias"},
}
SEED_SUBMISSION = REPO_ROOT / "examples" / "seed_submission"


def _say(message: str) -> None:
    print(message, flush=True)


def run_demo(args: argparse.Namespace) -> int:
    """Generate both homeworks, run their solved notebooks, then take five students through nbgrader for each."""
    from autograder.authoring.checked_release import ReleaseRefused, generate_checked_release
    from autograder.demo.fake_cifar import write_fake_cifar10

    work = Path(args.workdir).resolve()
    if work.exists():
        shutil.rmtree(work)
    course = copy_course(work / "course")
    _say(f"[1/5] course copied to {course}")

    for assignment in HOMEWORKS:
        try:
            checked = generate_checked_release(course, assignment)
        except ReleaseRefused as err:
            _say(str(err))
            return 1
        _say(f"[2/5] nbgrader generate_assignment {assignment}: release/{assignment} has {checked.stubs} stubs in "
             f"nnl/, no solution line leaked; solutions_private/{assignment} written")

    cifar = write_fake_cifar10(work / "data", images_per_batch=args.images_per_batch,
                               test_images=args.images_per_batch)
    _say(f"[3/5] CIFAR-10-format data set written to {cifar} (a small generated one: this machine cannot "
         "download the real one; on a connected machine run `python utils/download_cifar10.py`)")

    notebook_failures = 0
    if args.skip_notebooks:
        _say("[4/5] solved notebooks not run (--skip-notebooks)")
    else:
        _say("[4/5] running the solved notebooks top to bottom in a Jupyter kernel:")
        for assignment in HOMEWORKS:
            notebook_failures += _run_solved_notebooks(course / "solutions_private" / assignment, cifar,
                                                       args.show_checks)

    _say("")
    class_ok = True
    for assignment, mistakes in HOMEWORKS.items():
        submissions = _demo_submissions(work / "submissions" / assignment, course, assignment, mistakes)
        _say(f"[5/5] {assignment}: the class through nbgrader: release_assignment, fetch and submit for "
             f"{len(submissions)} students, collect, autograde (the hidden suite, sandboxed), generate_feedback, "
             "export:")
        class_ok &= _grade_class_through_nbgrader(course, work, assignment, submissions)
    _say(f"  gradebook: {course / 'gradebook.db'} (both homeworks); grades.csv, feedback/ and autograded/ in {course}")
    _say("  (the maximum includes the inline questions, which TAs grade by hand in formgrader)")
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


def _grade_class_through_nbgrader(course: Path, work: Path, assignment: str,
                                  submissions: dict[str, tuple[Path, str]]) -> bool:
    """Release, hand in, collect, autograde, feedback, export; print the score table. True when all were graded."""
    from autograder.grading.feedback import blocks_of
    from autograder.nbgrader.course_flow import CourseFlow, NbgraderFailed
    from autograder.nbgrader.score_cells import read_score_reports

    flow = CourseFlow(course, work / "exchange", work / "homes", assignment)
    try:
        flow.nbgrader("release_assignment", assignment)
        for student, (folder, _) in submissions.items():
            flow.hand_in(student, folder)
        flow.nbgrader("collect", assignment)
        started = time.monotonic()
        flow.nbgrader("autograde", assignment)
        autograde_seconds = time.monotonic() - started
        flow.nbgrader("generate_feedback", assignment)
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
    return all(student in rows for student in submissions)


def _headline(text: str, width: int = 110) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _demo_submissions(root: Path, course: Path, assignment: str, mistakes: dict[str, str]) -> dict[str, tuple[Path, str]]:
    """Five students' assignment folders, as nbgrader would collect them."""
    from autograder.grading.grade import suite_folder
    from autograder.grading.mutations import load_catalogue, write_mutant

    release, solved = course / "release" / assignment, course / "solutions_private" / assignment
    root.mkdir(parents=True)
    made = {"alice": (solved, "everything right (the private solutions)"),
            "bob": (release, "handed in the blank release")}
    carol = root / "carol"
    shutil.copytree(release, carol)
    seeded = [module.name for module in sorted(SEED_SUBMISSION.glob("*.py")) if (carol / "nnl" / module.name).exists()]
    for name in seeded:  # the seed's student code, as nnl/<module>, where this homework has that module
        shutil.copy(SEED_SUBMISSION / name, carol / "nnl" / name)
    made["carol"] = (carol, f"the seed's broken student code ({', '.join(seeded)})")
    catalogue = {m.name: m for m in load_catalogue(suite_folder(assignment))}
    for student, name in mistakes.items():
        made[student] = (write_mutant(solved, catalogue[name], root / student),
                         f"all right but one mistake: {catalogue[name].mistake}")
    return made
