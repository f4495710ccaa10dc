"""Class-wide code similarity: ``python -m autograder similarity SUBMISSIONS --assignment A --out DIR``.

It compares the code students wrote, pair by pair, and writes ``DIR/similarity.csv`` (one row
per pair) and ``DIR/similarity.html`` (see :mod:`autograder.classwide.similarity_page`). It never
changes a score: it flags pairs for a human to look at.

What is compared: the graded functions and classes of the assignment's graded modules (the
rubric's ``functions[name].module``), plus any top-level helper a student added to those modules,
cut out of each module with :mod:`ast` as text, docstrings left out. A module that does not parse
is compared whole. Student code is never imported or executed: files are read as bytes (no
symbolic link followed, at most :data:`MAX_FILE_BYTES`, binary files skipped) and parsed, never run.

How: the winnowing fingerprints of the ``copydetect`` package. Its tokenizer (pygments) turns
every name into ``V``/``F``/``O`` and every string into ``S`` and drops comments and whitespace;
its fingerprints are the hashes of the k-grams of that token text. The k-grams of the release
(stubs and the template code around them) and of the provided modules are its *boilerplate*,
subtracted from every fingerprint set, so two blank submissions share nothing. Renamed variables,
reordered functions, rewritten comments and whitespace therefore change no fingerprint.

The steps, in order (:func:`find_similar_pairs`, then :func:`similarity` writes):

1. :func:`graded_modules`: which names to cut out of which files, from the rubric.
2. :func:`boilerplate_texts`: the release's code (else the source's, stubbed) and the provided modules.
3. :func:`prepare_class` (worker processes for a large class) and :func:`read_known`: one
   :class:`Document` per student and known source, each segment's normalized text.
4. :func:`boilerplate_hashes` and :func:`segment_hashes`: copydetect's fingerprints.
5. :func:`score_pairs`: shared fingerprints of every pair (one sparse product), scores, and the
   functions involved.
6. :func:`write_pairs_csv` and :func:`autograder.classwide.similarity_page.write_page`.
"""
from __future__ import annotations

import ast
import csv
import io
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder.classwide.grade_all import BatchError, find_submissions, write_atomically
from autograder.course import release_folder, source_folder, suite_path
from autograder.paths import REPO_ROOT

# k, copydetect's noise threshold: the shortest run of normalized code, in characters, that counts as
# shared. Normalized code is dense ("V=V.V(V,-1)" is `out = x.reshape(N, -1)`, a name is one letter):
# the solution's graded functions are 36 (relu_forward) to 1,061 (ThreeLayerConvNet) characters of it,
# template code included, and independent correct versions share idioms of 10 to 20
# (`V=V.V(V,V=1,V=True)` is any `np.max(x, axis=1, keepdims=True)`). 25, copydetect's default, keeps
# such idioms from counting alone, while a copied short function still brings every k-gram that
# spans its body and the template around it. On the planted class of tests/test_similarity.py, k =
# 15, 20, 25 and 30 all score the planted pairs 0.97 to 1.0, and every independent pair at most 0.16,
# 0.12, 0.10 and 0.09: the larger k thins the tail of independent pairs, which a class of 500 has
# 125,000 of.
NOISE_THRESHOLD = 25
# copydetect's guarantee threshold, equal to the noise threshold: a window of 1, so every k-gram is
# a fingerprint. Winnowing with a larger window keeps the smallest hash of each window; its hashes
# come from Python's per-process `hash`, so the scores would change from one run to the next. Every
# k-gram is affordable here (one sparse product for the class), and every match of k characters is found.
GUARANTEE_THRESHOLD = NOISE_THRESHOLD
# A pair's score is the share of the smaller side's fingerprints that the other side has, but never
# over fewer than this many: a submission of two common lines is not "100% similar" to everyone.
MIN_FINGERPRINTS = 60
# A segment (function) is "involved" in a pair when at least this share of its fingerprints (over at
# least MIN_SEGMENT_FINGERPRINTS) are found in the other side.
INVOLVED_SHARE = 0.5
MIN_SEGMENT_FINGERPRINTS = 15
FLAG_THRESHOLD = 0.5
MAX_FILE_BYTES = 256 * 1024
MAX_KNOWN_FILES = 5000
MAX_HELPERS = 50
POOL_FROM = 40  # from this many submissions, worker processes read and tokenize them
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".git"}
KNOWN_PREFIX = "known:"


