"""The class report: one self-contained HTML page from a folder of results files.

``python -m autograder grade-all SUBMISSIONS --out DIR`` writes ``DIR/results/<student>.json``
(Gradescope results with ``extra_data``); `write_report` reads them all and writes a page a TA
can open anywhere: a score histogram, pass rates per graded function, the most common
diagnostics, the slowest submissions and a table of every student. Plots are PNGs embedded
as ``data:`` URLs; there is no external CSS, script, font or network access.

Student names and feedback are hostile input: every string read from a results file is
escaped before it reaches the page, and the page's Content-Security-Policy forbids scripts.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import statistics
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from autograder.grading.feedback import KNOWN_MISTAKE

TOP_DIAGNOSTICS = 15
TOP_SLOWEST = 10
TOP_SIMILAR = 10
MAX_DIAGNOSTIC_CHARS = 200
# A number not glued to a name: "1.0e+00", "120", "0.7" (but not the 1 of "W1").
NUMBER = re.compile(r"(?<![A-Za-z_\d.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
NUMBER_TUPLE = re.compile(r"\(#(?:,\s*#)*,?\)")
FIRST_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z])")
# The grader's " (pkg/layers.py:30 in affine_forward: <the student's line>)" after an exception.
WHERE = re.compile(r"\s\((?:[\w.-]+/)*[\w.-]+\.py:\d+\b.*\)\s*$")
TEST_KEYS = {"name": str, "score": (int, float), "max_score": (int, float), "status": str}


class ReportError(ValueError):
    """The results folder cannot be reported on; the message names the folder or file."""


@dataclass(frozen=True)
class StudentResult:
    """One student's results file, read and checked.

    Attributes
    ----------
    key : str
        The results file's name without ``.json`` (unique in the folder).
    student : str
        ``extra_data.student``, else ``key``. Untrusted.
    score, max_score : float
        Points earned and possible (``max_score`` sums the tests' ``max_score``; 0 when there are none).
    status : str
        ``"graded"`` or ``"error"`` (could not be graded).
    error : str
        Why grading failed, for ``"error"``.
    seconds : float
        ``extra_data.wall_seconds``, else ``execution_time``.
    isolation : str
    tests : list of dict
        The Gradescope tests, each with ``name``, ``score``, ``max_score``, ``status``, ``output``, ``tags``.
    """

    key: str
    student: str
    score: float
    max_score: float
    status: str
    error: str
    seconds: float
    isolation: str
    tests: list

    @property
    def graded(self) -> bool:
        return self.status != "error"


def _function(test: dict) -> str:
    """The graded function of a test: its first tag."""
    return test["tags"][0] if test["tags"] else "(untagged)"


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_result(path: Path) -> StudentResult:
    """Read and check one ``results/<student>.json``.

    Parameters
    ----------
    path : Path

    Returns
    -------
    StudentResult

    Raises
    ------
    ReportError
        When the file is not valid JSON or lacks ``score``, ``tests`` or a test key.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportError(f"{path}: not a valid JSON results file ({err})") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: expected a JSON object with `score` and `tests`, got {type(data).__name__}")
    extra = data.get("extra_data") if isinstance(data.get("extra_data"), dict) else {}
    status = "error" if extra.get("status") == "error" else "graded"
    if not _finite(data.get("score")):
        raise ReportError(f"{path}: lacks a numeric `score`")
    tests = data.get("tests", [] if status == "error" else None)
    if not isinstance(tests, list):
        raise ReportError(f"{path}: lacks a `tests` list")
    for index, test in enumerate(tests):
        for key, kind in TEST_KEYS.items():
            if not isinstance(test, dict) or not isinstance(test.get(key), kind):
                raise ReportError(f"{path}: tests[{index}] lacks `{key}` (Gradescope results need name, score, "
                                  "max_score, status and tags in every test)")
        if not (_finite(test["score"]) and _finite(test["max_score"])):
            raise ReportError(f"{path}: tests[{index}] has a score or max_score that is not a finite number")
        if not isinstance(test.get("tags"), list) or not all(isinstance(t, str) for t in test["tags"]):
            raise ReportError(f"{path}: tests[{index}] lacks `tags`, the list of graded functions")
        test.setdefault("output", "")
    seconds = extra.get("wall_seconds", data.get("execution_time", 0.0))
    return StudentResult(
        key=path.stem, student=str(extra.get("student") or path.stem), score=float(data["score"]),
        max_score=sum(float(t["max_score"]) for t in tests), status=status, error=str(extra.get("error", "")),
        seconds=float(seconds) if isinstance(seconds, (int, float)) else 0.0,
        isolation=str(extra.get("isolation", "?")), tests=tests)


def read_results(results_dir: Path) -> list[StudentResult]:
    """Every ``results_dir/results/*.json``, sorted by file name.

    Raises
    ------
    ReportError
        When there is no ``results/`` folder, no results file, or a file that is not valid results.
    """
    folder = Path(results_dir) / "results"
    if not folder.is_dir():
        raise ReportError(f"{folder}: no results folder (run `python -m autograder grade-all SUBMISSIONS "
                          f"--out {results_dir}` first)")
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise ReportError(f"{folder}: no results files (*.json) to report on")
    return [read_result(path) for path in paths]


def diagnostic(output: str) -> str:
    """The text that groups a failing test's feedback across students.

    The catalogued mistake when the grader recognised one, else the feedback's first sentence
    (first line) without the student's source line an exception was raised at, with numbers
    replaced by ``#`` and number tuples by ``(…)``, so that ``rel error 3.2e-02`` and
    ``rel error 1.7e-01`` read the same.

    Parameters
    ----------
    output : str
        A failing test's feedback.

    Returns
    -------
    str
        At most ``MAX_DIAGNOSTIC_CHARS`` characters.
    """
    named = output.partition(KNOWN_MISTAKE)[2]
    if named:
        text = "known mistake: " + named.splitlines()[0].strip().rstrip(".")
    else:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        first = FIRST_SENTENCE_END.split(WHERE.sub("", lines[0]), maxsplit=1)[0] if lines else "(no feedback)"
        text = NUMBER_TUPLE.sub("(…)", NUMBER.sub("#", first))
    return text if len(text) <= MAX_DIAGNOSTIC_CHARS else text[: MAX_DIAGNOSTIC_CHARS - 1] + "…"


def function_order(results: list[StudentResult], rubric: Path | None = None) -> list[str]:
    """The graded functions: the rubric's order when a rubric is given, then in order of first appearance."""
    order = []
    if rubric is not None:
        from autograder.grading.rubric import Rubric

        order = list(Rubric.load(rubric).functions)
    for result in results:
        for test in result.tests:
            if _function(test) not in order:
                order.append(_function(test))
    return order


@dataclass(frozen=True)
class PassRate:
    """How the graded students did on one function.

    Attributes
    ----------
    function : str
    points : float
        Points possible on it (the largest over students).
    full : int
        Students with full points on it.
    students : int
        Graded students who were tested on it.
    mean_share : float
        Mean over those students of earned / possible, in [0, 1].
    """

    function: str
    points: float
    full: int
    students: int
    mean_share: float

    @property
    def full_share(self) -> float:
        return self.full / self.students if self.students else 0.0


def pass_rates(results: list[StudentResult], order: list[str]) -> list[PassRate]:
    """Per function, the share of graded students with full points and the mean share of points earned.

    Students who could not be graded are left out.
    """
    rates = []
    for function in order:
        shares, possible_max = [], 0.0
        for result in results:
            tests = [t for t in result.tests if _function(t) == function]
            possible = sum(float(t["max_score"]) for t in tests)
            if not result.graded or possible <= 0:
                continue
            earned = sum(float(t["score"]) for t in tests)
            shares.append(min(earned / possible, 1.0))
            possible_max = max(possible_max, possible)
        if shares:
            full = sum(share >= 1 - 1e-9 for share in shares)
            rates.append(PassRate(function, possible_max, full, len(shares), statistics.fmean(shares)))
    return rates


def common_diagnostics(results: list[StudentResult], order: list[str],
                       top: int = TOP_DIAGNOSTICS) -> list[tuple[str, str, int]]:
    """The most common ``(diagnostic, function, distinct students)`` among the failing tests of graded students.

    Sorted by students (most first), then by function order and text.
    """
    students: dict[tuple[str, str], set[str]] = {}
    for result in results:
        if not result.graded:
            continue
        for test in result.tests:
            if test["status"] != "passed":
                key = (diagnostic(str(test["output"])), _function(test))
                students.setdefault(key, set()).add(result.key)
    rank = {name: index for index, name in enumerate(order)}
    ranked = sorted(students.items(), key=lambda item: (-len(item[1]), rank.get(item[0][1], len(rank)), item[0][0]))
    return [(text, function, len(who)) for (text, function), who in ranked[:top]]


def lost_points(result: StudentResult, order: list[str]) -> list[str]:
    """The functions on which ``result`` lost points, in ``order``."""
    lost = {_function(t) for t in result.tests if float(t["score"]) < float(t["max_score"]) - 1e-9}
    return [function for function in order if function in lost]


def slowest(results: list[StudentResult], top: int = TOP_SLOWEST) -> list[StudentResult]:
    """The ``top`` slowest gradings (``extra_data.wall_seconds``, else ``execution_time``), slowest first."""
    return sorted(results, key=lambda r: (-r.seconds, r.key))[:top]


# -- plots ---------------------------------------------------------------------------------------

def _png(figure: Figure) -> str:
    """The figure as a ``data:image/png;base64`` URL."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _plain(label: str, width: int = 40) -> str:
    """A plot label safe for matplotlib: ASCII (no missing-glyph warnings), short."""
    text = label.encode("ascii", "replace").decode("ascii")
    return text if len(text) <= width else text[: width - 3] + "..."


def histogram_png(scores: list[float], max_score: float) -> str:
    """A histogram of the scores in ten equal bins from 0 to ``max_score``."""
    top = max(max_score, max(scores), 1e-9)
    figure = Figure(figsize=(7, 3.2))
    ax = figure.subplots()
    ax.hist(scores, bins=[top * i / 10 for i in range(11)], color="#4c72b0", edgecolor="white")
    ax.set_xlim(0, top)
    ax.set_xlabel(f"score (out of {top:g})")
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return _png(figure)


def pass_rates_png(rates: list[PassRate]) -> str:
    """Horizontal bars per function: the share of students with full points and the mean share of points."""
    figure = Figure(figsize=(7, 0.8 + 0.38 * len(rates)))
    ax = figure.subplots()
    rows = range(len(rates))
    ax.barh([r - 0.2 for r in rows], [100 * rate.full_share for rate in rates], height=0.4, color="#4c72b0",
            label="students with full points")
    ax.barh([r + 0.2 for r in rows], [100 * rate.mean_share for rate in rates], height=0.4, color="#a6bddb",
            label="mean share of points")
    ax.set_yticks(list(rows), [_plain(rate.function) for rate in rates], parse_math=False)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of graded students / of points")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False, fontsize="small")
    return _png(figure)


# -- page ----------------------------------------------------------------------------------------

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.error td { background: #fde2e1; }
figure { margin: 0.5em 0 1.5em; }
figcaption { color: #555; }
img { max-width: 100%; }
"""
# Defence in depth: even an escaping slip could not run a script or fetch anything.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset(),
           row_classes: list[str] | None = None) -> str:
    """An HTML table; cells must already be escaped."""
    head = "".join(f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(headers))
    body = []
    for index, row in enumerate(rows):
        css = f' class="{row_classes[index]}"' if row_classes and row_classes[index] else ""
        cells = "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(src: str, alt: str, caption: str) -> str:
    return f'<figure><img src="{src}" alt="{_e(alt)}"><figcaption>{caption}</figcaption></figure>'


