"""The README's demo command: its class step through nbgrader, and its exit status."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.nbgrader
def test_demo_grades_its_class_through_nbgrader(tmp_path):
    """Does `python -m autograder demo` exit 0 and print each student's nbgrader score?"""
    work = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "autograder", "demo", "--workdir", str(work), "--skip-notebooks",
                           "--images-per-batch", "20"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = {line.split()[0]: line for line in done.stdout.splitlines()
             if line.strip() and line.split()[0] in ("alice", "bob", "carol", "dave")}
    assert "100.00 / 108" in table["alice"] and table["alice"].rstrip().endswith("-")
    assert "0.00 / 108" in table["bob"]
    assert "spatial_batchnorm_forward" in table["dave"] and "known mistake" in table["dave"]
    assert (work / "course" / "grades.csv").read_text().count("\ncnn,") == 4
    assert sorted(p.name for p in (work / "course" / "feedback").iterdir()) == ["alice", "bob", "carol", "dave"]