class SimilarityError(ValueError):
    """The submissions, the known sources or the output folder cannot be used; the message names it."""


@dataclass(frozen=True)
class Segment:
    """One piece of code a student wrote, as text.

    Attributes
    ----------
    name : str
        The graded function or class (``conv_forward_naive``), a helper (``_pad (helper)``) or
        ``<module> (whole)`` for a module that does not parse.
    module : str
        The file it comes from, relative to the submission (``pkg/layers.py``).
    text : str
        Its source lines, docstrings left out.
    kind : str
        ``"graded"``, ``"helper"`` or ``"whole"``.
    """

    name: str
    module: str
    text: str
    kind: str = "graded"

    @property
    def key(self) -> tuple[str, str]:
        """What lines it up with the other side's version: a graded name, else its name and module."""
        return (self.name, "") if self.kind == "graded" else (self.name, self.module)


@dataclass
class Document:
    """What one student (or one known source) wrote.

    Attributes
    ----------
    name : str
        The student (folder name) or ``known:<folder>``.
    kind : str
        ``"student"`` or ``"known"``.
    segments : list of Segment
    notes : list of str
        Files skipped, capped or compared whole, and why.
    """

    name: str
    kind: str
    segments: list[Segment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pair:
    """Two documents and how much code they share.

    Attributes
    ----------
    a, b : str
        Document names; ``b`` is ``known:...`` for a known source.
    kind : str
        ``"students"`` or ``"known source"``.
    score : float
        ``max(share_a, share_b)``, in [0, 1].
    share_a, share_b : float
        Shared fingerprints over each side's fingerprints (at least :data:`MIN_FINGERPRINTS`).
    shared : int
        Fingerprints the two have in common.
    functions : tuple of str
        The segments involved (see :data:`INVOLVED_SHARE`), in the rubric's order.
    """

    a: str
    b: str
    kind: str
    score: float
    share_a: float
    share_b: float
    shared: int
    functions: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    """The knobs of one comparison (defaults: the module's constants)."""

    noise_threshold: int = NOISE_THRESHOLD
    guarantee_threshold: int = GUARANTEE_THRESHOLD
    min_fingerprints: int = MIN_FINGERPRINTS
    flag_threshold: float = FLAG_THRESHOLD

    @property
    def window(self) -> int:
        return self.guarantee_threshold - self.noise_threshold + 1


# -- 1. what students write ------------------------------------------------------------------------

def graded_modules(assignment: str, root: Path = REPO_ROOT) -> dict[str, list[str]]:
    """The graded names of each graded module, from the assignment's rubric, in the rubric's order.

    Returns
    -------
    dict
        ``{relative path: [names]}``, e.g. ``{"pkg/layers.py": ["affine_forward", ...]}``; the path is
        the module's ``.py`` file, or its package's ``__init__.py``, whichever the source has.

    Raises
    ------
    SimilarityError
        When the assignment has no rubric, or a rubric module is not in the source.
    """
    from autograder.grading.rubric import Rubric, RubricError

    rubric_path = suite_path(assignment) / "rubric.toml"
    if not rubric_path.is_file():
        raise SimilarityError(f"{rubric_path}: no rubric, so no graded functions to compare")
    try:
        rubric = Rubric.load(rubric_path)
    except RubricError as err:
        raise SimilarityError(str(err)) from None
    source = source_folder(assignment, root)
    modules: dict[str, list[str]] = {}
    for graded in rubric.functions.values():
        base = graded.module.replace(".", "/")
        path = next((p for p in (f"{base}.py", f"{base}/__init__.py") if (source / p).is_file()), None)
        if path is None:
            raise SimilarityError(f"{rubric_path}: {graded.name} is in module {graded.module}, but {source} has "
                                  f"no {base}.py")
        modules.setdefault(path, []).append(graded.name)
    return modules


# -- reading hostile files -------------------------------------------------------------------------

def read_text(path: Path, within: Path, notes: list[str], label: str | None = None) -> str | None:
    """The text of ``path`` (under ``within``), read as bytes, never executed; None when not readable.

    No symbolic link is followed (neither the file nor a folder on the way), only regular files are
    read, at most :data:`MAX_FILE_BYTES` (cut at a line end, with a note), files holding NUL bytes
    are skipped as binary, and bytes that are not UTF-8 are replaced (with a note). Every reason a
    file is skipped or cut is appended to ``notes``.
    """
    label = label or str(path.relative_to(within))
    current = Path(within)
    for part in path.relative_to(within).parts:
        current = current / part
        if current.is_symlink():
            notes.append(f"{label}: a symbolic link, not followed")
            return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        notes.append(f"{label}: missing")
        return None
    except OSError as err:
        notes.append(f"{label}: cannot be read ({err.strerror})")
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            notes.append(f"{label}: not a regular file, not read")
            return None
        data = handle.read(MAX_FILE_BYTES + 1)
    if b"\0" in data:
        notes.append(f"{label}: binary (holds NUL bytes), not compared")
        return None
    if len(data) > MAX_FILE_BYTES:
        data = data[:MAX_FILE_BYTES].rpartition(b"\n")[0]
        notes.append(f"{label}: larger than {MAX_FILE_BYTES // 1024} KiB, only its first "
                     f"{len(data) // 1024} KiB compared")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        notes.append(f"{label}: not UTF-8 text, undecodable bytes replaced")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# -- cutting the code out --------------------------------------------------------------------------

DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _docstring_lines(node: ast.AST, lines: list[str]) -> set[int]:
    """0-based line numbers of the docstrings of ``node`` and of the definitions inside it.

    Only a docstring alone on its lines is left out (never a line that holds code too).
    """
    found: set[int] = set()
    for inner in ast.walk(node):
        if not isinstance(inner, DEFINITIONS) or not inner.body:
            continue
        first = inner.body[0]
        if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)) or first.end_lineno is None:
            continue
        before = lines[first.lineno - 1].encode()[:first.col_offset]
        after = lines[first.end_lineno - 1].encode()[first.end_col_offset:]
        if not before.strip() and (not after.strip() or after.strip().startswith(b"#")):
            found.update(range(first.lineno - 1, first.end_lineno))
    return found


