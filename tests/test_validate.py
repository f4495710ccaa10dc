"""`python -m autograder validate`: the gates that prove the hidden suite before anything is released.

In a file of its own (its run is the longest of the tests) so that pytest-xdist runs it beside the rest.
"""
import json
import subprocess
import sys

import pytest
from submissions import REPO

from autograder.course import known_assignments


@pytest.mark.parametrize("assignment", known_assignments())
def test_validate_passes_every_gate(tmp_path, assignment):
    """Does `validate` prove each homework's suite: reference full, release 0, all mutants caught, no test unfailable?"""
    out = tmp_path / "validate.json"
    result = subprocess.run([sys.executable, "-m", "autograder", "validate", assignment, "--json", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=1800)
    report = json.loads(out.read_text())
    assert result.returncode == 0, result.stdout[-3000:]
    assert report["ok"] and report["detection_rate"] == 1.0 and report["never_failing_tests"] == []
    assert report["reference_score"] == report["total"] == 100 and report["release_score"] == 0
    assert len(report["mutants"]) >= 40
    assert "detection rate 100%" in result.stdout
