"""The Gradescope bundle: built from the kit, unpacked as Gradescope does, graded through its run_autograder.

Each grading runs the bundle's own ``run_autograder`` with ``AUTOGRADER_ROOT`` standing for
``/autograder`` and a ``python3`` that sees only the packages of the bundle's ``requirements.txt``
(what ``setup.sh`` installs on Gradescope), never the repository's own ``autograder``.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from autograder.authoring.generate import DEFAULT_IGNORE, files_students_write
from autograder.classwide.gradescope import CACHES, BundleError, assemble_submission, build_bundle

REPO = Path(__file__).resolve().parents[1]
SOLVED = REPO / "solutions_private" / "cnn"
RELEASE = REPO / "release" / "cnn"
SEED_CODE = REPO / "examples" / "seed_submission"
WRITTEN = files_students_write(REPO / "source" / "cnn")
PROVIDED = sorted(f"nnl/{p.name}" for p in (RELEASE / "nnl").glob("*.py") if f"nnl/{p.name}" not in WRITTEN)
NOTEBOOKS = sorted(p.name for p in RELEASE.glob("*.ipynb"))


# --- helpers -------------------------------------------------------------------------------


def requirement_closure(lines: list[str]) -> set[str]:
    """The installed distributions that ``pip install`` of ``lines`` would bring (extras left out)."""
    seen, todo = set(), [Requirement(line) for line in lines]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo += [Requirement(r) for r in metadata.requires(req.name) or []]
    return seen


def clean_python(bundle: Path, where: Path) -> Path:
    """A ``bin/`` whose ``python3`` is this venv's interpreter seeing only the bundle's requirements."""
    with zipfile.ZipFile(bundle) as z:
        wanted = requirement_closure(z.read("requirements.txt").decode().split())
    site = where / "site"
    site.mkdir(parents=True)
    for dist in metadata.distributions():
        if canonicalize_name(dist.metadata["Name"]) not in wanted:
            continue
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")}:
            source = Path(dist.locate_file(top))
            if source.exists() and not source.name.endswith(".pth") and not (site / top).exists():
                (site / top).symlink_to(source)
    python = where / "bin" / "python3"
    python.parent.mkdir()
    python.write_text(f'#!/bin/sh\nPYTHONPATH="{site}" exec "{sys.executable}" -S "$@"\n')
    python.chmod(0o755)
    return python.parent


def unpack(bundle: Path, where: Path) -> Path:
    """Gradescope's layout: the bundle in ``autograder/source``, empty ``submission`` and ``results``."""
    root = where / "autograder"
    with zipfile.ZipFile(bundle) as z:
        for info in z.infolist():
            Path(z.extract(info, root / "source")).chmod(info.external_attr >> 16 & 0o777)  # as unzip does
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def upload(root: Path, files: dict[str, Path | str]) -> None:
    """Put the student's upload in ``submission/``: upload path -> file to copy, or text."""
    for rel, content in files.items():
        path = root / "submission" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, path)
        else:
            path.write_text(content)


def run_autograder(root: Path, bin_dir: Path) -> dict:
    """Run the bundle's run_autograder as Gradescope would; return results.json."""
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"run_autograder must exit 0, not {done.returncode}: {done.stderr[-2000:]}"
    results = root / "results" / "results.json"
    assert results.is_file(), f"run_autograder wrote no results.json:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return json.loads(results.read_text())


def solved_nnl(replace: dict[str, str] | None = None) -> dict[str, Path | str]:
    """The solved copy's whole ``nnl/`` folder as an upload, some files replaced by text."""
    files: dict[str, Path | str] = {f"nnl/{p.name}": p for p in (SOLVED / "nnl").glob("*.py")}
    return {**files, **(replace or {})}


def total(results: dict) -> float:
    return sum(t["max_score"] for t in results["tests"])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_bundle("cnn", tmp_path_factory.mktemp("bundle") / "autograder.zip")


@pytest.fixture(scope="module")
def python_bin(bundle, tmp_path_factory) -> Path:
    return clean_python(bundle, tmp_path_factory.mktemp("python"))


@pytest.fixture(scope="module")
def solved_results(bundle, python_bin, tmp_path_factory) -> tuple[dict, Path]:
    root = unpack(bundle, tmp_path_factory.mktemp("solved"))
    upload(root, solved_nnl())
    return run_autograder(root, python_bin), root


@pytest.fixture(scope="module")
def seed_results(bundle, python_bin, tmp_path_factory) -> dict:
    root = unpack(bundle, tmp_path_factory.mktemp("seed"))
    upload(root, {p.name: p for p in SEED_CODE.iterdir() if p.is_file()})
    return run_autograder(root, python_bin)