def _definition_text(node: ast.AST, lines: list[str]) -> str:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
    skip = _docstring_lines(node, lines)
    return "\n".join(line for number, line in enumerate(lines[start:node.end_lineno], start=start)
                     if number not in skip).rstrip()


def top_level_definitions(text: str) -> dict[str, str]:
    """``{name: source text}`` of the top-level functions and classes of ``text`` (the last one of a name
    wins, as at import), docstrings left out.

    Raises
    ------
    SyntaxError, ValueError, RecursionError, MemoryError
        When ``text`` does not parse.
    """
    tree = ast.parse(text)
    lines = text.split("\n")
    return {node.name: _definition_text(node, lines) for node in tree.body if isinstance(node, DEFINITIONS)}


def _parse_failure(err: BaseException) -> str:
    if isinstance(err, SyntaxError):
        return f"line {err.lineno}: {err.msg}"
    return type(err).__name__


def module_segments(text: str, module: str, graded: list[str], provided: set[str],
                    notes: list[str], helpers: bool = True) -> list[Segment]:
    """The graded definitions of one module's text, then the helpers the student added.

    Parameters
    ----------
    text : str
    module : str
        Its path in the submission, for names and notes.
    graded : list of str
        The graded names defined in this module, in the rubric's order.
    provided : set of str
        Top-level names the release's version of the module defines: not the student's helpers.
    notes : list of str
        Where to say what was not found or compared whole.
    helpers : bool
        Also cut out the other top-level definitions (not for known sources).
    """
    try:
        definitions = top_level_definitions(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        notes.append(f"{module}: does not parse as Python ({_parse_failure(err)}), compared whole")
        return [Segment(f"{module} (whole)", module, text.strip(), "whole")] if text.strip() else []
    segments = [Segment(name, module, definitions[name]) for name in graded if name in definitions]
    missing = [name for name in graded if name not in definitions]
    if missing and helpers:
        notes.append(f"{module}: defines no {', '.join(missing)}")
    if helpers:
        extra = sorted(name for name in definitions if name not in graded and name not in provided)
        if len(extra) > MAX_HELPERS:
            notes.append(f"{module}: {len(extra)} other definitions, only the first {MAX_HELPERS} compared")
        segments += [Segment(f"{name} (helper)", module, definitions[name], "helper") for name in extra[:MAX_HELPERS]]
    return segments


# -- 2. boilerplate: the release and the provided code ----------------------------------------------

@dataclass
class Boilerplate:
    """The code every student got: its texts, and where they come from."""

    texts: list[str]
    provided_names: dict[str, set[str]]
    origin: str


def boilerplate_texts(assignment: str, modules: dict[str, list[str]], root: Path = REPO_ROOT) -> Boilerplate:
    """The release's graded modules (whole, and cut like a blank submission) and every other ``.py`` file
    of the release. Without a release folder: the source's modules with their solution regions replaced
    by the stub (what the release would hold) and the course's ``utils/``.
    """
    release = release_folder(assignment, root)
    texts: list[str] = []
    provided: dict[str, set[str]] = {}
    if release.is_dir():
        origin = str(release)
        files = {str(p.relative_to(release)): p.read_text(errors="replace") for p in sorted(release.rglob("*.py"))
                 if p.is_file() and not SKIP_PARTS & set(p.relative_to(release).parts)}
    else:
        from autograder.authoring.solution_regions import PYTHON_STUB, replace_regions

        source = source_folder(assignment, root)
        origin = f"{source} with its solution regions stubbed (no {release})"
        files = {}
        for folder, prefix in ((source, ""), (Path(root) / "utils", "utils/")):
            for p in sorted(folder.rglob("*.py")) if folder.is_dir() else []:
                if p.is_file() and not SKIP_PARTS & set(p.relative_to(folder).parts):
                    files[prefix + str(p.relative_to(folder))] = replace_regions(p.read_text(errors="replace"),
                                                                                 PYTHON_STUB, name=str(p))
    for path, text in files.items():
        texts.append(text)
        if path in modules:
            try:
                definitions = top_level_definitions(text)
            except (SyntaxError, ValueError):
                continue
            provided[path] = set(definitions)
            texts += [definitions[name] for name in modules[path] if name in definitions]
    return Boilerplate(texts, provided, origin)


def _fingerprint(text: str, settings: Settings, boilerplate=None):
    """copydetect's fingerprint of one text (Python tokens), boilerplate subtracted."""
    from copydetect import CodeFingerprint

    return CodeFingerprint("segment.py", settings.noise_threshold, settings.window, boilerplate=boilerplate,
                           language="python", fp=io.StringIO(text))


def boilerplate_hashes(boilerplate: Boilerplate, settings: Settings) -> np.ndarray:
    """Every k-gram hash of the boilerplate texts (a window of 1, as copydetect takes boilerplate)."""
    hashes = [np.fromiter(_fingerprint(text, Settings(settings.noise_threshold, settings.noise_threshold)).hashes,
                          dtype=np.int64) for text in boilerplate.texts]
    return np.unique(np.concatenate(hashes)) if hashes else np.array([], dtype=np.int64)


# -- 3. documents ------------------------------------------------------------------------------------

def read_submission(student: str, folder: Path, modules: dict[str, list[str]],
                    provided: dict[str, set[str]]) -> Document:
    """The code ``student`` wrote in the graded modules under ``folder`` (read as text only)."""
    document = Document(student, "student")
    if folder.is_symlink():
        document.notes.append(f"{folder.name}: the submission folder is a symbolic link, not followed")
        return document
    for path, graded in modules.items():
        text = read_text(folder / path, folder, document.notes)
        if text is not None:
            document.segments += module_segments(text, path, graded, provided.get(path, set()), document.notes)
    document.segments = _in_order(document.segments, modules)
    return document


def _in_order(segments: list[Segment], modules: dict[str, list[str]]) -> list[Segment]:
    """Graded segments in the rubric's order (whatever order the files had), then the rest."""
    rank = {name: i for i, name in enumerate(name for names in modules.values() for name in names)}
    return sorted(segments, key=lambda s: (rank.get(s.name, len(rank)), s.module, s.name))


def _python_files(folder: Path, notes: list[str], label: str) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).parts
        if SKIP_PARTS & set(parts) or any(p.startswith(".") for p in parts):
            continue
        if len(files) == MAX_KNOWN_FILES:
            notes.append(f"{label}: more than {MAX_KNOWN_FILES} Python files, the rest not read")
            break
        files.append(path)
    return files


