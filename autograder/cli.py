"""``python -m autograder``: the kit's commands, one function per subcommand.

Every command that works on one assignment takes its name; where the course
has exactly one assignment under ``source/``, that one is used, and otherwise
the command refuses and lists the assignments there are (never a silent default).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from autograder.course import AssignmentError, resolve_assignment
from autograder.paths import REPO_ROOT

INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C, as a shell reports it


def _assignment(args: argparse.Namespace, root: Path = REPO_ROOT) -> str:
    """The assignment named on the command line, or the course's only one (`resolve_assignment`)."""
    return resolve_assignment(getattr(args, "assignment", None), root)


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate the release and solutions, run the solved notebooks, then take four students through nbgrader."""
    from autograder.demo.demo import run_demo

    return run_demo(args)


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade one submission with the hidden suite; write Gradescope results JSON."""
    from autograder.grading.grade import grade_to_file
    from autograder.grading.results import GradingResults

    try:
        assignment = _assignment(args)
    except AssignmentError as err:  # the results file is still written: a report at 0 saying why
        if args.json:
            GradingResults.without_results([], f"the grader could not run: {err}").write(Path(args.json))
        raise
    status, results = grade_to_file(Path(args.submission), assignment, args.json and Path(args.json),
                                    use_bwrap=not args.no_bwrap, seed=args.seed, verbose=args.verbose,
                                    rubric=args.rubric and Path(args.rubric), only=args.only or None)
    if results is not None:
        print(grade_summary(args.submission, results))
    return status


def grade_summary(submission: str, results) -> str:
    """The line `grade` prints for a completed grading: score, tests passed, time and isolation."""
    failed = [t for t in results.tests if t.status == "failed"]
    return (f"{submission}: {results.score:g} / {results.max_score:g} "
            f"({len(results.tests) - len(failed)} of {len(results.tests)} tests passed, "
            f"{results.execution_time:.1f}s, isolation: {results.extra_data.get('isolation')})")


