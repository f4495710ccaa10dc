"""The kit's `nbgrader autograde` with its gradings on a Dask cluster (`KitAutograde.dask_scheduler`).

A real scheduler and two workers on localhost (the `dask_cluster` fixture), a
generated course with three submissions (the solved copy, the blank release,
one catalogued mistake), and the real `nbgrader autograde`: each submission is
graded once, as a task on the cluster, and the gradebook holds what the
grading command gives on the same files.
"""
from __future__ import annotations

import shutil

import pytest
from distributed import Client

from autograder.grading.grade import suite_folder
from autograder.grading.mutations import load_catalogue, write_mutant
from autograder.nbgrader.course_flow import NbgraderFailed
from nbgrader_course import ASSIGNMENT, Course, function_scores
from submissions import RELEASE, SOLVED, grade_json, scores_by_tag

pytestmark = pytest.mark.nbgrader


def _class(root):
    """``{student: submission folder}``: solved, blank, and the catalogue's first mistake."""
    mistake = load_catalogue(suite_folder(ASSIGNMENT))[0]
    return {"ada": shutil.copytree(SOLVED, root / "ada"),
            "ben": shutil.copytree(RELEASE, root / "ben"),
            "cleo": write_mutant(SOLVED, mistake, root / "cleo")}


def _course(tmp_path, folders):
    course = Course.create(tmp_path)
    for student, folder in folders.items():
        shutil.copytree(folder, course.submitted(student))
    return course


def _keys_run_on(scheduler):
    """The keys of the tasks the scheduler has seen (its transition log)."""
    with Client(scheduler, timeout=30) as client:
        return set(client.run_on_scheduler(lambda dask_scheduler: [str(t[0]) for t in dask_scheduler.transition_log]))


def test_autograde_on_a_dask_cluster_records_what_the_grading_command_gives(dask_cluster, tmp_path):
    folders = _class(tmp_path / "class")
    flow = _course(tmp_path, folders)
    log = flow.nbgrader("autograde", ASSIGNMENT, f"--KitAutograde.dask_scheduler={dask_cluster}").stderr

    assert "kit autograde: 3/3" in log
    assert "grading it again" not in log, "a submission was graded on this machine after all"
    keys = _keys_run_on(dask_cluster)
    for student, folder in folders.items():
        assert log.count(f"Recording the hidden suite's grading of {student}/{ASSIGNMENT}") == 1, student
        assert f"autograde-{ASSIGNMENT}-{student}" in keys, f"{student} was not graded on the cluster"
        expected = {f: earned for f, (earned, _) in scores_by_tag(grade_json(folder, tmp_path / f"{student}.json"))
                    .items()}
        assert function_scores(flow, student) == pytest.approx(expected, abs=1e-6), student
    assert set(function_scores(flow, "ben").values()) == {0.0}
    assert sum(function_scores(flow, "cleo").values()) < sum(function_scores(flow, "ada").values())


def test_an_unreachable_scheduler_stops_autograde_with_a_clear_error(tmp_path):
    flow = _course(tmp_path, {"ben": shutil.copytree(RELEASE, tmp_path / "class" / "ben")})
    with pytest.raises(NbgraderFailed, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        flow.nbgrader("autograde", ASSIGNMENT, "--KitAutograde.dask_scheduler=tcp://127.0.0.1:9", timeout=300)
    assert not flow.autograded("ben").exists(), "autograde went on without its gradings"