def read_known(root: Path, modules: dict[str, list[str]]) -> list[Document]:
    """Known sources (last year's solutions, public repositories) under ``root``, each one document.

    Each folder directly under ``root`` is one source (``known:<folder>``), and the ``.py`` files
    directly in ``root`` one more (``known:<root>/*.py``); where ``root`` itself holds a graded
    module's path, ``root`` is one source. Any ``.py`` file under a source may define graded
    functions (first definition in path order wins); a file that does not parse but has ``def NAME``
    / ``class NAME`` of a graded name is compared whole. Helpers are not cut out of known sources.

    Raises
    ------
    SimilarityError
        When ``root`` is not a folder, or no file under it defines any graded function.
    """
    root = Path(root)
    if not root.is_dir():
        raise SimilarityError(f"{root}: not a folder of known sources")
    graded = [name for names in modules.values() for name in names]
    defines = re.compile(r"^\s*(?:async\s+def|def|class)\s+(" + "|".join(map(re.escape, graded)) + r")\b",
                         re.MULTILINE)
    if any((root / path).is_file() for path in modules):
        groups = [(root.name, root, True)]
    else:
        groups = [(entry.name, entry, True) for entry in sorted(root.iterdir())
                  if entry.is_dir() and not entry.is_symlink() and not entry.name.startswith(".")]
        if any(p.is_file() for p in root.glob("*.py")):
            groups.append((f"{root.name}/*.py", root, False))
    documents = []
    for name, folder, recursive in groups:
        document = Document(KNOWN_PREFIX + name, "known")
        found: dict[str, Segment] = {}
        paths = _python_files(folder, document.notes, name) if recursive else sorted(folder.glob("*.py"))
        for path in paths:
            label = f"{folder.name}/{path.relative_to(folder)}"
            text = read_text(path, folder, document.notes, label)
            if text is None or not defines.search(text):
                continue
            wanted = [n for n in graded if n not in found]
            for segment in module_segments(text, label, wanted, set(), document.notes, helpers=False):
                found.setdefault(segment.name, segment)
        document.segments = _in_order(list(found.values()), modules)
        if document.segments:
            documents.append(document)
    if not documents:
        raise SimilarityError(f"{root}: no Python file under it defines any graded function "
                              f"({', '.join(graded[:5])}{', ...' if len(graded) > 5 else ''})")
    return documents


