"""A Gradescope autograder bundle that grades with the kit's own hidden suites.

`build_bundle` writes ``autograder.zip`` in Gradescope's layout: ``setup.sh``
and ``run_autograder`` (templates in ``gradescope_files/``) at its root,
beside what grading needs: the ``autograder`` package with this assignment's
suite only (no other assignment's hidden tests travel), the
reference ``source/<assignment>`` (the suites compare against it; the bundle
is private to Gradescope), the student release ``release/<assignment>``,
``requirements.txt`` and a manifest ``gradescope.json`` naming the assignment
and the files students write.

Gradescope unpacks the zip to ``/autograder/source``, runs ``setup.sh`` once,
then for each submission runs ``run_autograder``, which calls `run_submission`
(``python -m autograder.classwide.gradescope run``): a copy of the release with
the student's own modules laid over it is graded by the ordinary grading
command, and ``/autograder/results/results.json`` is always written.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path, PurePosixPath

from autograder.paths import PACKAGE, REPO_ROOT

TEMPLATES = Path(__file__).resolve().parent / "gradescope_files"
MANIFEST = "gradescope.json"
# What the grading command imports (checked by the tests); their versions come from pyproject.toml.
GRADING_PACKAGES = ("numpy", "pytest", "nbformat")
# Never bundled: caches and checkpoints (the kit's `generate.DEFAULT_IGNORE`), course state, private copies.
CACHES = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".pytest_cache")
EXCLUDE = (*CACHES, "demo_out", "solutions_private", "gradebook.db", "*.egg-info", ".git")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed: the same kit gives the same bundle


class BundleError(ValueError):
    """The bundle cannot be built; the message says what is missing or wrong."""


def _is_excluded(rel: PurePosixPath) -> bool:
    return any(PurePosixPath(part).match(pattern) for part in rel.parts for pattern in EXCLUDE)


def _tree(root: Path, prefix: str) -> dict[str, Path]:
    """Every regular file under ``root`` not excluded, keyed by its name in the zip."""
    files = {}
    for directory, subdirs, names in os.walk(root):
        here = Path(directory)
        subdirs[:] = sorted(d for d in subdirs if not _is_excluded(PurePosixPath(d)))
        for name in names:
            rel = PurePosixPath((here / name).relative_to(root).as_posix())
            if not _is_excluded(rel) and (here / name).is_file():
                files[f"{prefix}/{rel}"] = here / name
    return files


def _requirements(pyproject: Path) -> str:
    """The grading packages with the version bounds of ``pyproject.toml``'s dependencies."""
    specs = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pinned = {}
    for spec in specs:
        name = spec.split(";")[0].strip()
        for sep in "<>=!~[ ":
            name = name.split(sep)[0]
        pinned[name.lower()] = spec
    return "".join(f"{pinned.get(name, name)}\n" for name in GRADING_PACKAGES)