def cmd_generate(args: argparse.Namespace) -> int:
    """Run `nbgrader generate_assignment ASSIGNMENT --force` in the course folder, then refuse (remove) a
    release that shows any solution line or was made without the course's nbgrader_config.py."""
    from autograder.authoring.checked_release import ReleaseRefused, generate_checked_release

    try:
        assignment = _assignment(args, Path(args.course))
        checked = generate_checked_release(Path(args.course), assignment)
    except ReleaseRefused as err:
        print(f"python -m autograder generate: {err}", file=sys.stderr)
        return 1
    print(f"{checked.release}: {checked.stubs} stubs in the modules students write, no solution line leaked; "
          f"ready for `nbgrader release_assignment {assignment}`")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Prove the hidden suite: the reference scores full marks, the blank release 0, every mutant is caught."""
    from autograder.grading.grade import GradingError
    from autograder.grading.validate import validate

    try:
        report = validate(_assignment(args), jobs=args.jobs)
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
        summary = grade_all(Path(args.submissions), _assignment(args), out, jobs=args.jobs, timeout=args.timeout,
                            dask_scheduler=args.dask_scheduler, progress=not args.no_progress)
    except (BatchError, GradingError) as err:
        print(f"grade-all: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = len(list((out / "results").glob("*.json")))
        print(f"grade-all: interrupted. Results kept: {kept} students, in {out / 'results'} and "
              f"{out / 'class.csv'}. Run the same command again to grade the others (students already "
              "graded are skipped).", file=sys.stderr)
        return INTERRUPTED
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
        write_report(folder, out, rubric=suite_folder(_assignment(args)) / "rubric.toml",
                     similarity=args.similarity and Path(args.similarity))
    except (ReportError, GradingError) as err:
        print(f"report: {err}", file=sys.stderr)
        return 2
    print(f"class report written to {out}")
    return 0


def cmd_gradescope(args: argparse.Namespace) -> int:
    """Build a Gradescope autograder bundle (setup.sh, run_autograder) from the same hidden suites."""
    from autograder.classwide.gradescope import BundleError, build_bundle

    try:
        out = build_bundle(_assignment(args), Path(args.out))
    except BundleError as err:
        print(f"gradescope: {err}", file=sys.stderr)
        return 2
    print(f"Gradescope autograder bundle written to {out} (upload it as the assignment's autograder)")
    return 0


def cmd_new_assignment(args: argparse.Namespace) -> int:
    """Create a complete, tiny, working example assignment (notebook, module, public check, hidden suite,
    rubric, one catalogued mistake) to replace with your own; it passes `generate` and `validate` as created."""
    from autograder.authoring.scaffold import ScaffoldError, new_assignment

    try:
        written = new_assignment(args.name, args.package)
    except ScaffoldError as err:
        print(f"python -m autograder new-assignment: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"  wrote {path.relative_to(REPO_ROOT)}")
    print(f"next: python -m autograder generate {args.name} && python -m autograder validate {args.name} "
          "(see docs/authoring.md)")
    return 0


def cmd_sync_score_cells(args: argparse.Namespace) -> int:
    """Add, update or remove the score cells of an assignment's source notebooks to match its rubric.toml."""
    from autograder.authoring.sync_score_cells import SyncError, sync_score_cells
    from autograder.course import source_folder
    from autograder.grading.grade import GradingError, suite_folder
    from autograder.grading.rubric import Rubric, RubricError

    assignment = _assignment(args)
    try:
        report = sync_score_cells(source_folder(assignment), Rubric.load(suite_folder(assignment) / "rubric.toml"),
                                  write=not args.check)
    except (SyncError, GradingError, RubricError) as err:
        print(f"python -m autograder sync-score-cells: {err}", file=sys.stderr)
        return 2
    for line in report.changes:
        print(f"  {line}")
    if not report.changes:
        print(f"{assignment}: the score cells match the rubric")
    elif args.check:
        print(f"{assignment}: {len(report.changes)} score cell(s) out of date (run without --check to fix)")
        return 1
    else:
        print(f"{assignment}: {len(report.changes)} change(s) written; regenerate with "
              f"`python -m autograder generate {assignment}`")
    return 0