# -- 4. fingerprints ---------------------------------------------------------------------------------
# copydetect's CodeFingerprint is two steps: `filter_code` (pygments tokens to normalized text, the
# slow part) and `get_document_fingerprints` (k-gram hashes, winnowing, boilerplate). The first runs
# in worker processes for a large class; the second always here, because its hashes come from
# Python's `hash`, salted per process: every hash compared must come from one process.

def normalized(texts: list[str]) -> list[str]:
    """copydetect's normalized token text of each Python text (names V/F/O, strings S, no comments)."""
    from copydetect.utils import filter_code

    seen: dict[str, str] = {}  # the same text (a stub left as released) is tokenized once
    for text in texts:
        if text not in seen:
            seen[text] = filter_code(text, "segment.py", language="python")[0]
    return [seen[text] for text in texts]


def prepare_submission(student: str, folder: Path, modules: dict[str, list[str]],
                       provided: dict[str, set[str]]) -> tuple[Document, list[str]]:
    """:func:`read_submission` and the normalized text of each segment (a worker process's task).

    Whatever goes wrong with one submission becomes a note on it, never a failed report.
    """
    try:
        document = read_submission(student, folder, modules, provided)
        return document, normalized([s.text for s in document.segments])
    except Exception as err:  # noqa: BLE001 (hostile input must not stop the class's report)
        return Document(student, "student", notes=[f"could not be read: {type(err).__name__}: {err}"[:500]]), []


