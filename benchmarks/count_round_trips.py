"""Count one grading's round trips into the sandbox, by request.

Grades a submission in this process (as `python -m autograder grade` does, student code in
the sandbox) and counts every request the grader sends to the sandbox's worker, by its
operation and the name it asks for. A round trip costs about 0.2-0.3 ms here
(`bench_sandbox.py`), so a blank release's grading spends its count times that in them.

Usage (from the repository root)::

    python benchmarks/count_round_trips.py release/cnn --assignment cnn
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.grading.grade import grade  # noqa: E402
from autograder.sandbox import sandbox  # noqa: E402


def count_requests(submission: Path, assignment: str) -> Counter:
    """``{(operation, name): requests}`` of one grading of ``submission`` with ``assignment``'s suite."""
    counts: Counter = Counter()
    request = sandbox.Sandbox._request

    def counted(self, header, *args, **kwargs):
        counts[(header.get("op"), header.get("name"))] += 1
        return request(self, header, *args, **kwargs)

    sandbox.Sandbox._request = counted
    try:
        grade(submission, assignment)
    finally:
        sandbox.Sandbox._request = request
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", type=Path, help="the submission folder to grade")
    parser.add_argument("--assignment", required=True, help="which homework's hidden suite")
    parser.add_argument("--top", type=int, default=12, help="requests listed by name (default: %(default)s)")
    args = parser.parse_args(argv)
    counts = count_requests(args.submission, args.assignment)
    print(f"{args.submission} ({args.assignment}): {sum(counts.values())} round trips")
    by_op = Counter()
    for (op, _), n in counts.items():
        by_op[op] += n
    print("by operation: " + ", ".join(f"{op} {n}" for op, n in by_op.most_common()))
    for (op, name), n in counts.most_common(args.top):
        print(f"  {n:4d}  {op} {name or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
