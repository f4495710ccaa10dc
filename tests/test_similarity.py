"""Class-wide code similarity (`autograder.classwide.similarity`): planted copies stand out, independent work does not.

The class is built from the CNN release: six graded functions (relu_forward, affine_forward,
affine_backward, softmax_loss, conv_forward_naive, max_pool_forward_naive) each have five correct
versions written differently (loops, vectorized, einsum, strides...), checked against the
reference below. Three students each hand in versions of their own; two hand in the same code
(version 3) with renamed variables, reordered functions, rewritten comments and whitespace; one
hands in "last year's" code (version 4, also in a known-sources folder) with small edits; two
hand in the blank release. Nothing is mocked: the similarity command reads real folders.
"""
from __future__ import annotations

import ast
import csv
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from browser import console_errors, full_page_screenshot, headless_chromium
from submissions import copy_of

from autograder.classwide.grade_all import write_atomically
from autograder.classwide.similarity import (SimilarityError, graded_modules, read_known, similarity,
                                             top_level_definitions)

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "release" / "cnn"
SOLVED = REPO / "solutions_private" / "cnn"
MODULE = {"relu_forward": "nnl/layers.py", "affine_forward": "nnl/layers.py", "affine_backward": "nnl/layers.py",
          "softmax_loss": "nnl/layers.py", "conv_forward_naive": "nnl/conv_layers.py",
          "max_pool_forward_naive": "nnl/conv_layers.py"}

