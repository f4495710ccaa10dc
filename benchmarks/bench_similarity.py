"""Class-scale code similarity: `python -m autograder similarity` on a generated class of 500.

The class: ``--students`` submissions made from the solved copy ``solutions_private/<a>``, each
with its own renamings (every local name of the graded modules gets another name), rewritten
comments, its functions in another order, and for a third of the students another layout
(tokens re-spaced by `tokenize.untokenize`); each graded function is left as the release's stub
with probability 10%, and ``--blank`` students (5% by default) hand in the release unchanged.
Seeded. Since every submission comes from one solution, nearly every pair is similar: the worst
case for the comparison and for the page (every pair is flagged, the side-by-side views are full).

Timed: the whole command, from the interpreter's start to both files written, ``--repeat`` times
(the median is reported); the class is written once, before.

Usage: python benchmarks/bench_similarity.py [--students 500] [--assignment cnn] [--repeat 3]
"""
from __future__ import annotations

import argparse
import ast
import csv
import io
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tokenize
from pathlib import Path

from machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.classwide.similarity import graded_modules  # noqa: E402
from autograder.course import release_folder, solutions_folder  # noqa: E402

COMMENTS = ["loop over the batch", "vectorized", "see the notes", "TODO: tidy", "shape check", "as in class"]
SYNONYMS = ["tmp", "val", "res", "acc", "buf", "arr", "cur", "idx", "part", "item"]


def _local_names(text: str) -> set[str]:
    """Names assigned inside the module's functions and classes (never attributes or parameters)."""
    names = set()
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names


def vary(text: str, rng: random.Random, respace: bool) -> str:
    """``text`` with its local names renamed, its comments rewritten, optionally re-spaced."""
    mapping = {name: f"{rng.choice(SYNONYMS)}_{name[:2]}{rng.randrange(100)}" for name in _local_names(text)}
    tokens, previous = [], None
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME and tok.string in mapping and not (previous and previous.string == "."):
            tok = tok._replace(string=mapping[tok.string])
        elif tok.type == tokenize.COMMENT:
            tok = tok._replace(string="# " + rng.choice(COMMENTS))
        tokens.append(tok if not respace else tok[:2])
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            previous = tok
    return tokenize.untokenize(tokens)


def shuffle_definitions(text: str, rng: random.Random) -> str:
    """The module with its top-level functions and classes in a random order (the code before them kept)."""
    tree = ast.parse(text)
    lines = text.split("\n")
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    if not defs:
        return text
    blocks = ["\n".join(lines[(d.decorator_list[0].lineno if d.decorator_list else d.lineno) - 1: d.end_lineno])
              for d in defs]
    rng.shuffle(blocks)
    return "\n".join(lines[: defs[0].lineno - 1]) + "\n" + "\n\n\n".join(blocks) + "\n"


def stub(text: str, released: str, name: str) -> str:
    """``text`` with the definition ``name`` replaced by the release's."""
    def span(source):
        node = next(n for n in ast.parse(source).body if getattr(n, "name", None) == name)
        return node.lineno - 1, node.end_lineno
    mine, theirs = text.split("\n"), released.split("\n")
    (a, b), (c, d) = span(text), span(released)
    return "\n".join(mine[:a] + theirs[c:d] + mine[b:])


def make_class(root: Path, assignment: str, students: int, blank: float, seed: int = 0) -> int:
    """Write ``root/<student>/`` folders; returns how many are blank."""
    rng = random.Random(seed)
    solved, release = solutions_folder(assignment), release_folder(assignment)
    modules = graded_modules(assignment)
    blanks = 0
    for i in range(students):
        folder = root / f"student{i:03d}"
        if rng.random() < blank:
            shutil.copytree(release, folder, ignore=shutil.ignore_patterns("__pycache__"))
            blanks += 1
            continue
        shutil.copytree(solved, folder, ignore=shutil.ignore_patterns("__pycache__", "*.ipynb"))
        respace = rng.random() < 1 / 3
        for path, names in modules.items():
            text = (folder / path).read_text()
            released = (release / path).read_text()
            for name in names:
                if rng.random() < 0.10:
                    text = stub(text, released, name)
            (folder / path).write_text(vary(shuffle_definitions(text, rng), rng, respace))
    return blanks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=500, help="class size (default: %(default)s)")
    parser.add_argument("--assignment", default="cnn", help="whose solved copy the class is made from")
    parser.add_argument("--blank", type=float, default=0.05, help="share of blank submissions (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (default: %(default)s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-similarity-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        blanks = make_class(tmp / "class", args.assignment, args.students, args.blank)
        made = time.perf_counter() - started
        command = [sys.executable, "-m", "autograder", "similarity", str(tmp / "class"), "--assignment",
                   args.assignment, "--out", str(tmp / "out"), "--no-progress"]
        seconds, load = [], [os.getloadavg()[0]]
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run(command, cwd=REPO, check=True, capture_output=True)
            seconds.append(time.perf_counter() - started)
            load.append(os.getloadavg()[0])
        with open(tmp / "out" / "similarity.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        flagged = sum(row["flagged"] == "yes" for row in rows)
        page = (tmp / "out" / "similarity.html").stat().st_size
        print(f"Machine: {cpu_model()}, {platform.machine()}, Python {platform.python_version()}")
        print(f"Class: {args.students} students of {args.assignment} ({blanks} blank), written in {made:.1f} s")
        print(f"similarity: {len(rows)} pairs, {flagged} flagged, page {page / 1e6:.1f} MB")
        runs = ", ".join(f"{s:.1f}" for s in seconds)
        print(f"wall seconds per run: {runs}; median {statistics.median(seconds):.1f}; best {min(seconds):.1f}")
        print(f"1-minute load average before and after each run: {', '.join(f'{x:.1f}' for x in load)} "
              f"({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