# --- the zip -------------------------------------------------------------------------------


def test_scripts_sit_at_the_root_and_are_executable(bundle):
    """Does the zip have Gradescope's two scripts at its root, executable once unzipped?"""
    with zipfile.ZipFile(bundle) as z:
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert script in modes, f"Gradescope needs {script} at the zip's root"
        assert modes[script] & stat.S_IXUSR, f"{script} must be executable in the zip (mode {oct(modes[script])})"


@pytest.mark.parametrize("needed", ["autograder/grading/grade.py", "autograder/grading/reference.py",
                                    "autograder/suites/cnn/rubric.toml", "source/cnn/nnl/layers.py",
                                    "release/cnn/nnl/fast_layers.py", "release/cnn/nnl/layers.py",
                                    "requirements.txt", "gradescope.json"])
def test_bundle_holds_what_grading_needs(bundle, needed):
    """Are the grader, its suite, the reference the suite compares with, and the release in the zip?"""
    with zipfile.ZipFile(bundle) as z:
        assert needed in z.namelist(), f"{needed} missing from the bundle: grading on Gradescope needs it"


@pytest.mark.parametrize("part", ["solutions_private", "__pycache__", "demo_out", "gradebook.db",
                                  ".pytest_cache", ".ipynb_checkpoints"])
def test_bundle_leaves_out_private_copies_and_caches(bundle, part):
    """Does nothing of the solved copy, caches or course state travel in the bundle?"""
    with zipfile.ZipFile(bundle) as z:
        found = [n for n in z.namelist() if part in n.split("/") or n.endswith(".pyc")]
    assert not found, f"the bundle must not hold {part}: {found[:5]}"


def test_bundle_skips_the_same_caches_as_the_generator():
    """Does the bundle's own list of caches (kept free of the generator's nbformat import) match it?"""
    assert CACHES == DEFAULT_IGNORE


def test_manifest_names_exactly_the_modules_students_write(bundle):
    """Is the list of modules taken from uploads computed from the source, without provided modules?"""
    with zipfile.ZipFile(bundle) as z:
        manifest = json.loads(z.read("gradescope.json"))
    assert manifest["assignment"] == "cnn"
    assert manifest["students_write"] == WRITTEN
    assert not set(PROVIDED) & set(manifest["students_write"])


def test_setup_script_is_valid_bash_installing_the_sandbox_and_a_recent_python(bundle, tmp_path):
    """Is setup.sh valid bash that installs bubblewrap, handles Python < 3.11 and installs requirements.txt?"""
    root = unpack(bundle, tmp_path)
    setup = root / "source" / "setup.sh"
    assert setup.stat().st_mode & stat.S_IXUSR
    check = subprocess.run(["bash", "-n", str(setup)], capture_output=True, text=True)
    assert check.returncode == 0, f"setup.sh is not valid bash: {check.stderr}"
    text = setup.read_text()
    for needed in ("bubblewrap", "python3.11", "requirements.txt"):
        assert needed in text, f"setup.sh should mention {needed}"


def test_requirements_pin_what_the_kit_declares_and_leave_out_nbgrader(bundle):
    """Does requirements.txt take its bounds from pyproject.toml, without nbgrader (grading never imports it)?"""
    with zipfile.ZipFile(bundle) as z:
        lines = z.read("requirements.txt").decode().split()
    assert {Requirement(line).name for line in lines} == {"numpy", "pytest", "nbformat"}
    assert "numpy>=1.26" in lines


def test_the_same_kit_builds_the_same_bytes(bundle, tmp_path):
    """Is the bundle reproducible (fixed dates, sorted entries), so a rebuild shows whether anything changed?"""
    again = build_bundle("cnn", tmp_path / "again.zip")
    assert again.read_bytes() == bundle.read_bytes()


@pytest.mark.parametrize("assignment, complaint", [("rnn", "unknown assignment 'rnn'.*known: cnn"),
                                                   ("../cnn", "unknown assignment")])
def test_unknown_assignment_is_refused_and_writes_nothing(tmp_path, assignment, complaint):
    """Is an unknown assignment refused with the known ones named, and no zip left behind?"""
    with pytest.raises(BundleError, match=complaint):
        build_bundle(assignment, tmp_path / "autograder.zip")
    assert list(tmp_path.iterdir()) == []