# Each function's bodies, as they replace the release's stub (the template code around it stays:
# `N = x.shape[0]`, `stride = conv_param['stride']`, ..., `return out, cache`).
VERSIONS = {
    "relu_forward": [
        "out = np.maximum(0, x)",
        "out = x * (x > 0)",
        "out = np.where(x > 0, x, 0.0)",
        """
        out = x.copy()  # keep the input intact
        out[out < 0] = 0
        """,
        "out = np.clip(x, 0, None)",
    ],
    "affine_forward": [
        "out = x.reshape(N, -1).dot(w) + b",
        """
        flat = np.reshape(x, (x.shape[0], int(np.prod(x.shape[1:]))))
        out = np.matmul(flat, w)
        out += b[np.newaxis, :]
        """,
        """
        rows = []
        for i in range(N):
            rows.append(x[i].ravel() @ w + b)
        out = np.stack(rows)
        """,
        """
        x_rows = x.reshape(N, np.prod(x.shape[1:]))  # one row per example
        out = np.dot(x_rows, w) + b
        """,
        """
        D = np.prod(x.shape[1:])
        x2 = x.reshape((N, D))
        out = np.einsum('nd,dm->nm', x2, w) + b
        """,
    ],
    "affine_backward": [
        """
        x_flat = x.reshape(N, -1)
        dx = dout.dot(w.T).reshape(x.shape)
        dw = x_flat.T.dot(dout)
        db = dout.sum(axis=0)
        """,
        """
        dx = np.reshape(dout @ w.T, x.shape)
        dw = np.reshape(x, (N, -1)).T @ dout
        db = np.sum(dout, axis=0)
        """,
        """
        dx = np.zeros(x.shape)
        dw = np.zeros_like(w)
        db = np.zeros_like(b)
        for i in range(N):
            dx[i] = (w @ dout[i]).reshape(x[i].shape)
            dw += np.outer(x[i].ravel(), dout[i])
            db += dout[i]
        """,
        """
        flat_x = x.reshape(x.shape[0], w.shape[0])  # (N, D)
        dw = np.dot(flat_x.T, dout)
        db = np.sum(dout, axis=0, keepdims=False)
        dx = np.dot(dout, w.T).reshape(*x.shape)
        """,
        """
        db = dout.sum(0)
        dw = np.einsum('nd,nm->dm', x.reshape(N, -1), dout)
        dx = np.einsum('nm,dm->nd', dout, w).reshape(x.shape)
        """,
    ],
    "softmax_loss": [
        """
        shifted = x - np.max(x, axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= np.sum(probs, axis=1, keepdims=True)
        loss = -np.sum(np.log(probs[np.arange(N), y])) / N
        dx = probs.copy()
        dx[np.arange(N), y] -= 1
        dx /= N
        """,
        """
        z = x - x.max(axis=1)[:, None]
        log_norm = np.log(np.exp(z).sum(axis=1))
        log_p = z - log_norm[:, None]
        loss = float(-log_p[range(N), y].mean())
        onehot = np.zeros_like(x)
        onehot[range(N), y] = 1.0
        dx = (np.exp(log_p) - onehot) / N
        """,
        """
        loss = 0.0
        dx = np.zeros_like(x)
        for i in range(N):
            row = x[i] - np.max(x[i])
            e = np.exp(row)
            p = e / e.sum()
            loss -= np.log(p[y[i]])
            p[y[i]] -= 1
            dx[i] = p / N
        loss /= N
        """,
        """
        scores = x - np.amax(x, axis=1).reshape(N, 1)  # numerical stability
        exp_scores = np.exp(scores)
        denominators = np.sum(exp_scores, axis=1).reshape(N, 1)
        probabilities = exp_scores / denominators
        correct = probabilities[np.arange(N), y]
        loss = np.mean(-np.log(correct))
        dx = probabilities
        dx[np.arange(N), y] = dx[np.arange(N), y] - 1
        dx = dx / N
        """,
        """
        stable = x - x.max(axis=-1, keepdims=True)
        logits_exp = np.exp(stable)
        sums = logits_exp.sum(axis=-1, keepdims=True)
        log_probs = stable - np.log(sums)
        loss = -log_probs[np.arange(N), y].sum() / N
        dx = logits_exp / sums
        dx[np.arange(N), y] -= 1.0
        dx = dx / N
        """,
    ],
    "conv_forward_naive": [
        """
        H_out = 1 + (H + 2 * pad - HH) // stride
        W_out = 1 + (W + 2 * pad - WW) // stride
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')
        out = np.zeros((N, F, H_out, W_out))
        for n in range(N):
            for f in range(F):
                for i in range(H_out):
                    for j in range(W_out):
                        window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                        out[n, f, i, j] = np.sum(window * w[f]) + b[f]
        """,
        """
        from numpy.lib.stride_tricks import sliding_window_view
        padded = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
        windows = sliding_window_view(padded, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
        out = np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2) + b.reshape(1, F, 1, 1)
        """,
        """
        Ho = (H + 2 * pad - HH) // stride + 1
        Wo = (W + 2 * pad - WW) // stride + 1
        big = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
        big[:, :, pad:pad + H, pad:pad + W] = x
        out = np.zeros((N, F, Ho, Wo)) + b[None, :, None, None]
        for di in range(HH):
            for dj in range(WW):
                patch = big[:, :, di:di + stride * Ho:stride, dj:dj + stride * Wo:stride]  # (N, C, Ho, Wo)
                out += np.einsum('nchw,fc->nfhw', patch, w[:, :, di, dj])
        """,
        """
        out_h = (H - HH + 2 * pad) // stride + 1
        out_w = (W - WW + 2 * pad) // stride + 1
        x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), 'constant', constant_values=0)
        out = np.empty((N, F, out_h, out_w))
        w_flat = w.reshape(F, -1)  # one row per filter
        for img in range(N):
            for r in range(out_h):
                r0 = r * stride
                for c in range(out_w):
                    c0 = c * stride
                    patch = x_pad[img, :, r0:r0 + HH, c0:c0 + WW].reshape(-1)
                    out[img, :, r, c] = w_flat.dot(patch) + b
        """,
        """
        Hp, Wp = H + 2 * pad, W + 2 * pad
        H_new = (Hp - HH) // stride + 1
        W_new = (Wp - WW) // stride + 1
        x_padded = np.zeros((N, C, Hp, Wp))
        x_padded[:, :, pad:Hp - pad, pad:Wp - pad] = x
        cols = np.zeros((N, H_new * W_new, C * HH * WW))
        for i in range(H_new):
            for j in range(W_new):
                block = x_padded[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                cols[:, i * W_new + j, :] = block.reshape(N, -1)
        res = cols @ w.reshape(F, -1).T + b  # (N, H_new * W_new, F)
        out = res.transpose(0, 2, 1).reshape(N, F, H_new, W_new)
        """,
    ],
    "max_pool_forward_naive": [
        """
        H_out = 1 + (H - pool_height) // stride
        W_out = 1 + (W - pool_width) // stride
        out = np.zeros((N, C, H_out, W_out))
        for n in range(N):
            for c in range(C):
                for i in range(H_out):
                    for j in range(W_out):
                        out[n, c, i, j] = np.max(x[n, c, i * stride:i * stride + pool_height,
                                                   j * stride:j * stride + pool_width])
        """,
        """
        from numpy.lib.stride_tricks import sliding_window_view
        views = sliding_window_view(x, (pool_height, pool_width), axis=(2, 3))
        out = views[:, :, ::stride, ::stride].max(axis=(4, 5))
        """,
        """
        Ho = (H - pool_height) // stride + 1
        Wo = (W - pool_width) // stride + 1
        out = np.full((N, C, Ho, Wo), -np.inf)
        for a in range(pool_height):
            for q in range(pool_width):
                out = np.maximum(out, x[:, :, a:a + stride * Ho:stride, q:q + stride * Wo:stride])
        """,
        """
        h_out = (H - pool_height) // stride + 1
        w_out = (W - pool_width) // stride + 1
        out = np.zeros((N, C, h_out, w_out))
        for row in range(h_out):
            top = row * stride
            for col in range(w_out):
                left = col * stride
                region = x[:, :, top:top + pool_height, left:left + pool_width]  # (N, C, ph, pw)
                out[:, :, row, col] = region.max(axis=(2, 3))
        """,
        """
        outH = int((H - pool_height) / stride) + 1
        outW = int((W - pool_width) / stride) + 1
        out = np.zeros((N, C, outH, outW))
        for k in range(outH * outW):
            i, j = divmod(k, outW)
            win = x[:, :, i*stride:i*stride+pool_height, j*stride:j*stride+pool_width]
            out[:, :, i, j] = np.amax(win.reshape(N, C, -1), axis=2)
        """,
    ],
}
COPIED, LAST_YEAR = 3, 4
# The second copier's renamings (per function) and rewritten comments.
RENAMED = {
    "relu_forward": {},
    "affine_forward": {"x_rows": "flattened"},
    "affine_backward": {"flat_x": "inputs2d"},
    "softmax_loss": {"scores": "z", "exp_scores": "ez", "denominators": "totals", "probabilities": "p",
                     "correct": "picked"},
    "conv_forward_naive": {"out_h": "Hn", "out_w": "Wn", "x_pad": "padded_input", "w_flat": "kernels", "img": "n",
                           "r0": "top", "c0": "left", "patch": "receptive"},
    "max_pool_forward_naive": {"h_out": "HO", "w_out": "WO", "row": "i", "col": "j", "top": "i0", "left": "j0",
                               "region": "pool"},
}
# Small edits of the student who hands in last year's code.
EDITED = {"x2": "xx", "cols": "columns", "win": "window", "-= 1.0": "-= 1"}