def _start_method() -> str:
    """fork while this process runs one thread (fast, and scripts need no ``__main__`` guard), else spawn:
    forking a process that runs threads (a test runner's, a progress bar's monitor) is unsafe."""
    import multiprocessing
    import threading

    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def prepare_class(found: list, modules: dict[str, list[str]], provided: dict[str, set[str]], jobs: int = 1,
                  progress: bool = False, desc: str = "similarity") -> list[tuple[Document, list[str]]]:
    """:func:`prepare_submission` for every submission, ``jobs`` at once (in worker processes when > 1)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from tqdm import tqdm

    def bar():
        return tqdm(total=len(found), unit="student", disable=not progress, file=sys.stderr, desc=desc)

    if jobs <= 1:
        with bar() as shown:
            prepared = []
            for sub in found:
                prepared.append(prepare_submission(sub.student, sub.folder, modules, provided))
                shown.update()
            return prepared
    context = multiprocessing.get_context(_start_method())
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(prepare_submission, sub.student, sub.folder, modules, provided) for sub in found]
        with bar() as shown:  # its monitor thread starts after the workers
            prepared = []
            for sub, future in zip(found, futures):
                try:
                    prepared.append(future.result())
                except BrokenProcessPool as err:
                    raise SimilarityError(f"a worker process reading the submissions died while on {sub.folder} "
                                          f"({err}); with the spawn start method, a script calling this needs "
                                          "`if __name__ == '__main__':`") from None
                shown.update()
            return prepared


def segment_hashes(normalized_texts: list[str], boilerplate: np.ndarray, settings: Settings) -> list[np.ndarray]:
    """copydetect's fingerprints (unique int64 hashes, boilerplate subtracted) of each normalized text."""
    from copydetect.utils import get_document_fingerprints

    return [np.fromiter(get_document_fingerprints(text, settings.noise_threshold, settings.window, boilerplate)[0],
                        dtype=np.int64) for text in normalized_texts]


# -- 5. pairs ----------------------------------------------------------------------------------------

def score_pairs(documents: list[Document], prints: list[list[np.ndarray]], settings: Settings) -> list[Pair]:
    """Every pair of students, and every student with every known source, most similar first.

    Shared fingerprints come from one sparse product of the (documents x fingerprints) incidence
    matrix with itself; a segment's share in the other side from one more (segments x documents).
    """
    from scipy import sparse

    doc_rows, seg_rows, seg_doc, seg_size, cols = [], [], [], [], []
    for d, segments in enumerate(prints):
        for hashes in segments:
            seg_rows.append(np.full(len(hashes), len(seg_doc)))
            seg_doc.append(d)
            seg_size.append(len(hashes))
            doc_rows.append(np.full(len(hashes), d))
            cols.append(hashes)
    n_docs, n_segs = len(documents), len(seg_doc)
    if not cols or not sum(len(c) for c in cols):
        shared = np.zeros((n_docs, n_docs))
        in_other = np.zeros((n_segs, n_docs))
    else:
        _, ids = np.unique(np.concatenate(cols), return_inverse=True)
        n_ids = int(ids.max()) + 1
        docs = sparse.csr_matrix((np.ones(len(ids), dtype=np.float32), (np.concatenate(doc_rows), ids)),
                                 shape=(n_docs, n_ids))
        docs.data[:] = 1.0  # a fingerprint in two segments of one document counts once
        segs = sparse.csr_matrix((np.ones(len(ids), dtype=np.float32), (np.concatenate(seg_rows), ids)),
                                 shape=(n_segs, n_ids))
        shared = (docs @ docs.T).toarray()
        in_other = (segs @ docs.T).toarray()
    sizes = np.diag(shared).copy()
    share = shared / np.maximum(sizes, settings.min_fingerprints)[:, None]
    seg_doc_arr = np.array(seg_doc, dtype=int)
    seg_floor = np.maximum(np.array(seg_size, dtype=float), MIN_SEGMENT_FINGERPRINTS)
    involved = in_other / seg_floor[:, None] >= INVOLVED_SHARE if n_segs else np.zeros((0, n_docs), bool)
    names = [[s.name for s in doc.segments] for doc in documents]
    first_seg = np.searchsorted(seg_doc_arr, np.arange(n_docs + 1)) if n_segs else np.zeros(n_docs + 1, int)

    def functions(a: int, b: int) -> tuple[str, ...]:
        mine = [names[a][i] for i in np.flatnonzero(involved[first_seg[a]:first_seg[a + 1], b])]
        theirs = [names[b][i] for i in np.flatnonzero(involved[first_seg[b]:first_seg[b + 1], a])]
        order = {name: i for i, name in enumerate(names[a] + names[b])}
        return tuple(sorted(set(mine) | set(theirs), key=order.__getitem__))

    students = [i for i, d in enumerate(documents) if d.kind == "student"]
    known = [i for i, d in enumerate(documents) if d.kind == "known"]
    pairs = []
    for position, a in enumerate(students):
        for b, kind in [(b, "students") for b in students[position + 1:]] + [(b, "known source") for b in known]:
            common = int(shared[a, b])
            share_a, share_b = float(share[a, b]), float(share[b, a])
            pairs.append(Pair(documents[a].name, documents[b].name, kind, max(share_a, share_b), share_a, share_b,
                              common, functions(a, b) if common else ()))
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    return pairs


