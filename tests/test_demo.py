"""The README's demo command: both homeworks' class steps through nbgrader, and its exit status."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STUDENTS = ["alice", "bob", "carol", "dave", "erin"]


def tables(stdout: str) -> dict[str, dict[str, str]]:
    """``{homework: {student: score line}}`` from the demo's score tables."""
    found, homework = {}, None
    for line in stdout.splitlines():
        if line.startswith("[5/5] "):
            homework = line.split()[1].rstrip(":")
            found[homework] = {}
        elif homework and line.split() and line.split()[0] in STUDENTS:
            found[homework][line.split()[0]] = line
    return found


@pytest.mark.nbgrader
def test_demo_grades_both_homeworks_through_nbgrader(tmp_path):
    """Does `python -m autograder demo` exit 0 and print each student's nbgrader score for each homework?"""
    work = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "autograder", "demo", "--workdir", str(work), "--skip-notebooks",
                           "--images-per-batch", "20"], cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = tables(done.stdout)
    assert list(found) == ["fcnet", "cnn"], done.stdout[-3000:]
    for homework, table in found.items():
        assert sorted(table) == sorted(STUDENTS), (homework, table)
        assert table["alice"].split()[1] == "100.00" and table["alice"].rstrip().endswith("-"), table["alice"]
        assert table["bob"].split()[1] == "0.00", table["bob"]
        assert "known mistake" in table["dave"] and "known mistake" in table["erin"], (table["dave"], table["erin"])
    assert "spatial_batchnorm_forward" in found["cnn"]["dave"] and "FullyConnectedNet" in found["fcnet"]["dave"]
    with open(work / "course" / "grades.csv") as exported:
        rows = list(csv.DictReader(exported))
    assert sorted((row["assignment"], row["student_id"]) for row in rows) == \
        sorted((homework, student) for homework in ("fcnet", "cnn") for student in STUDENTS)
    for homework in ("fcnet", "cnn"):
        assert sorted(p.name for p in (work / "course" / "feedback").iterdir()) == STUDENTS
        assert all((work / "course" / "feedback" / s / homework).is_dir() for s in STUDENTS)