def fill(text: str, name: str, body: str) -> str:
    """``text`` (a release module) with the stub of function ``name`` replaced by ``body``."""
    lines = text.split("\n")
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == name)
    stub = next(i for i in range(node.lineno, node.end_lineno) if lines[i].strip() == "raise NotImplementedError()")
    indent = lines[stub][: len(lines[stub]) - len(lines[stub].lstrip())]
    assert lines[stub - 1].strip() == "# YOUR CODE HERE", f"{name}: no stub to fill"
    new = [indent + line if line else "" for line in textwrap.dedent(body).strip("\n").split("\n")]
    return "\n".join(lines[: stub - 1] + new + lines[stub + 1:])


def rename(body: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        body = re.sub(rf"(?<![\w.]){re.escape(old)}\b", new, body)
    return body


def rewrite_comments(body: str) -> str:
    """Other comments, other whitespace: each comment replaced, blank lines and spaces added."""
    lines = []
    for line in textwrap.dedent(body).strip("\n").split("\n"):
        code = line.split("  #")[0].rstrip()
        lines.append(code.replace(" = ", "  =  ").replace(", ", " , "))
        if code.lstrip().startswith(("for ", "out")):
            lines.append("")
    return "# my own take on this one\n" + "\n".join(lines)


def write_student(folder: Path, bodies: dict[str, str], reorder: bool = False) -> Path:
    """A copy of the release with ``bodies`` filled in; ``reorder`` reverses the functions of each module."""
    copy_of(RELEASE, folder)
    for module in sorted(set(MODULE.values())):
        path = folder / module
        text = path.read_text()
        for name, body in bodies.items():
            if MODULE[name] == module:
                text = fill(text, name, body)
        if reorder:
            text = reverse_definitions(text)
        path.write_text(text)
    return folder


def reverse_definitions(text: str) -> str:
    """The module with its top-level functions in reverse order (the code before the first one kept)."""
    tree = ast.parse(text)
    lines = text.split("\n")
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    head = lines[: defs[0].lineno - 1]
    blocks = ["\n".join(lines[d.lineno - 1: d.end_lineno]) for d in defs]
    return "\n".join(head) + "\n" + "\n\n\n".join(reversed(blocks)) + "\n"


def make_class(root: Path) -> tuple[Path, Path]:
    """The class described in the module docstring: ``(submissions, known sources)``."""
    submissions = root / "submitted"
    for student, version in (("ada", 0), ("ben", 1), ("cleo", 2)):
        write_student(submissions / student / "cnn", {f: VERSIONS[f][version] for f in VERSIONS})
    write_student(submissions / "dana" / "cnn", {f: VERSIONS[f][COPIED] for f in VERSIONS})
    write_student(submissions / "eli" / "cnn",
                  {f: rewrite_comments(rename(VERSIONS[f][COPIED], RENAMED[f])) for f in VERSIONS}, reorder=True)
    write_student(submissions / "fay" / "cnn", {f: rename(VERSIONS[f][LAST_YEAR], EDITED) for f in VERSIONS})
    for blank in ("gus", "hal"):
        copy_of(RELEASE, submissions / blank / "cnn")
    # last year's solutions, as a TA keeps them: another layout, other docstrings
    known = root / "known" / "lastyear"
    for module in sorted(set(MODULE.values())):
        text = (RELEASE / module).read_text()
        for name in VERSIONS:
            if MODULE[name] == module:
                text = fill(text, name, VERSIONS[name][LAST_YEAR])
        (known / "cs231n").mkdir(parents=True, exist_ok=True)
        (known / "cs231n" / Path(module).name).write_text(re.sub(r'"""(.|\n)*?"""', '"""Last year."""', text))
    return submissions, root / "known"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The class compared once, in this process: ``(run, out folder)``."""
    root = tmp_path_factory.mktemp("planted")
    submissions, known = make_class(root)
    run = similarity(submissions, "cnn", root / "out", known=known, progress=False)
    return run, root / "out"


def pair_scores(run) -> dict[frozenset, float]:
    return {frozenset((p.a, p.b)): p.score for p in run.pairs}


PLANTED = {frozenset(("dana", "eli")), frozenset(("fay", "known:lastyear"))}


# -- the versions are correct, so "independent" really means independent correct work -------------

def _function(text: str, name: str):
    namespace = {"np": np}
    exec(compile(top_level_definitions(text)[name], f"<{name}>", "exec"), namespace)  # noqa: S102 (the test's own code)
    return namespace[name]


def _inputs(name: str, rng):
    x4 = rng.standard_normal((2, 3, 7, 6))
    if name == "relu_forward":
        return [(x4,)]
    if name in ("affine_forward", "affine_backward"):
        x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
        return [(x, w, b)] if name == "affine_forward" else [(rng.standard_normal((4, 5)), (x, w, b))]
    if name == "softmax_loss":
        return [(rng.standard_normal((6, 4)) * 30, rng.integers(0, 4, 6))]
    if name == "conv_forward_naive":
        w, b = rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
        return [(x4, w, b, {"stride": s, "pad": p}) for s, p in ((1, 1), (2, 0), (2, 1.0))]
    return [(x4, {"pool_height": ph, "pool_width": pw, "stride": s}) for ph, pw, s in ((2, 2, 2), (3, 2, 1), (3, 3, 2))]


@pytest.mark.parametrize("name, version", [(n, v) for n in VERSIONS for v in range(5)])
def test_every_version_is_correct(name, version, rng):
    """Each planted version gives the reference's outputs (stride 2, pad 0, float pad, windows that do not tile)."""
    mine = _function(fill((RELEASE / MODULE[name]).read_text(), name, VERSIONS[name][version]), name)
    reference = _function((SOLVED / MODULE[name]).read_text(), name)
    compared = {"affine_backward": 3, "softmax_loss": 2}.get(name, 1)  # forward caches are opaque
    for args in _inputs(name, rng):
        expected, got = reference(*args), mine(*args)
        for e, g in zip(expected[:compared], got[:compared]):
            np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12, err_msg=f"{name} version {version}")