def _merge(slices: list[np.ndarray]) -> np.ndarray:
    """The union of 2 x N slice arrays (starts, ends) as one sorted 2 x M array without overlaps."""
    slices = [s for s in slices if s.size]
    if not slices:
        return np.zeros((2, 0), dtype=int)
    starts, ends = np.concatenate([s[0] for s in slices]), np.concatenate([s[1] for s in slices])
    order = np.argsort(starts, kind="stable")
    merged: list[list[int]] = []
    for start, end in zip(starts[order].tolist(), ends[order].tolist()):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return np.array(merged, dtype=int).T


def matching_regions(a: Document, b: Document, boilerplate: np.ndarray, settings: Settings,
                     cache: dict | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Where ``a`` and ``b`` share code: for each segment of each, the 2 x N character slices (starts,
    ends) of its text that copydetect's ``compare_files`` finds in any segment of the other (code
    moved to a helper is found too), boilerplate left out.

    ``cache`` (a dict kept across calls) keeps each document's segment fingerprints for the next pair.
    """
    from copydetect import compare_files

    cache = {} if cache is None else cache
    for document in (a, b):
        if document.name not in cache:
            cache[document.name] = [_fingerprint(s.text, settings, boilerplate) for s in document.segments]
    prints_a, prints_b = cache[a.name], cache[b.name]
    found_a: list[list[np.ndarray]] = [[] for _ in prints_a]
    found_b: list[list[np.ndarray]] = [[] for _ in prints_b]
    for i, print_a in enumerate(prints_a):
        for j, print_b in enumerate(prints_b):
            if print_a.hashes.isdisjoint(print_b.hashes):
                continue
            _, _, (slices_a, slices_b) = compare_files(print_a, print_b)
            found_a[i].append(np.asarray(slices_a, dtype=int).reshape(2, -1))
            found_b[j].append(np.asarray(slices_b, dtype=int).reshape(2, -1))
    return [_merge(found) for found in found_a], [_merge(found) for found in found_b]


# -- 6. outputs --------------------------------------------------------------------------------------

CSV_COLUMNS = ["student_a", "student_b", "kind", "score", "share_a", "share_b", "shared_fingerprints",
               "functions", "flagged"]


def write_pairs_csv(pairs: list[Pair], path: Path, flag_threshold: float) -> Path:
    """``similarity.csv``: one row per pair, most similar first, written atomically."""
    def write(handle):
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for p in pairs:
            writer.writerow([p.a, p.b, p.kind, f"{p.score:.4f}", f"{p.share_a:.4f}", f"{p.share_b:.4f}", p.shared,
                             "; ".join(p.functions), "yes" if p.score >= flag_threshold else "no"])
    return write_atomically(path, write)


def read_pairs_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a ``similarity.csv``, in file order (most similar first).

    Raises
    ------
    SimilarityError
        When the file cannot be read or lacks the columns :data:`CSV_COLUMNS`.
    """
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise SimilarityError(f"{path}: cannot be read ({err})") from None
    if rows and not set(CSV_COLUMNS) <= set(rows[0]):
        raise SimilarityError(f"{path}: lacks the columns {', '.join(c for c in CSV_COLUMNS if c not in rows[0])}")
    return rows


