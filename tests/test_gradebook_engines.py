"""nbgrader's Gradebook shares one engine per database during autograde's loop, and only then.

On real SQLite gradebooks through nbgrader's own ``Gradebook``; the whole
autograde with the shared engines is covered by tests/test_nbgrader_course.py.
"""
import nbgrader.api
import pytest
from nbgrader.api import Gradebook

from autograder.nbgrader.gradebook_engines import shared_gradebook_engines


def url(path):
    return f"sqlite:///{path}"


def test_gradebooks_of_one_database_share_an_engine_and_see_each_others_writes(tmp_path):
    with shared_gradebook_engines() as engines:
        with Gradebook(url(tmp_path / "gradebook.db"), course_id="course") as first:
            first.add_student("alice")
        with Gradebook(url(tmp_path / "gradebook.db"), course_id="course") as second:
            assert second.engine is first.engine
            assert [student.id for student in second.students] == ["alice"]
        with Gradebook(url(tmp_path / "other.db"), course_id="course") as other:
            assert other.engine is not first.engine
            assert other.students == []
        assert len(engines) == 2


def test_outside_the_block_every_gradebook_has_its_own_engine_again(tmp_path):
    original = nbgrader.api.create_engine
    with shared_gradebook_engines(), Gradebook(url(tmp_path / "gradebook.db"), course_id="course") as inside:
        inside.add_student("alice")
    assert nbgrader.api.create_engine is original
    with Gradebook(url(tmp_path / "gradebook.db"), course_id="course") as first, \
            Gradebook(url(tmp_path / "gradebook.db"), course_id="course") as second:
        assert first.engine is not second.engine
        assert [student.id for student in first.students] == ["alice"]  # the shared engine's write is on disk


def test_an_error_in_the_block_restores_nbgrader_and_closes_the_engines(tmp_path):
    original = nbgrader.api.create_engine
    with pytest.raises(RuntimeError, match="a failing submission"), shared_gradebook_engines() as engines:
        with Gradebook(url(tmp_path / "gradebook.db"), course_id="course"):
            pass
        raise RuntimeError("a failing submission")
    assert nbgrader.api.create_engine is original
    (engine,) = engines.values()
    assert engine.pool.checkedout() == 0