# -- the planted class ----------------------------------------------------------------------------

def test_planted_pairs_are_the_top_pairs(planted):
    """The copied pair and the student who handed in last year's code come first, in either order."""
    run, _ = planted
    top = {frozenset((p.a, p.b)) for p in run.pairs[:2]}
    shown = [(p.a, p.b, round(p.score, 2)) for p in run.pairs[:4]]
    assert top == PLANTED, f"expected the planted pairs first, got {shown}"


def test_planted_pairs_score_well_above_every_independent_pair(planted):
    """Renamed, reordered and re-commented copies still share nearly all fingerprints; independent
    correct versions of the same functions share only idioms."""
    run, _ = planted
    scores = pair_scores(run)
    lowest_planted = min(scores[pair] for pair in PLANTED)
    highest_other = max(score for pair, score in scores.items() if pair not in PLANTED)
    assert lowest_planted >= 0.9, f"a planted pair scored only {lowest_planted:.2f}"
    assert highest_other <= 0.25, f"an independent pair scored {highest_other:.2f}"
    assert {frozenset((p.a, p.b)) for p in run.flagged} == PLANTED


def test_blank_releases_are_not_similar(planted):
    """Two students who hand in the release unchanged share nothing once the release is subtracted."""
    run, _ = planted
    for p in run.pairs:
        if {"gus", "hal"} & {p.a, p.b}:
            assert p.score == 0 and p.shared == 0, f"{p.a} / {p.b} share {p.shared} fingerprints"