def section_scores(results: list[StudentResult]) -> str:
    """Section 1: the score histogram of the graded students, mean and median in the caption."""
    graded = [r for r in results if r.graded]
    errors = len(results) - len(graded)
    note = f" {errors} student(s) could not be graded and are not shown." if errors else ""
    if not graded:
        return f"<h2>Scores</h2><p>No student could be graded.{note}</p>"
    scores = [r.score for r in graded]
    max_score = max(r.max_score for r in graded)
    caption = (f"Class of {len(graded)} graded student(s), out of {max_score:g}: mean {statistics.fmean(scores):.2f}, "
               f"median {statistics.median(scores):.2f}.{note}")
    return "<h2>Scores</h2>" + _figure(histogram_png(scores, max_score), "Histogram of the scores", _e(caption))


def section_pass_rates(rates: list[PassRate]) -> str:
    """Section 2: per graded function, a bar plot and a table of full-points and mean-points shares."""
    if not rates:
        return "<h2>Pass rates per function</h2><p>No graded student was tested on any function.</p>"
    rows = [[f"<code>{_e(r.function)}</code>", f"{r.points:g}", f"{r.full} / {r.students}",
             f"{100 * r.full_share:.0f}%", f"{100 * r.mean_share:.0f}%"] for r in rates]
    table = _table(["function", "points", "full points", "share with full points", "mean share of points"],
                   rows, numeric={1, 2, 3, 4})
    figure = _figure(pass_rates_png(rates), "Pass rates per graded function",
                     "Share of graded students with full points on each function, and the mean share of its "
                     "points they earned.")
    return "<h2>Pass rates per function</h2>" + figure + table


