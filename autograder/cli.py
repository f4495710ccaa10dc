"""``python -m autograder``: the kit's commands, one function per subcommand."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from autograder.paths import REPO_ROOT

COURSE_FILES = ("nbgrader_config.py", "course_settings.py", "source", "utils")
ASSIGNMENT = "cnn"


def _say(message: str) -> None:
    print(message, flush=True)


def copy_course(dest: Path, root: Path = REPO_ROOT) -> Path:
    """Copy what an instructor edits (config, source, utils) into a course folder ``dest`` (created if missing).

    Returns
    -------
    Path
        ``dest``, ready for ``nbgrader generate_assignment``.
    """
    from autograder.authoring.generate import (  # not at import: nbformat takes seconds to load
        DEFAULT_IGNORE,
        UTILS_IGNORE,
    )

    dest.mkdir(parents=True, exist_ok=True)
    for name in COURSE_FILES:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns(*DEFAULT_IGNORE, *UTILS_IGNORE))
        else:
            shutil.copy(src, dest / name)
    return dest


def cmd_demo(args: argparse.Namespace) -> int:
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

    flow = CourseFlow(course, work / "exchange", work / "homes")
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
    for module in ("layers.py", "conv_layers.py", "cnn.py"):
        shutil.copy(REPO_ROOT / "examples" / "seed_submission" / module, carol / "nnl" / module)
    made["carol"] = (carol, "the seed's broken student code")
    mistake = {m.name: m for m in load_catalogue(suite_folder(ASSIGNMENT))}["spatial_bn_no_transpose"]
    made["dave"] = (write_mutant(solved, mistake, root / "dave"), f"all right but one mistake: {mistake.mistake}")
    return made


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade one submission with the hidden suite; write Gradescope results JSON."""
    from autograder.grading.grade import GradingError, grade
    from autograder.grading.results import GradingResults

    try:
        results = grade(Path(args.submission), args.assignment, use_bwrap=not args.no_bwrap, seed=args.seed,
                        verbose=args.verbose, rubric=args.rubric and Path(args.rubric),
                        only=args.only or None)
    except GradingError as err:
        print(f"grading failed: {err}", file=sys.stderr)
        if args.json:
            GradingResults.without_results(err.planned, f"the grader could not run: {str(err)[:500]}").write(
                Path(args.json))
        return 2
    if args.json:
        results.write(Path(args.json))
    failed = [t for t in results.tests if t.status == "failed"]
    print(f"{args.submission}: {results.score:g} / {results.max_score:g} "
          f"({len(results.tests) - len(failed)} of {len(results.tests)} tests passed, "
          f"{results.execution_time:.1f}s, isolation: {results.extra_data.get('isolation')})")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """Run `nbgrader generate_assignment ASSIGNMENT --force` in the course folder, then refuse (remove) a
    release that shows any solution line or was made without the course's nbgrader_config.py."""
    from autograder.authoring.checked_release import ReleaseRefused, generate_checked_release

    try:
        checked = generate_checked_release(Path(args.course), args.assignment)
    except ReleaseRefused as err:
        print(f"python -m autograder generate: {err}", file=sys.stderr)
        return 1
    print(f"{checked.release}: {checked.stubs} stubs in nnl/, no solution line leaked; ready for "
          f"`nbgrader release_assignment {args.assignment}`")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Prove the hidden suite: the reference scores full marks, the blank release 0, every mutant is caught."""
    from autograder.grading.grade import GradingError
    from autograder.grading.validate import validate

    try:
        report = validate(args.assignment, jobs=args.jobs)
    except GradingError as err:
        print(f"validate failed: {err}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    caught = sum(v.caught for v in report.mutants)
    print()
    print(f"reference      {report.reference_score:g} / {report.total:g}"
          + ("" if not report.reference_failures else f"  FAILING: {report.reference_failures[:3]}"))
    print(f"blank release  {report.release_score:g} / {report.total:g}")
    print(f"mutants caught {caught} / {len(report.mutants)} (detection rate {report.detection_rate:.0%})")
    for verdict in report.mutants:
        if not verdict.caught:
            print(f"  missed: {verdict.mutation.name} ({verdict.mutation.function}) {verdict.error[:300]}")
    print(f"tests that no mutant fails: {len(report.never_failing)}")
    for name in report.never_failing:
        print(f"  {name}")
    print("OK" if report.ok else "NOT OK")
    return 0 if report.ok else 1


def cmd_grade_all(args: argparse.Namespace) -> int:
    """Grade every student folder under SUBMISSIONS: one results file per student and a class CSV."""
    from autograder.classwide.grade_all import BatchError, grade_all
    from autograder.grading.grade import GradingError

    out = Path(args.out)
    try:
        summary = grade_all(Path(args.submissions), args.assignment, out, jobs=args.jobs, timeout=args.timeout,
                            dask_scheduler=args.dask_scheduler, progress=not args.no_progress)
    except (BatchError, GradingError) as err:
        print(f"grade-all: {err}", file=sys.stderr)
        return 2
    rows = []
    for path in sorted((out / "results").glob("*.json")):
        report = json.loads(path.read_text())
        extra = report.get("extra_data", {})
        rows.append((extra.get("student", path.stem), report["score"], extra.get("status", "?"),
                     extra.get("wall_seconds", 0.0), extra.get("error", "")))
    print(f"{'student':24} {'score':>7} {'status':>7} {'seconds':>8}")
    for student, score, status, seconds, error in rows:
        print(f"{student:24} {score:>7.2f} {status:>7} {seconds:>8.1f}  {error[:60]}")
    scores = [score for _, score, status, _, _ in rows if status == "graded"]
    mean = sum(scores) / len(scores) if scores else 0.0
    print(f"{len(rows)} students: {len(summary.graded)} graded now, {len(summary.skipped)} unchanged since an "
          f"earlier run, {len(summary.errors)} could not be graded; class mean {mean:.2f}")
    print(f"results in {out / 'results'}, class table {summary.csv}")
    return 1 if summary.errors else 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write a self-contained HTML class report from a grade-all folder's results."""
    from autograder.classwide.report import ReportError, write_report
    from autograder.grading.grade import GradingError, suite_folder

    folder = Path(args.directory)
    out = Path(args.out) if args.out else folder / "report.html"
    try:
        write_report(folder, out, rubric=suite_folder(args.assignment) / "rubric.toml")
    except (ReportError, GradingError) as err:
        print(f"report: {err}", file=sys.stderr)
        return 2
    print(f"class report written to {out}")
    return 0