def cmd_similarity(args: argparse.Namespace) -> int:
    """Compare the code every student wrote (graded functions, release code subtracted): a CSV of every pair
    and an HTML page of the most similar ones, side by side. It never changes a score."""
    from autograder.classwide.similarity import Settings, SimilarityError, similarity

    settings = Settings() if args.threshold is None else Settings(flag_threshold=args.threshold)
    try:
        run = similarity(Path(args.submissions), _assignment(args), Path(args.out),
                         known=args.known and Path(args.known), settings=settings, progress=not args.no_progress)
    except SimilarityError as err:
        print(f"similarity: {err}", file=sys.stderr)
        return 2
    known = f" and {len(run.known)} known source(s)" if run.known else ""
    print(f"{len(run.students)} students{known}: {len(run.pairs)} pairs compared, {len(run.flagged)} flagged "
          f"(score >= {settings.flag_threshold:g}); no score was changed")
    for pair in run.pairs[:10]:
        print(f"  {pair.score:5.2f}  {pair.a} / {pair.b}  {', '.join(pair.functions[:6])}")
    print(f"every pair in {run.csv}, the page for a human in {run.html}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="The course kit: auto-graded nbgrader assignments with hidden, sandboxed test suites. "
                    "Instructors generate a release with the ordinary `nbgrader generate_assignment NAME "
                    "--force` at the course root (or `generate`, which also refuses a release that leaks a "
                    "solution). A command that needs an assignment uses the course's only one, or refuses "
                    "and lists them when there are several. See docs/authoring.md.",
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
    generate.add_argument("assignment", nargs="?", help="which assignment (default: the course's only one)")
    generate.add_argument("--course", default=".", help="the course folder, holding nbgrader_config.py "
                          "(default: the current folder)")
    generate.set_defaults(func=cmd_generate)

    grade = sub.add_parser("grade", help="grade one submission with the hidden suite (Gradescope JSON)",
                           description=cmd_grade.__doc__ + " Exit status 0 whenever grading completed, "
                           "whatever the score; 2 when the grader itself could not run.")
    grade.add_argument("submission", help="one student's assignment folder (notebooks and the modules they "
                       "write)")
    grade.add_argument("--assignment", help="which assignment (default: the course's only one)")
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
    grade_all.add_argument("--assignment", help="which assignment (default: the course's only one)")
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
    report.add_argument("--assignment", help="which assignment's rubric orders the functions "
                        "(default: the course's only one)")
    report.add_argument("--out", help="where to write the page (default: DIRECTORY/report.html)")
    report.add_argument("--similarity", metavar="DIR", help="the --out folder of `similarity` (default: its "
                        "results in DIRECTORY, if any)")
    report.set_defaults(func=cmd_report)

    gradescope = sub.add_parser("gradescope", help="build a Gradescope autograder zip from the hidden suites",
                                description=cmd_gradescope.__doc__)
    gradescope.add_argument("assignment", nargs="?", help="which assignment (default: the course's only one)")
    gradescope.add_argument("--out", default="autograder.zip", help="the zip to write (default: %(default)s)")
    gradescope.set_defaults(func=cmd_gradescope)

    validate = sub.add_parser("validate", help="prove the hidden suite with the reference, the release and mutants",
                              description=cmd_validate.__doc__ + " Exit status 0 only when every gate holds.")
    validate.add_argument("assignment", nargs="?", help="which assignment (default: the course's only one)")
    validate.add_argument("--jobs", type=int, default=2, help="gradings run at once (default: %(default)s)")
    validate.add_argument("--json", metavar="REPORT.json", help="also write the full report as JSON")
    validate.set_defaults(func=cmd_validate)

    new = sub.add_parser("new-assignment", help="create a small working example assignment to start from",
                         description=cmd_new_assignment.__doc__)
    new.add_argument("name", help="the new assignment's name (lowercase letters, digits, _)")
    new.add_argument("--package", help="the package students write in (default: the one the course's "
                     "assignments use)")
    new.set_defaults(func=cmd_new_assignment)

    sync = sub.add_parser("sync-score-cells", help="make the notebooks' score cells match rubric.toml",
                          description=cmd_sync_score_cells.__doc__)
    sync.add_argument("assignment", nargs="?", help="which assignment (default: the course's only one)")
    sync.add_argument("--check", action="store_true", help="only report; exit 1 when the cells are out of date")
    sync.set_defaults(func=cmd_sync_score_cells)

    similarity = sub.add_parser("similarity", help="a code similarity report of a class (flags pairs for a human; "
                                "never changes a score)", description=cmd_similarity.__doc__ + " Exit status 0 "
                                "when the report was written, 2 on bad arguments.")
    similarity.add_argument("submissions", help="nbgrader's submitted/ folder (STUDENT/ASSIGNMENT/) "
                            "or a folder of student folders")
    similarity.add_argument("--assignment", help="which assignment (default: the course's only one)")
    similarity.add_argument("--out", required=True, help="folder for similarity.csv and similarity.html "
                            "(the grade-all folder puts a summary in its class report)")
    similarity.add_argument("--known", metavar="DIR", help="known sources to compare every student with: one "
                            "folder per source (last year's solutions, public repositories)")
    similarity.add_argument("--threshold", type=float, help="flag pairs from this score, 0 to 1 (default: 0.5)")
    similarity.add_argument("--no-progress", action="store_true", help="no progress bar")
    similarity.set_defaults(func=cmd_similarity)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AssignmentError as err:
        print(f"python -m autograder {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: the command's own clean-up has run; a line, not a traceback
        print(f"python -m autograder {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