def build_bundle(assignment: str, out: Path, root: Path = REPO_ROOT) -> Path:
    """Write the Gradescope autograder zip of ``assignment`` to ``out``.

    Parameters
    ----------
    assignment : str
        The assignment's name: it needs ``source/<assignment>``,
        ``release/<assignment>`` and the hidden suite ``autograder/suites/<assignment>``.
    out : Path
        Where to write the zip; written to a temporary file then renamed, so a
        failed build never leaves a half-written bundle.
    root : Path
        The kit's repository root.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    BundleError
        When the assignment, its suite, its source or its release is missing.
    """
    from autograder.authoring.generate import (
        files_students_write,  # not at import: the container's run step must not need nbformat
    )

    out = Path(out).resolve()
    suite = root / "autograder" / "suites" / assignment
    source, release = root / "source" / assignment, root / "release" / assignment
    plain_name = PurePosixPath(assignment).name == assignment and not assignment.startswith(".")
    if not plain_name or not (suite / "rubric.toml").is_file():
        known = sorted(p.parent.name for p in (root / "autograder" / "suites").glob("*/rubric.toml"))
        raise BundleError(f"unknown assignment {assignment!r}: no hidden suite autograder/suites/{assignment} "
                          f"(known: {', '.join(known) or 'none'})")
    if not source.is_dir():
        raise BundleError(f"no solution source at {source}: the suite grades against it")
    written = files_students_write(source)
    if not written:
        raise BundleError(f"{source} has no .py file with solution regions: students would write nothing")
    missing = [rel for rel in written if not (release / rel).is_file()]
    if not release.is_dir() or missing:
        raise BundleError(f"no complete student release at {release} (missing {', '.join(missing) or 'everything'}): "
                          f"run `nbgrader generate_assignment {assignment} --force` first")
    for template in ("setup.sh", "run_autograder"):
        if not (TEMPLATES / template).is_file():
            raise BundleError(f"missing template {TEMPLATES / template}")

    kit = {name: path for name, path in _tree(root / "autograder", "autograder").items()
           if not name.startswith("autograder/suites/")}
    files = {**kit, **_tree(suite, f"autograder/suites/{assignment}"), **_tree(source, f"source/{assignment}"),
             **_tree(release, f"release/{assignment}")}
    manifest = {"assignment": assignment, "students_write": written,
                "notebooks": sorted(p.name for p in release.glob("*.ipynb"))}
    texts = {MANIFEST: json.dumps(manifest, indent=1) + "\n",
             "requirements.txt": _requirements(root / "pyproject.toml"),
             "pyproject.toml": (root / "pyproject.toml").read_text()}
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}-", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name in ("setup.sh", "run_autograder"):
                _add(bundle, name, (TEMPLATES / name).read_bytes(), executable=True)
            for name, text in texts.items():
                _add(bundle, name, text.encode())
            for name, path in sorted(files.items()):
                _add(bundle, name, path.read_bytes(), executable=bool(path.stat().st_mode & stat.S_IXUSR))
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _add(bundle: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    bundle.writestr(info, data)


# ---------------------------------------------------------------------- in the Gradescope container


def _target(rel: PurePosixPath, written: list[PurePosixPath], notebooks: list[str]) -> PurePosixPath | None:
    """Where an uploaded file goes in the assignment folder, or ``None`` when it is not taken.

    A module students write is taken from its own path (``nnl/layers.py``, also inside an
    enclosing folder such as ``cnn/nnl/layers.py``) or from the upload's top level
    (``layers.py``); a release notebook by its name. Nothing else: never a provided module.
    """
    for module in written:
        if rel.name == module.name and (len(rel.parts) == 1 or rel.parts[-len(module.parts):] == module.parts):
            return module
    if rel.name in notebooks:
        return PurePosixPath(rel.name)
    return None


def assemble_submission(upload: Path, release: Path, dest: Path, students_write: list[str],
                        notebooks: list[str]) -> tuple[dict[str, str], list[str]]:
    """Build the assignment folder to grade: a copy of the release with the upload's own files over it.

    Parameters
    ----------
    upload : Path
        The student's upload (Gradescope's ``/autograder/submission``).
    release : Path
        The student release, which provides every other file.
    dest : Path
        The assignment folder to create.
    students_write : list of str
        The modules students write, relative to the assignment folder (``nnl/layers.py``).
    notebooks : list of str
        The release's notebook names.

    Returns
    -------
    taken : dict of str to str
        Assignment path -> the upload's path it was taken from.
    ignored : list of str
        The upload's files that were not taken (provided modules, duplicates, links, others).
    """
    shutil.copytree(release, dest, ignore=shutil.ignore_patterns(*CACHES))
    written = [PurePosixPath(rel) for rel in students_write]
    uploaded = []
    for directory, subdirs, names in os.walk(upload):  # never follows links to folders
        here = Path(directory)
        subdirs.sort()
        uploaded += [here / name for name in sorted(names)]
        uploaded += [here / name for name in subdirs if (here / name).is_symlink()]
    # An exact path beats a flat or nested one when both are uploaded.
    uploaded.sort(key=lambda p: (PurePosixPath(p.relative_to(upload).as_posix()) not in written, str(p)))
    taken, ignored = {}, []
    for path in uploaded:
        rel = PurePosixPath(path.relative_to(upload).as_posix())
        target = None if path.is_symlink() or not path.is_file() else _target(rel, written, notebooks)
        if target is None or str(target) in taken:
            ignored.append(str(rel))
            continue
        shutil.copyfile(path, dest / target)
        taken[str(target)] = str(rel)
    return taken, sorted(ignored)


def _zero_report(results: Path, message: str, extra: dict) -> None:
    from autograder.grading.results import GradingResults

    GradingResults([], output=message, extra_data=extra).write(results)


def run_submission(root: Path) -> int:
    """Grade Gradescope's ``root/submission`` into ``root/results/results.json``; always write the file.

    Parameters
    ----------
    root : Path
        Gradescope's ``/autograder`` (``AUTOGRADER_ROOT`` in tests), holding ``source/`` (the
        unpacked bundle), ``submission/`` and ``results/``.

    Returns
    -------
    int
        The grading command's exit status (0 when grading completed, whatever the score).
    """
    source, upload, results = root / "source", root / "submission", root / "results" / "results.json"
    extra = {"grader": str(PACKAGE)}
    try:
        return _grade_upload(source, upload, results, extra)
    except Exception as err:  # whatever went wrong, Gradescope must get a report
        _zero_report(results, f"The autograder failed ({type(err).__name__}: {str(err)[:500]}); this is not "
                              "your doing. Please tell the course staff.", extra)
        return 2


def _grade_upload(source: Path, upload: Path, results: Path, extra: dict) -> int:
    from autograder.grading.grade import grade_to_file

    manifest = json.loads((source / MANIFEST).read_text())
    assignment, written = manifest["assignment"], manifest["students_write"]
    with tempfile.TemporaryDirectory(prefix="gradescope-") as work:
        folder = Path(work) / assignment
        taken, ignored = assemble_submission(upload, source / "release" / assignment, folder, written,
                                             manifest["notebooks"])
        extra.update(taken=taken, ignored=ignored)
        modules = [rel for rel in written if rel in taken]
        note_ignored = ("Not taken from your upload (not files you write: provided modules always come from "
                        f"the release): {', '.join(ignored[:20])}{' ...' if len(ignored) > 20 else ''}."
                        if ignored else "")
        if not modules:
            _zero_report(results, f"Nothing was graded: your upload holds none of the files you write "
                                  f"({', '.join(written)}). Upload your {_folders(written)}, or those files.\n"
                                  + note_ignored, extra)
            return 0
        code, _ = grade_to_file(folder, assignment, results)
    if not results.is_file():
        raise RuntimeError(f"the grading command wrote no results (exit status {code})")
    report = json.loads(results.read_text())
    from_release = [rel for rel in written if rel not in taken]
    note = f"Taken from your upload: {', '.join(modules)}."
    if from_release:
        note += f" Not in your upload, so the release's stub was graded: {', '.join(from_release)}."
    report["output"] = "\n".join(part for part in (note, note_ignored, report.get("output", "")) if part)
    report["extra_data"] = {**report.get("extra_data", {}), **extra}
    fd, tmp = tempfile.mkstemp(prefix=".results-", dir=results.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(report, handle, indent=1, sort_keys=True)
    os.replace(tmp, results)
    return code


def _folders(written: list[str]) -> str:
    """``nnl/ folder`` (or ``a/ and b/ folders``): the folders holding the modules students write."""
    folders = sorted({PurePosixPath(rel).parts[0] + "/" for rel in written if len(PurePosixPath(rel).parts) > 1})
    return f"{' and '.join(folders)} folder{'s' if len(folders) > 1 else ''}" if folders else "files"


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.classwide.gradescope {build,run}``: build a bundle, or grade in the container."""
    parser = argparse.ArgumentParser(prog="python -m autograder.classwide.gradescope", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="write the Gradescope autograder zip")
    build.add_argument("assignment")
    build.add_argument("--out", default="autograder.zip")
    run = sub.add_parser("run", help="grade Gradescope's submission folder (what run_autograder calls)")
    run.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    args = parser.parse_args(argv)
    if args.command == "run":
        return run_submission(Path(args.root))
    try:
        print(build_bundle(args.assignment, Path(args.out)))
    except BundleError as err:
        print(f"cannot build the bundle: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