def section_diagnostics(diagnostics: list[tuple[str, str, int]], graded: int) -> str:
    """Section 3: the most common diagnostics and how many distinct students hit each."""
    if not diagnostics:
        return "<h2>Most common diagnostics</h2><p>No failing test among the graded students.</p>"
    rows = [[_e(text), f"<code>{_e(function)}</code>", f"{count} / {graded}"] for text, function, count in diagnostics]
    return ("<h2>Most common diagnostics</h2><p>Failing tests' feedback: the catalogued mistake when the grader "
            "recognised one, else the feedback's first sentence with numbers replaced by #.</p>"
            + _table(["diagnostic", "function", "students"], rows, numeric={2}))


def section_slowest(results: list[StudentResult]) -> str:
    """Section 4: the slowest gradings."""
    rows = [[_e(r.student), f"{r.seconds:.1f}", f"{r.score:.2f}", _e(r.status)] for r in slowest(results)]
    return "<h2>Slowest submissions</h2>" + _table(["student", "seconds", "score", "status"], rows, numeric={1, 2})


def section_students(results: list[StudentResult], order: list[str]) -> str:
    """Section 5: every student, flagged when grading failed."""
    class_max = max((r.max_score for r in results), default=0.0)
    rows, classes = [], []
    for r in sorted(results, key=lambda r: (r.student, r.key)):
        status = _e(r.status) if r.graded else f"<strong>error</strong>: {_e(r.error)}"
        lost = ", ".join(f"<code>{_e(f)}</code>" for f in lost_points(r, order)) or "-"
        rows.append([_e(r.student), f"{r.score:.2f}", f"{(r.max_score or class_max):g}", status,
                     f"{r.seconds:.1f}", _e(r.isolation), lost if r.graded else "not graded"])
        classes.append("" if r.graded else "error")
    return "<h2>All students</h2>" + _table(
        ["student", "score", "max", "status", "seconds", "isolation", "functions that lost points"], rows,
        numeric={1, 2, 4}, row_classes=classes)


