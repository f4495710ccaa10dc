"""The similarity page: ``similarity.html``, one self-contained page a TA reads in a minute.

Most similar pairs first, a histogram of every pair's score, then each flagged pair side by
side, function by function, with the code the two share highlighted (``<mark class="match">``).
Plots are PNGs embedded as ``data:`` URLs; no script, style sheet, font or network access. Every
string from a submission (names, code, notes) is escaped, and the page's Content-Security-Policy
forbids scripts.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from autograder.classwide.grade_all import write_atomically
from autograder.classwide.report import CSP, _png, _table
from autograder.classwide.similarity import INVOLVED_SHARE, Document, Pair, SimilarityRun, matching_regions

TOP_PAIRS = 50
MAX_SIDE_BY_SIDE = 20
MAX_NOTES = 200
NEVER_CHANGES_A_SCORE = ("This page never changes a score: it flags pairs of submissions for a human to look at. "
                         "Shared code is not proof of copying (a common idiom, a hint followed by everyone, a "
                         "study group); read the highlighted code before deciding anything.")

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 90em; color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
p.notice { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.6em 1em; }
figure { margin: 0.5em 0 1.5em; }
figcaption { color: #555; }
img { max-width: 100%; }
table.side { width: 100%; table-layout: fixed; }
table.side td { width: 50%; }
table.side pre { margin: 0; font-size: 0.8em; line-height: 1.4; white-space: pre-wrap; overflow-wrap: anywhere; }
mark.match { background: #ffd54f; color: inherit; }
section.pair { border-top: 2px solid #4c72b0; margin-top: 2em; }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def histogram_png(pairs: list[Pair], threshold: float) -> str:
    """Pair scores in 40 bins from 0 to 1 (log counts), pairs of students and with known sources
    stacked, the flag threshold dashed."""
    figure = Figure(figsize=(7, 3.2))
    ax = figure.subplots()
    groups = [(label, [p.score for p in pairs if p.kind == kind], color)
              for label, kind, color in (("pairs of students", "students", "#4c72b0"),
                                         ("student and known source", "known source", "#dd8452"))]
    groups = [group for group in groups if group[1]]
    ax.hist([scores for _, scores, _ in groups], bins=np.linspace(0, 1, 41), stacked=True, log=True,
            color=[color for _, _, color in groups], label=[label for label, _, _ in groups], edgecolor="white")
    ax.axvline(threshold, color="#c44e52", linestyle="--", label=f"flagged from {threshold:g}")
    ax.set_xlim(0, 1)
    ax.set_xlabel("pair score (share of the smaller side's code found in the other)")
    ax.set_ylabel("pairs")
    ax.legend(frameon=False, fontsize="small")
    return _png(figure)


def _highlighted(text: str, slices: np.ndarray) -> str:
    """``text`` escaped, its ``slices`` wrapped in ``<mark class="match">`` (copydetect's highlighter)."""
    from copydetect.utils import highlight_overlap

    if not text or slices.shape[-1] == 0:
        return _e(text)
    marked, _ = highlight_overlap(text, slices, '<mark class="match">', "</mark>", escape_html=True)
    return marked


def side_by_side(pair: Pair, a: Document, b: Document, run: SimilarityRun, cache: dict) -> str:
    """One row per segment with shared code (either side), the two versions highlighted."""
    regions_a, regions_b = matching_regions(a, b, run.boilerplate, run.settings, cache)
    cells: dict[tuple[str, str], list] = {}  # segment key: [a's, b's]
    for side, document, regions in ((0, a, regions_a), (1, b, regions_b)):
        for segment, slices in zip(document.segments, regions):
            cells.setdefault(segment.key, [None, None])[side] = (segment, slices)
    rows, quiet = [], []
    for (name, _), sides in cells.items():
        if not any(side is not None and side[1].shape[-1] for side in sides):
            quiet.append(name)
            continue
        tds = []
        for side in sides:
            if side is None:
                tds.append("<td><em>not in this submission</em></td>")
            else:
                segment, slices = side
                shared = int(np.sum(slices[1] - slices[0])) if slices.shape[-1] else 0
                tds.append(f"<td><div>{_e(segment.module)}: {_percent(shared / max(len(segment.text), 1))} of "
                           f"its characters highlighted</div><pre>{_highlighted(segment.text, slices)}</pre></td>")
        rows.append(f'<tr><th colspan="2"><code>{_e(name)}</code></th></tr><tr>{"".join(tds)}</tr>')
    head = f"<tr><th>{_e(a.name)}</th><th>{_e(b.name)}</th></tr>"
    table = f'<table class="side">{head}{"".join(rows)}</table>' if rows else "<p>No shared region to show.</p>"
    rest = (f"<p>No shared code in: {', '.join(f'<code>{_e(n)}</code>' for n in quiet)}.</p>" if quiet else "")
    return table + rest


def section_top_pairs(run: SimilarityRun, anchors: dict[tuple[str, str], str]) -> str:
    pairs = run.pairs[:TOP_PAIRS]
    if not pairs:
        return "<h2>Most similar pairs</h2><p>Nothing to compare: fewer than two submissions.</p>"
    rows = []
    for rank, p in enumerate(pairs, start=1):
        anchor = anchors.get((p.a, p.b))
        shown = f'<a href="#{anchor}">{rank}</a>' if anchor else str(rank)
        flagged = "<strong>flagged</strong>" if p.score >= run.settings.flag_threshold else ""
        rows.append([shown, _e(p.a), _e(p.b), f"{p.score:.2f}", _percent(p.share_a), _percent(p.share_b),
                     str(p.shared), ", ".join(f"<code>{_e(f)}</code>" for f in p.functions) or "-", flagged])
    caption = (f"<p>The {len(pairs)} most similar of {len(run.pairs)} pairs. Score: the share of the smaller "
               f"side's fingerprints found in the other; share A, share B: of each side's. Functions: those with at "
               f"least {_percent(INVOLVED_SHARE)} of their code found in the other side. Every pair is in "
               f"similarity.csv.</p>")
    return "<h2>Most similar pairs</h2>" + caption + _table(
        ["#", "A", "B", "score", "share A", "share B", "shared fingerprints", "functions", ""], rows,
        numeric={0, 3, 4, 5, 6})


def section_histogram(run: SimilarityRun) -> str:
    if not run.pairs:
        return ""
    flagged = len(run.flagged)
    caption = (f"Scores of all {len(run.pairs)} pairs (log scale); {flagged} pair(s) at or above "
               f"{run.settings.flag_threshold:g} are flagged. Outliers on the right are the pairs to read.")
    src = histogram_png(run.pairs, run.settings.flag_threshold)
    return (f'<h2>Pair scores</h2><figure><img src="{src}" alt="Histogram of pair scores">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def section_flagged(run: SimilarityRun, shown: list[Pair], anchors: dict[tuple[str, str], str]) -> str:
    flagged = run.flagged
    if not flagged:
        return (f"<h2>Flagged pairs</h2><p>No pair reaches the threshold of {run.settings.flag_threshold:g}.</p>")
    by_name = {d.name: d for d in run.documents}
    cache: dict = {}
    more = (f" The first {len(shown)} of {len(flagged)} are shown; the rest are in similarity.csv."
            if len(shown) < len(flagged) else "")
    parts = [(f"<h2>Flagged pairs</h2><p>Side by side, function by function: highlighted code is code the other "
              f"side has too (after normalizing names, strings, comments and whitespace, and leaving out the "
              f"release's code).{more}</p>")]
    for rank, p in enumerate(shown, start=1):
        parts.append(f'<section class="pair" id="{anchors[(p.a, p.b)]}"><h3>{rank}. {_e(p.a)} and {_e(p.b)}: '
                     f"score {p.score:.2f}</h3><p>{_percent(p.share_a)} of {_e(p.a)}'s fingerprints are in "
                     f"{_e(p.b)}'s code, {_percent(p.share_b)} the other way ({p.shared} shared).</p>"
                     + side_by_side(p, by_name[p.a], by_name[p.b], run, cache) + "</section>")
    return "\n".join(parts)


def section_notes(run: SimilarityRun) -> str:
    notes = [(d.name, note) for d in run.documents for note in d.notes]
    empty = [d.name for d in run.students if not d.segments]
    parts = ["<h2>Files not compared as they are</h2>"]
    if empty:
        parts.append(f"<p>{len(empty)} submission(s) had no code to compare: "
                     f"{', '.join(_e(n) for n in empty[:MAX_NOTES])}.</p>")
    if not notes:
        return "".join(parts) + "<p>Every graded module was read and parsed.</p>"
    rows = [[_e(who), _e(note)] for who, note in notes[:MAX_NOTES]]
    more = f"<p>{len(notes) - MAX_NOTES} more notes not shown.</p>" if len(notes) > MAX_NOTES else ""
    return "".join(parts) + _table(["submission", "note"], rows) + more


def section_settings(run: SimilarityRun) -> str:
    from copydetect import __version__ as copydetect_version

    s = run.settings
    return (f"<h2>How it was compared</h2><p>copydetect {_e(copydetect_version)}: each graded function (and "
            f"each helper a student added to a graded module) tokenized with pygments, names replaced by one "
            f"letter, strings by one, comments and whitespace dropped; fingerprints are its k-grams of "
            f"{s.noise_threshold} characters (noise threshold {s.noise_threshold}, guarantee threshold "
            f"{s.guarantee_threshold}). Boilerplate subtracted: {_e(run.boilerplate_origin)}. A score is over at "
            f"least {s.min_fingerprints} fingerprints, so a nearly blank submission is never similar to "
            f"everyone.</p>")


def render_page(run: SimilarityRun) -> str:
    """The whole HTML page for ``run``."""
    shown = run.flagged[:MAX_SIDE_BY_SIDE]
    anchors = {(p.a, p.b): f"pair-{rank}" for rank, p in enumerate(shown, start=1)}
    title = f"Code similarity: {run.assignment}"
    known = f" and {len(run.known)} known source(s)" if run.known else ""
    sections = [section_top_pairs(run, anchors), section_histogram(run), section_flagged(run, shown, anchors),
                section_notes(run), section_settings(run)]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<link rel="icon" href="data:,"><title>{_e(title)}</title><style>{STYLE}</style></head>\n'
            f"<body><h1>{_e(title)}</h1><p class=\"notice\">{_e(NEVER_CHANGES_A_SCORE)}</p>"
            f"<p>{len(run.students)} submission(s){known}: {len(run.pairs)} pairs compared, "
            f"{len(run.flagged)} flagged.</p>\n" + "\n".join(s for s in sections if s) + "\n</body></html>\n")


def write_page(run: SimilarityRun, path: Path) -> Path:
    """Write ``similarity.html`` atomically."""
    page = render_page(run)
    return write_atomically(Path(path), lambda handle: handle.write(page))
