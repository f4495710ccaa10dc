"""Repairing a collected submission before autograde: everything kept, every fix noted once."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.nbgrader.submission_repair import NOTES_FILE, prepare_submission, read_notes

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "release" / "cnn"
MODULES = ["nnl/layers.py", "nnl/conv_layers.py", "nnl/optim.py", "nnl/cnn.py"]


@pytest.fixture
def submission(tmp_path):
    folder = tmp_path / "submitted" / "ann" / "cnn"
    shutil.copytree(RELEASE, folder)
    return folder


def _prepare(folder, tmp_path, max_bytes=1024 * 1024):
    return prepare_submission(folder, RELEASE, tmp_path / "quarantine", MODULES, max_bytes)


def test_a_complete_submission_is_left_alone(submission, tmp_path):
    before = {p: p.read_bytes() for p in submission.rglob("*") if p.is_file()}
    assert _prepare(submission, tmp_path) == []
    assert {p: p.read_bytes() for p in submission.rglob("*") if p.is_file()} == before


def test_outside_links_are_removed_inside_links_kept(submission, tmp_path):
    secret = tmp_path / "secret.py"
    secret.write_text("SOLUTION = 1\n")
    os.symlink(secret, submission / "nnl" / "leak.py")
    os.symlink(tmp_path / "nowhere", submission / "dangling")
    os.symlink("layers.py", submission / "nnl" / "same.py")
    notes = _prepare(submission, tmp_path)
    assert not (submission / "nnl" / "leak.py").exists() and not os.path.lexists(submission / "dangling")
    assert (submission / "nnl" / "same.py").is_symlink()
    assert secret.read_text() == "SOLUTION = 1\n"
    assert any(n.startswith("nnl/leak.py was a link to") for n in notes)
    assert any(n.startswith("dangling was a link to") for n in notes)


def test_large_files_are_moved_not_deleted(submission, tmp_path):
    (submission / "data").mkdir()
    (submission / "data" / "big.npy").write_bytes(b"x" * 2_000_000)
    notes = _prepare(submission, tmp_path)
    assert not (submission / "data" / "big.npy").exists()
    assert (tmp_path / "quarantine" / "data" / "big.npy").read_bytes() == b"x" * 2_000_000
    assert notes == ["data/big.npy (2 MiB) is above the 1 MiB limit per file; it was set aside for your "
                     "instructor and not graded."]


@pytest.mark.parametrize("content, problem", [
    ('{"cells": [ oops', "is not valid JSON"),
    (b"\xff\xfe\x00garbage", "is not valid JSON"),
    ('{"nbformat": 4, "cells": 3}', "is not a Jupyter notebook"),
    ('[]', "is not a Jupyter notebook"),
])
def test_unreadable_notebooks_are_kept_and_replaced(submission, tmp_path, content, problem):
    path = submission / "CNN.ipynb"
    sent = content if isinstance(content, bytes) else content.encode()
    path.write_bytes(sent)
    notes = _prepare(submission, tmp_path)
    assert (submission / "CNN.ipynb.unreadable").read_bytes() == sent
    assert path.read_bytes() == (RELEASE / "CNN.ipynb").read_bytes()
    assert len(notes) == 1 and notes[0].startswith(f"CNN.ipynb {problem}")


def test_notebook_failing_validation_is_repaired_with_the_original_kept(submission, tmp_path):
    path = submission / "CNN.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][0]["id"] = "not a valid id!"
    nb["cells"][1]["id"] = nb["cells"][2]["id"]
    original = json.dumps(nb)
    path.write_text(original)
    notes = _prepare(submission, tmp_path)
    assert (submission / "CNN.ipynb.original").read_text() == original
    repaired = nbformat.read(path, as_version=4)
    nbformat.validate(repaired)
    assert [c.source for c in repaired.cells] == [c["source"] if isinstance(c["source"], str)
                                                   else "".join(c["source"]) for c in nb["cells"]]
    assert notes[0].startswith("CNN.ipynb fails notebook validation") and "repaired" in notes[0]


def test_missing_notebooks_and_modules_are_named(submission, tmp_path):
    (submission / "SpatialBatchNorm.ipynb").unlink()
    (submission / "nnl" / "optim.py").unlink()
    notes = _prepare(submission, tmp_path)
    assert (submission / "SpatialBatchNorm.ipynb").read_bytes() == (RELEASE / "SpatialBatchNorm.ipynb").read_bytes()
    assert notes[0].startswith("SpatialBatchNorm.ipynb was missing")
    assert notes[1] == "nnl/optim.py is missing from your submission: the functions it should define score 0."


def test_notes_survive_a_second_run_once(submission, tmp_path):
    (submission / "CNN.ipynb").unlink()
    first = _prepare(submission, tmp_path)
    second = _prepare(submission, tmp_path)
    assert first == second == read_notes(submission)
    assert len((submission / NOTES_FILE).read_text().splitlines()) == 1