def test_copied_pair_names_the_functions_involved(planted):
    run, _ = planted
    copied = next(p for p in run.pairs if {p.a, p.b} == {"dana", "eli"})
    assert set(VERSIONS) <= set(copied.functions), copied.functions


def test_code_is_cut_out_without_docstrings_in_the_rubric_order(planted):
    """Each document holds the graded functions in the rubric's order (eli's reordered modules too)."""
    run, _ = planted
    by_name = {d.name: d for d in run.documents}
    names = [s.name for s in by_name["eli"].segments]
    assert names == [s.name for s in by_name["ada"].segments]
    assert names.index("conv_forward_naive") < names.index("affine_forward") < names.index("softmax_loss")
    softmax = next(s for s in by_name["dana"].segments if s.name == "softmax_loss")
    assert "Computes the loss and gradient" not in softmax.text and "np.amax" in softmax.text


def test_csv_has_every_pair_once_most_similar_first(planted):
    """8 students: 28 pairs, and 8 student-and-known pairs; scores in [0, 1], sorted, functions listed."""
    _, out = planted
    with open(out / "similarity.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {"student_a", "student_b", "score", "functions"} <= set(rows[0])
    assert len(rows) == 28 + 8
    assert len({frozenset((r["student_a"], r["student_b"])) for r in rows}) == len(rows)
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert "conv_forward_naive" in rows[0]["functions"] and rows[0]["flagged"] == "yes"


def test_worker_processes_give_the_same_pairs(planted, tmp_path):
    """Reading and tokenizing in two worker processes gives exactly the same scores as in this process."""
    from autograder.classwide.similarity import find_similar_pairs

    run, _ = planted
    submissions, known = make_class(tmp_path)
    pooled = find_similar_pairs(submissions, "cnn", known=known, jobs=2)
    assert [(p.a, p.b, p.score, p.functions) for p in pooled.pairs] == \
        [(p.a, p.b, p.score, p.functions) for p in run.pairs]


# -- the page ---------------------------------------------------------------------------------------

def test_page_says_it_never_changes_a_score(planted):
    _, out = planted
    page = (out / "similarity.html").read_text()
    assert "This page never changes a score: it flags pairs of submissions for a human to look at." in page
    assert "<script" not in page.lower() and not re.search(r"(href|src)=\"(https?:|//)", page)


def test_known_source_lines_up_function_by_function(planted):
    """Last year's cs231n/layers.py and the student's nnl/layers.py meet in one row per graded function."""
    _, out = planted
    page = (out / "similarity.html").read_text()
    known = next(section for section in page.split('<section class="pair"')[1:] if "known:lastyear" in section)
    assert "not in this submission" not in known
    for name in VERSIONS:
        assert known.count(f'<th colspan="2"><code>{name}</code></th>') == 1, name


def test_page_renders_in_a_browser_with_highlighted_regions(planted):
    """Headless Chromium: no console error, the histogram loads, both sides of the flagged pairs are highlighted."""
    from selenium.webdriver.common.by import By

    _, out = planted
    with headless_chromium() as driver:
        driver.get((out / "similarity.html").resolve().as_uri())
        severe = console_errors(driver)
        assert not severe, f"the browser console reported errors: {severe}"
        [histogram] = driver.find_elements(By.CSS_SELECTOR, "img[alt='Histogram of pair scores']")
        assert int(histogram.get_property("naturalWidth")) > 0 and histogram.is_displayed()
        sections = driver.find_elements(By.CSS_SELECTOR, "section.pair")
        assert [s.get_attribute("id") for s in sections] == ["pair-1", "pair-2"]
        for section in sections:
            for column in (1, 2):
                marks = section.find_elements(By.CSS_SELECTOR, f"table.side tr td:nth-child({column}) mark.match")
                assert marks, f"{section.get_attribute('id')}: no highlighted region on side {column}"
                assert any(m.is_displayed() and m.size["width"] > 0 for m in marks)
                colour = marks[0].value_of_css_property("background-color")
                assert colour not in ("rgba(0, 0, 0, 0)", "transparent"), f"highlight without colour: {colour}"
        text = sections[0].text
        assert "conv_forward_naive" in text and "dana" in text and "eli" in text
        full_page_screenshot(driver, "similarity_report.png")


def test_hostile_code_and_names_are_escaped(tmp_path):
    """Code holding HTML, in a flagged pair, reaches the page only escaped."""
    hostile = "# </pre><script>alert(1)</script><img src=x onerror=alert(2)>"
    submissions = tmp_path / "class"
    for student in ("mallory", "trent"):
        write_student(submissions / student,
                      {f: hostile + "\n" + textwrap.dedent(VERSIONS[f][0]).strip() for f in VERSIONS})
    run = similarity(submissions, "cnn", tmp_path / "out", progress=False)
    page = run.html.read_text()
    assert run.flagged and "<script>" not in page and "<img src=x" not in page
    assert html_escaped(hostile) in page


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


# -- hostile files ----------------------------------------------------------------------------------

def test_submitted_code_is_never_run(tmp_path):
    """A module that would write a file when imported, or when a function runs, writes nothing."""
    sentinel = tmp_path / "ran"
    submissions = tmp_path / "class"
    for student in ("a", "b"):
        folder = write_student(submissions / student, {f: VERSIONS[f][0] for f in VERSIONS})
        layers = folder / "nnl" / "layers.py"
        layers.write_text(f"open({str(sentinel)!r}, 'w').write('import')\n" + layers.read_text()
                          + f"\n\nclass Evil:\n    open({str(sentinel)!r}, 'w').write('class body')\n")
    run = similarity(submissions, "cnn", tmp_path / "out", progress=False)
    assert not sentinel.exists(), f"student code ran: {sentinel.read_text()}"
    assert run.pairs[0].score > 0.9


def test_unreadable_files_are_noted_not_fatal(tmp_path):
    """Symlinks (never followed), binary, non-UTF-8, huge, unparsable and special files: notes on the page."""
    secret = tmp_path / "secret.py"
    secret.write_text("def affine_forward(x, w, b):\n    return 'TOP SECRET VALUE'\n")
    submissions = tmp_path / "class"
    folders = {name: write_student(submissions / name, {f: VERSIONS[f][0] for f in VERSIONS})
               for name in ("link", "binary", "latin1", "huge", "broken", "fifo", "linked_dir")}
    (folders["link"] / "nnl" / "layers.py").unlink()
    (folders["link"] / "nnl" / "layers.py").symlink_to(secret)
    (folders["binary"] / "nnl" / "layers.py").write_bytes(b"\x7fELF\0\0\0" * 1000)
    latin = folders["latin1"] / "nnl" / "layers.py"
    latin.write_bytes(latin.read_bytes().replace(b"out = None", b"out = None  # r\xe9sum\xe9", 1))
    huge = folders["huge"] / "nnl" / "conv_layers.py"
    huge.write_text(huge.read_text() + "\n" + "# padding\n" * 40_000)
    broken = folders["broken"] / "nnl" / "layers.py"
    broken.write_text(broken.read_text().replace("def relu_forward(x):", "def relu_forward(x)", 1))
    fifo = folders["fifo"] / "nnl" / "layers.py"
    fifo.unlink()
    os.mkfifo(fifo)
    real = folders["linked_dir"] / "nnl"
    real.rename(folders["linked_dir"] / "elsewhere")
    real.symlink_to(folders["linked_dir"] / "elsewhere")
    run = similarity(submissions, "cnn", tmp_path / "out", progress=False)
    notes = {d.name: " | ".join(d.notes) for d in run.documents}
    assert "symbolic link, not followed" in notes["link"] and "symbolic link" in notes["linked_dir"]
    assert "binary" in notes["binary"]
    assert "not UTF-8" in notes["latin1"]
    assert "larger than 256 KiB" in notes["huge"]
    assert "does not parse" in notes["broken"] and "compared whole" in notes["broken"]
    assert "not a regular file" in notes["fifo"]
    page = run.html.read_text()
    assert "TOP SECRET VALUE" not in page and "symbolic link, not followed" in page
    broken_doc = next(d for d in run.documents if d.name == "broken")
    assert "nnl/layers.py (whole)" in [s.name for s in broken_doc.segments]


def test_helpers_a_student_adds_are_compared(tmp_path):
    """Code moved into a helper of a graded module is cut out and compared too."""
    submissions = tmp_path / "class"
    body = textwrap.indent(textwrap.dedent(VERSIONS["softmax_loss"][COPIED]).strip(), "    ")
    for student, version in (("a", 0), ("b", 1)):
        folder = write_student(submissions / student, {f: VERSIONS[f][version] for f in VERSIONS})
        layers = folder / "nnl" / "layers.py"
        layers.write_text(layers.read_text() + f"\n\ndef _my_softmax(x, y, N):\n{body}\n    return loss, dx\n")
    run = similarity(submissions, "cnn", tmp_path / "out", progress=False)
    [pair] = run.pairs
    assert "_my_softmax (helper)" in pair.functions, pair


# -- known sources, other assignments -------------------------------------------------------------

def test_known_folder_holding_an_assignment_is_one_source(tmp_path):
    """A solved assignment folder given as --known is one source, named after it."""
    modules = graded_modules("cnn")
    [document] = read_known(SOLVED, modules)
    assert document.name == "known:cnn" and {"conv_forward_naive", "ThreeLayerConvNet"} <= {
        s.name for s in document.segments}


def test_known_folder_without_graded_code_is_a_clear_error(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "unrelated.py").write_text("def main():\n    pass\n")
    with pytest.raises(SimilarityError, match=r"no Python file under it defines any graded function"):
        read_known(tmp_path, graded_modules("cnn"))


def test_an_assignment_without_release_uses_its_stubbed_source(tmp_path):
    """A course with no release folder (fcnet, in a copy of the course): the boilerplate is its source
    with the solution regions stubbed, so two blank submissions still share nothing."""
    from autograder.authoring.solution_regions import PYTHON_STUB, replace_regions
    from autograder.course import copy_course

    course = copy_course(tmp_path / "course")
    submissions = tmp_path / "class"
    for student in ("a", "b"):
        for path in (course / "source" / "fcnet").rglob("*.py"):
            target = submissions / student / path.relative_to(course / "source" / "fcnet")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(replace_regions(path.read_text(), PYTHON_STUB))
    run = similarity(submissions, "fcnet", tmp_path / "out", progress=False, root=course)
    assert "stubbed" in run.boilerplate_origin
    assert [p.score for p in run.pairs] == [0.0] and {"TwoLayerNet", "FullyConnectedNet"} <= {
        s.name for s in run.documents[0].segments}


# -- the class report -------------------------------------------------------------------------------

def _results(folder: Path) -> Path:
    (folder / "results").mkdir(parents=True)
    test = {"name": "t", "score": 1.0, "max_score": 1.0, "status": "passed", "output": "", "tags": ["sgd"]}
    (folder / "results" / "ada.json").write_text(json.dumps(
        {"score": 1.0, "tests": [test], "extra_data": {"student": "ada", "status": "graded"}}))
    return folder


def test_class_report_shows_the_top_pairs_when_similarity_ran_there(planted, tmp_path):
    from autograder.classwide.report import write_report

    _, out = planted
    graded = _results(tmp_path / "graded")
    assert "Code similarity" not in write_report(graded, graded / "report.html").read_text()
    for name in ("similarity.csv", "similarity.html"):
        (graded / name).write_bytes((out / name).read_bytes())
    page = write_report(graded, graded / "report.html").read_text()
    section = page[page.index("<h2>Code similarity</h2>"):]
    assert 'href="similarity.html"' in section and "never changes a score" in section
    first = re.search(r"<tbody><tr><td>(.*?)</td><td>(.*?)</td><td[^>]*>(.*?)</td>", section).groups()
    assert {first[0], first[1]} in ({"dana", "eli"}, {"fay", "known:lastyear"}) and float(first[2]) > 0.9, first


def test_class_report_links_a_similarity_folder_elsewhere(planted, tmp_path):
    from autograder.classwide.report import ReportError, write_report

    _, out = planted
    graded = _results(tmp_path / "graded")
    page = write_report(graded, graded / "report.html", similarity=out).read_text()
    href = re.search(r'<h2>Code similarity</h2>.*?href="([^"]+)"', page, re.DOTALL).group(1)
    assert (graded / href).resolve() == (out / "similarity.html").resolve()
    with pytest.raises(ReportError, match="no similarity.csv"):
        write_report(graded, graded / "report.html", similarity=tmp_path)


def test_report_command_takes_a_similarity_folder(planted, tmp_path):
    """``python -m autograder report DIR --similarity OTHER`` links the similarity page of another folder."""
    _, out = planted
    graded = _results(tmp_path / "graded")
    done = subprocess.run([sys.executable, "-m", "autograder", "report", str(graded), "--assignment", "cnn",
                           "--similarity", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<h2>Code similarity</h2>" in (graded / "report.html").read_text()


def test_class_report_says_when_similarity_csv_is_unreadable(tmp_path):
    """A similarity.csv without the expected columns: the section says so, the report is still written."""
    from autograder.classwide.report import write_report

    graded = _results(tmp_path / "graded")
    (graded / "similarity.csv").write_text("name,grade\nada,1\n")
    page = write_report(graded, graded / "report.html").read_text()
    assert "<h2>Code similarity</h2>" in page and "lacks the columns student_a, student_b" in page


# -- the command ------------------------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "similarity", *args, "--no-progress"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_cli_refuses_without_an_assignment_when_the_course_has_several(tmp_path):
    result = run_cli(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "cnn" in result.stderr and "fcnet" in result.stderr and "--assignment" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("problem", ["missing", "empty", "known-missing", "out-is-a-file"])
def test_cli_names_the_bad_folder(tmp_path, problem):
    submissions = tmp_path / "class"
    if problem != "missing":
        submissions.mkdir()
    if problem in ("known-missing", "out-is-a-file"):
        copy_of(RELEASE, submissions / "ada")
    out = tmp_path / "out"
    if problem == "out-is-a-file":
        out.write_text("not a folder")
    extra = ["--known", str(tmp_path / "nowhere")] if problem == "known-missing" else []
    result = run_cli(str(submissions), "--assignment", "cnn", "--out", str(out), *extra)
    named = {"missing": submissions, "empty": submissions, "known-missing": tmp_path / "nowhere",
             "out-is-a-file": out}[problem]
    assert result.returncode == 2 and str(named) in result.stderr, result.stderr
    assert not (out.is_dir() and any(out.iterdir()))


def test_cli_writes_both_files_atomically(tmp_path):
    """A rerun replaces both files whole; no temporary file is left beside them."""
    submissions = tmp_path / "class"
    for student, version in (("ada", 0), ("ben", 3), ("cleo", 3)):
        write_student(submissions / student, {f: VERSIONS[f][version] for f in VERSIONS})
    out = tmp_path / "out"
    out.mkdir()
    (out / "similarity.csv").write_text("an older run\n")
    result = run_cli(str(submissions), "--assignment", "cnn", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "ben / cleo" in result.stdout and "flagged" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["similarity.csv", "similarity.html"]
    assert (out / "similarity.csv").read_text().startswith("student_a,student_b,")
    assert oct((out / "similarity.html").stat().st_mode & 0o777) == "0o644"


def test_a_failed_write_leaves_the_old_file(tmp_path):
    """write_atomically: when writing fails half-way, the previous file is intact and no temporary file stays."""
    target = tmp_path / "similarity.csv"
    target.write_text("the previous run\n")

    def fail(handle):
        handle.write("half a ")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, fail)
    assert target.read_text() == "the previous run\n" and [p.name for p in tmp_path.iterdir()] == [target.name]