def section_similarity(folder: Path, page: Path) -> str:
    """Optional section: the most similar pairs of a ``similarity`` run in ``folder``, linked to its page."""
    from autograder.classwide.similarity import SimilarityError, read_pairs_csv

    try:
        rows = read_pairs_csv(folder / "similarity.csv")
    except SimilarityError as err:
        return f"<h2>Code similarity</h2><p>{_e(err)}</p>"
    href = urllib.parse.quote(os.path.relpath(folder / "similarity.html", page.parent))
    flagged = sum(row["flagged"] == "yes" for row in rows)
    table = _table(["A", "B", "score", "functions", ""], [
        [_e(r["student_a"]), _e(r["student_b"]), _e(r["score"]), _e(r["functions"] or "-"),
         "<strong>flagged</strong>" if r["flagged"] == "yes" else ""] for r in rows[:TOP_SIMILAR]], numeric={2})
    return (f"<h2>Code similarity</h2><p>The {min(len(rows), TOP_SIMILAR)} most similar of {len(rows)} pairs, "
            f"{flagged} flagged. It never changes a score: it flags pairs for a human to look at, side by side in "
            f'<a href="{_e(href)}">similarity.html</a>.</p>' + table)


def render_report(results: list[StudentResult], title: str, rubric: Path | None = None,
                  similarity: str = "") -> str:
    """The whole HTML page for ``results``.

    Parameters
    ----------
    results : list of StudentResult
    title : str
        Shown as the page's title (escaped).
    rubric : Path, optional
        A ``rubric.toml`` whose order the functions follow.
    similarity : str
        The similarity section (:func:`section_similarity`), shown last; none when empty.

    Returns
    -------
    str
    """
    order = function_order(results, rubric)
    graded = sum(r.graded for r in results)
    sections = [section_scores(results), section_pass_rates(pass_rates(results, order)),
                section_diagnostics(common_diagnostics(results, order), graded),
                section_slowest(results), section_students(results, order), similarity]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<link rel="icon" href="data:,"><title>{_e(title)}</title><style>{STYLE}</style></head>\n'
            f"<body><h1>{_e(title)}</h1><p>{len(results)} results file(s): {graded} graded, "
            f"{len(results) - graded} could not be graded.</p>\n" + "\n".join(s for s in sections if s)
            + "\n</body></html>\n")