def test_missing_release_is_refused_with_the_command_that_makes_it(tmp_path):
    """Without release/cnn, does the build say to run nbgrader generate_assignment first?"""
    root = tmp_path / "kit"
    root.mkdir()
    for name in ("autograder", "source", "pyproject.toml"):
        (root / name).symlink_to(REPO / name)
    with pytest.raises(BundleError, match="release.*nbgrader generate_assignment cnn"):
        build_bundle("cnn", tmp_path / "autograder.zip", root=root)
    assert not (tmp_path / "autograder.zip").exists()
    assert issubclass(BundleError, ValueError)


# --- laying the upload over the release (no grading) ---------------------------------------------


@pytest.mark.parametrize("layout", [
    {"nnl/layers.py": "nnl/layers.py"},                 # uploaded the folder
    {"layers.py": "nnl/layers.py"},                     # flat files, as the seed's
    {"cnn/nnl/layers.py": "nnl/layers.py"},             # the whole assignment folder, zipped
    {"nnl/optim.py": "nnl/optim.py", "CNN.ipynb": "CNN.ipynb"},
])
def test_uploaded_modules_land_where_the_grader_imports_them(tmp_path, layout):
    """Does each layout of an upload put the student's module at its place in nnl/?"""
    up = tmp_path / "up"
    for rel in layout:
        (up / rel).parent.mkdir(parents=True, exist_ok=True)
        (up / rel).write_text(f"# student's {rel}\n")
    taken, ignored = assemble_submission(up, RELEASE, tmp_path / "cnn", WRITTEN, NOTEBOOKS)
    assert taken == {target: rel for rel, target in layout.items()}
    assert ignored == []
    for rel, target in layout.items():
        assert (tmp_path / "cnn" / target).read_text() == f"# student's {rel}\n"
    assert (tmp_path / "cnn" / "nnl" / "fast_layers.py").read_text() == (RELEASE / "nnl" / "fast_layers.py").read_text()


@pytest.mark.parametrize("rel", [*PROVIDED, "fast_layers.py", "utils/gradient_check.py", "grade.py", "notes.txt"])
def test_provided_and_unknown_files_are_never_taken_from_the_upload(tmp_path, rel):
    """Is a provided module (or anything that is not a file students write) ignored, the release's kept?"""
    up = tmp_path / "up"
    (up / rel).parent.mkdir(parents=True)
    (up / rel).write_text("raise RuntimeError('tampered')\n")
    taken, ignored = assemble_submission(up, RELEASE, tmp_path / "cnn", WRITTEN, NOTEBOOKS)
    assert taken == {} and ignored == [rel]
    assert "tampered" not in "".join(p.read_text() for p in (tmp_path / "cnn").rglob("*.py"))


def test_a_link_to_the_reference_is_not_followed(tmp_path):
    """Can an uploaded symlink smuggle the reference solution in? It must be ignored."""
    up = tmp_path / "up" / "nnl"
    up.mkdir(parents=True)
    (up / "layers.py").symlink_to(REPO / "source" / "cnn" / "nnl" / "layers.py")
    (tmp_path / "up" / "ref").symlink_to(REPO / "source" / "cnn" / "nnl", target_is_directory=True)
    taken, ignored = assemble_submission(tmp_path / "up", RELEASE, tmp_path / "cnn", WRITTEN, NOTEBOOKS)
    assert taken == {} and sorted(ignored) == ["nnl/layers.py", "ref"]
    assert (tmp_path / "cnn" / "nnl" / "layers.py").read_text() == (RELEASE / "nnl" / "layers.py").read_text()


def test_the_exact_path_wins_over_a_flat_copy(tmp_path):
    """When both nnl/layers.py and layers.py are uploaded, is nnl/layers.py graded and the other reported?"""
    up = tmp_path / "up"
    (up / "nnl").mkdir(parents=True)
    (up / "layers.py").write_text("# flat\n")
    (up / "nnl" / "layers.py").write_text("# in nnl\n")
    taken, ignored = assemble_submission(up, RELEASE, tmp_path / "cnn", WRITTEN, NOTEBOOKS)
    assert taken == {"nnl/layers.py": "nnl/layers.py"} and ignored == ["layers.py"]
    assert (tmp_path / "cnn" / "nnl" / "layers.py").read_text() == "# in nnl\n"


# --- grading through run_autograder --------------------------------------------------------------


def test_solved_upload_scores_full_marks(solved_results):
    """Does the solved nnl/ folder, uploaded as is, score 100 on the bundle's suite and reference?"""
    results, _ = solved_results
    failed = [(t["name"], t["output"][:200]) for t in results["tests"] if t["status"] != "passed"]
    assert not failed, f"the solved copy lost points on Gradescope: {failed[:3]}"
    assert results["score"] == pytest.approx(100) == total(results), f"not graded: {results.get('output')}"