@dataclass
class SimilarityRun:
    """What one ``similarity`` run found and wrote."""

    assignment: str
    documents: list[Document]
    pairs: list[Pair]
    settings: Settings
    boilerplate_origin: str
    boilerplate: np.ndarray
    csv: Path | None = None
    html: Path | None = None

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.score >= self.settings.flag_threshold]

    @property
    def students(self) -> list[Document]:
        return [d for d in self.documents if d.kind == "student"]

    @property
    def known(self) -> list[Document]:
        return [d for d in self.documents if d.kind == "known"]


def find_similar_pairs(submissions: Path, assignment: str, *, known: Path | None = None,
                       settings: Settings = Settings(), progress: bool = False, jobs: int | None = None,
                       root: Path = REPO_ROOT) -> SimilarityRun:
    """Read, fingerprint and compare a class (steps 1 to 5); nothing is written.

    Parameters
    ----------
    submissions : Path
        nbgrader's ``submitted/`` folder or a folder of student folders (as ``grade-all`` takes them).
    assignment : str
    known : Path, optional
        A folder of known sources (see :func:`read_known`), each compared with every student.
    settings : Settings
    progress : bool
        A progress bar on stderr while reading and tokenizing.
    jobs : int, optional
        Worker processes that read and tokenize submissions; by default one per CPU for a class of
        at least :data:`POOL_FROM`, none (this process) for a smaller one.
    root : Path
        The course folder (its ``source/``, ``release/``).

    Raises
    ------
    SimilarityError
        On a submissions or known folder that cannot be used (the message names it).
    """
    if settings.guarantee_threshold < settings.noise_threshold or settings.noise_threshold < 1:
        raise SimilarityError("the guarantee threshold must be at least the noise threshold, itself at least 1")
    if not 0 <= settings.flag_threshold <= 1:
        raise SimilarityError(f"the flag threshold must be between 0 and 1, not {settings.flag_threshold:g}")
    try:
        found = find_submissions(Path(submissions), assignment)
    except BatchError as err:
        raise SimilarityError(str(err)) from None
    modules = graded_modules(assignment, root)
    boilerplate = boilerplate_texts(assignment, modules, root)
    known_documents = read_known(Path(known), modules) if known is not None else []
    if jobs is None:
        jobs = (os.cpu_count() or 1) if len(found) >= POOL_FROM else 1
    prepared = prepare_class(found, modules, boilerplate.provided_names, jobs, progress, f"similarity {assignment}")
    prepared += [(document, normalized([s.text for s in document.segments])) for document in known_documents]
    hashes = boilerplate_hashes(boilerplate, settings)
    documents = [document for document, _ in prepared]
    prints = [segment_hashes(texts, hashes, settings) for _, texts in prepared]
    return SimilarityRun(assignment, documents, score_pairs(documents, prints, settings), settings,
                         boilerplate.origin, hashes)


def similarity(submissions: Path, assignment: str, out: Path, *, known: Path | None = None,
               settings: Settings = Settings(), progress: bool = True, jobs: int | None = None,
               root: Path = REPO_ROOT) -> SimilarityRun:
    """Compare a class and write ``out/similarity.csv`` and ``out/similarity.html`` (each atomically).

    See :func:`find_similar_pairs` for the parameters.

    Raises
    ------
    SimilarityError
        On unusable submissions, known sources or output folder (the message names it).
    """
    from autograder.classwide.similarity_page import write_page

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SimilarityError(f"{out}: exists and is not a folder")
    run = find_similar_pairs(submissions, assignment, known=known, settings=settings, progress=progress, jobs=jobs,
                             root=root)
    try:
        out.mkdir(parents=True, exist_ok=True)
        run.csv = write_pairs_csv(run.pairs, out / "similarity.csv", settings.flag_threshold)
        run.html = write_page(run, out / "similarity.html")
    except OSError as err:
        raise SimilarityError(f"{out}: cannot write the similarity report ({err.strerror or err})") from None
    return run