def write_report(results_dir: Path, out: Path, rubric: Path | None = None, similarity: Path | None = None) -> Path:
    """Write the class report of ``results_dir/results/*.json`` as one self-contained HTML page.

    Parameters
    ----------
    results_dir : Path
        The ``--out`` folder of ``grade-all``; it holds ``results/<student>.json``.
    out : Path
        Where to write the page (``results_dir/report.html`` by convention); its folder is created.
    rubric : Path, optional
        A ``rubric.toml``: functions are listed in its order (else in the order tests first appear).
    similarity : Path, optional
        The ``--out`` folder of ``python -m autograder similarity``; by default ``results_dir`` when it
        holds a ``similarity.csv``. Its most similar pairs are shown, linked to its ``similarity.html``.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ReportError
        When ``results_dir`` has no ``results/`` folder, no results, or a file that is not valid results,
        or ``similarity`` has no ``similarity.csv``.
    """
    results = read_results(results_dir)
    out = Path(out)
    if similarity is not None and not (Path(similarity) / "similarity.csv").is_file():
        raise ReportError(f"{similarity}: no similarity.csv (run `python -m autograder similarity SUBMISSIONS "
                          f"--out {similarity}` first)")
    if similarity is None and (Path(results_dir) / "similarity.csv").is_file():
        similarity = Path(results_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    section = section_similarity(Path(similarity), out) if similarity is not None else ""
    out.write_text(render_report(results, f"Class report: {Path(results_dir).resolve().name}", rubric, section),
                   encoding="utf-8")
    return out