def test_grading_uses_the_bundles_own_grader_and_needs_only_its_requirements(solved_results):
    """Was the solved copy graded by the unpacked bundle's autograder, with only requirements.txt installed?"""
    results, root = solved_results
    grader = Path(results.get("extra_data", {}).get("grader", "nowhere: " + results.get("output", "")))
    assert grader == root / "source" / "autograder", f"graded by {grader}, not the bundle's copy"


def test_seed_flat_files_are_graded_and_their_syntax_errors_named(seed_results):
    """Are the seed's flat layers.py, conv_layers.py, cnn.py graded, its unparsable modules named per test?"""
    assert 0 < seed_results["score"] < total(seed_results) == pytest.approx(100)
    unparsable = {t["output"].split(" could not be imported")[0] for t in seed_results["tests"]
                  if "SyntaxError" in t["output"]}
    assert unparsable == {"nnl/cnn.py", "nnl/conv_layers.py"}


def test_modules_missing_from_the_upload_are_said_to_be_graded_from_the_release(seed_results):
    """Does the report say the seed's missing optim.py was graded as the release's stub, and README.md ignored?"""
    assert "release's stub was graded: nnl/optim.py" in seed_results["output"]
    assert "README.md" in seed_results["output"]
    assert seed_results["extra_data"]["taken"] == {"nnl/cnn.py": "cnn.py", "nnl/conv_layers.py": "conv_layers.py",
                                                   "nnl/layers.py": "layers.py"}


def test_tampered_provided_modules_in_the_upload_are_ignored(bundle, python_bin, tmp_path):
    """Do a raising fast_layers.py and __init__.py in the upload change nothing: still full marks?"""
    root = unpack(bundle, tmp_path)
    boom = "raise RuntimeError('tampered provided module')\n"
    upload(root, solved_nnl({"nnl/fast_layers.py": boom, "nnl/__init__.py": boom, "fast_layers.py": boom}))
    results = run_autograder(root, python_bin)
    assert results["score"] == pytest.approx(100), [t["output"][:200] for t in results["tests"] if t["score"] == 0][:3]
    assert {"nnl/fast_layers.py", "nnl/__init__.py", "fast_layers.py"} <= set(results["extra_data"]["ignored"])


def test_a_container_that_forbids_bubblewrap_still_grades_with_resource_limits(bundle, python_bin, tmp_path):
    """Where Gradescope's container forbids namespaces (bwrap fails), does run_autograder grade anyway,
    saying which isolation it had?"""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(python_bin / "python3")
    (bin_dir / "bwrap").write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    (bin_dir / "bwrap").chmod(0o755)
    root = unpack(bundle, tmp_path / "gs")
    upload(root, solved_nnl())
    results = run_autograder(root, bin_dir)
    assert results["score"] == pytest.approx(100), results.get("output")
    assert results["extra_data"]["isolation"].startswith("rlimits-only: bubblewrap failed to start")


@pytest.mark.parametrize("files", [{}, {"README.md": "my notes"}, {"nnl/fast_layers.py": "x = 1\n"}],
                         ids=["empty", "no-module", "only-provided"])
def test_an_upload_without_student_modules_gets_a_zero_report_saying_what_to_upload(bundle, python_bin, tmp_path,
                                                                                   files):
    """Does an upload with none of the files students write give 0 with a message naming those files?"""
    root = unpack(bundle, tmp_path)
    upload(root, files)
    results = run_autograder(root, python_bin)
    assert results["score"] == 0 and results["tests"] == []
    assert "Nothing was graded" in results["output"]
    for module in WRITTEN:
        assert module in results["output"]


def test_a_grader_that_cannot_run_still_reports_zero(bundle, python_bin, tmp_path):
    """When the grading command exits 2 (here a broken rubric), is there still a zero report naming the problem?"""
    root = unpack(bundle, tmp_path)
    (root / "source" / "autograder" / "suites" / "cnn" / "rubric.toml").write_text("total = = 2\n")
    upload(root, solved_nnl())
    results = run_autograder(root, python_bin)
    assert results["score"] == 0
    assert "the grader could not run" in results["output"]


def test_without_a_working_python_run_autograder_still_writes_a_report(bundle, tmp_path):
    """If Python itself cannot start, does the shell script write a valid zero report?"""
    root = unpack(bundle, tmp_path)
    upload(root, solved_nnl())
    broken = tmp_path / "bin"
    broken.mkdir()
    (broken / "python3").write_text("#!/bin/sh\nexit 3\n")
    (broken / "python3").chmod(0o755)
    results = run_autograder(root, broken)
    assert results["score"] == 0 and results["tests"] == []
    assert "could not run (exit status 3)" in results["output"]