def cmd_gradescope(args: argparse.Namespace) -> int:
    """Build a Gradescope autograder bundle (setup.sh, run_autograder) from the same hidden suites."""
    from autograder.classwide.gradescope import BundleError, build_bundle

    try:
        out = build_bundle(args.assignment, Path(args.out))
    except BundleError as err:
        print(f"gradescope: {err}", file=sys.stderr)
        return 2
    print(f"Gradescope autograder bundle written to {out} (upload it as the assignment's autograder)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="The CNN assignment kit. Instructors generate the release with the ordinary "
                    "`nbgrader generate_assignment cnn --force` at the repository root (or `generate`, "
                    "which also refuses a release that leaks a solution); these commands are the kit's own.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="generate the release and solutions, run the solved notebooks, grade students",
                          description=cmd_demo.__doc__)
    demo.add_argument("--workdir", default=str(REPO_ROOT / "demo_out"),
                      help="scratch folder, replaced on each run (default: %(default)s)")
    demo.add_argument("--images-per-batch", type=int, default=300,
                      help="images per batch of the generated CIFAR-10-format data set (default: %(default)s)")
    demo.add_argument("--show-checks", type=int, default=4,
                      help="printed relative-error checks to show per notebook (default: %(default)s)")
    demo.add_argument("--skip-notebooks", action="store_true",
                      help="do not run the solved notebooks (step 4; the slowest, about a minute)")
    demo.set_defaults(func=cmd_demo)

    generate = sub.add_parser("generate", help="nbgrader generate_assignment, then refuse a release that "
                              "leaks a solution line", description=cmd_generate.__doc__ +
                              " Exit status 0 when the release is safe, 1 otherwise.")
    generate.add_argument("assignment", nargs="?", default=ASSIGNMENT, help="which assignment (default: %(default)s)")
    generate.add_argument("--course", default=".", help="the course folder, holding nbgrader_config.py "
                          "(default: the current folder)")
    generate.set_defaults(func=cmd_generate)

    grade = sub.add_parser("grade", help="grade one submission with the hidden suite (Gradescope JSON)",
                           description=cmd_grade.__doc__ + " Exit status 0 whenever grading completed, "
                           "whatever the score; 2 when the grader itself could not run.")
    grade.add_argument("submission", help="one student's assignment folder (notebooks and nnl/)")
    grade.add_argument("--assignment", default=ASSIGNMENT, help="which hidden suite (default: %(default)s)")
    grade.add_argument("--json", metavar="RESULTS.json", help="where to write the results")
    grade.add_argument("--seed", type=int, default=231, help="grading seed (default: %(default)s)")
    grade.add_argument("--no-bwrap", action="store_true",
                       help="force the rlimits-only sandbox (weaker; for machines without bubblewrap)")
    grade.add_argument("--verbose", action="store_true", help="show pytest's progress output")
    grade.add_argument("--rubric", help="another rubric file than the suite's rubric.toml")
    grade.add_argument("--only", nargs="+", metavar="FILE",
                       help="run only these test files of the suite (give a --rubric that covers just them)")
    grade.set_defaults(func=cmd_grade)

    grade_all = sub.add_parser("grade-all", help="grade a whole class: results per student, a class CSV",
                               description=cmd_grade_all.__doc__ + " Reruns skip students already graded "
                               "with the same submission and grader. Exit status 0 when every student was "
                               "graded, 1 when some could not be, 2 on bad arguments.")
    grade_all.add_argument("submissions", help="nbgrader's submitted/ folder (STUDENT/ASSIGNMENT/) "
                           "or a folder of student folders")
    grade_all.add_argument("--assignment", default=ASSIGNMENT, help="which hidden suite (default: %(default)s)")
    grade_all.add_argument("--out", required=True, help="folder for results/<student>.json and class.csv")
    grade_all.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                           help="gradings at once on this machine (default: the CPU count, %(default)s)")
    grade_all.add_argument("--timeout", type=float, default=600,
                           help="seconds one grading may take before it counts as an error (default: %(default)s)")
    grade_all.add_argument("--dask-scheduler", metavar="ADDRESS",
                           help="run the gradings on a Dask distributed cluster (tcp://host:8786)")
    grade_all.add_argument("--no-progress", action="store_true", help="no progress bar")
    grade_all.set_defaults(func=cmd_grade_all)

    report = sub.add_parser("report", help="an HTML class report (plots, pass rates, diagnostics) of a grade-all run",
                            description=cmd_report.__doc__)
    report.add_argument("directory", help="the --out folder of grade-all (holds results/)")
    report.add_argument("--assignment", default=ASSIGNMENT, help="which rubric orders the functions "
                        "(default: %(default)s)")
    report.add_argument("--out", help="where to write the page (default: DIRECTORY/report.html)")
    report.set_defaults(func=cmd_report)

    gradescope = sub.add_parser("gradescope", help="build a Gradescope autograder zip from the hidden suites",
                                description=cmd_gradescope.__doc__)
    gradescope.add_argument("assignment", nargs="?", default=ASSIGNMENT, help="which assignment (default: %(default)s)")
    gradescope.add_argument("--out", default="autograder.zip", help="the zip to write (default: %(default)s)")
    gradescope.set_defaults(func=cmd_gradescope)

    validate = sub.add_parser("validate", help="prove the hidden suite with the reference, the release and mutants",
                              description=cmd_validate.__doc__ + " Exit status 0 only when every gate holds.")
    validate.add_argument("assignment", nargs="?", default=ASSIGNMENT, help="which suite (default: %(default)s)")
    validate.add_argument("--jobs", type=int, default=2, help="gradings run at once (default: %(default)s)")
    validate.add_argument("--json", metavar="REPORT.json", help="also write the full report as JSON")
    validate.set_defaults(func=cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
