"""nbgrader's Gradebook shares one engine, and one transaction, per database during autograde's loop.

On real SQLite gradebooks through nbgrader's own ``Gradebook``; the whole
autograde with the shared engines is covered by tests/test_nbgrader_course.py,
and its resumption after kill -9 by tests/test_nbgrader_traps.py.
"""
import sqlite3
import subprocess
import sys

import nbgrader.api
import pytest
import sqlalchemy
from nbgrader.api import Gradebook
from sqlalchemy import event

from autograder.nbgrader.gradebook_engines import CheckpointedConnection, shared_gradebook_engines


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
        assert len(engines.engines) == 2


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
    (engine,) = engines.engines.values()
    assert engine.pool.checkedout() == 0


# -- one SQLite transaction per submission ------------------------------------------------------

def students_on_disk(path):
    """The students another connection (another process's view) sees in the gradebook file."""
    connection = sqlite3.connect(path)
    try:
        return sorted(row[0] for row in connection.execute("SELECT id FROM student"))
    finally:
        connection.close()


def test_nbgraders_commits_reach_the_file_at_the_kits_commit_and_not_before(tmp_path):
    db = tmp_path / "gradebook.db"
    with Gradebook(url(db), course_id="course"):
        pass  # the tables exist, as in a course
    with shared_gradebook_engines() as shared:
        with Gradebook(url(db), course_id="course") as gb:
            gb.add_student("alice")
        assert students_on_disk(db) == []
        with Gradebook(url(db), course_id="course") as gb:  # nbgrader's next opening reads its own write
            assert [student.id for student in gb.students] == ["alice"]
        shared.commit()
        assert students_on_disk(db) == ["alice"]
        with Gradebook(url(db), course_id="course") as gb:
            gb.add_student("bob")
    assert students_on_disk(db) == ["alice", "bob"]  # the block's end stores the rest


def test_a_rollback_goes_back_to_nbgraders_last_commit_only(tmp_path):
    db = tmp_path / "gradebook.db"
    with shared_gradebook_engines() as shared:
        with Gradebook(url(db), course_id="course") as gb:
            gb.add_student("alice")
            gb.add_student("bob")
            gb.db.add(nbgrader.api.Student(id="carol"))
            gb.db.flush()  # written to the database, not committed
            gb.db.rollback()
            assert [student.id for student in gb.students] == ["alice", "bob"]
            gb.db.add(nbgrader.api.Student(id="dave"))
            gb.db.flush()
            shared.commit()  # what nbgrader did not commit is not stored
    assert students_on_disk(db) == ["alice", "bob"]


def test_an_error_in_the_block_still_stores_what_nbgrader_committed(tmp_path):
    db = tmp_path / "gradebook.db"
    with pytest.raises(RuntimeError, match="a failing submission"), shared_gradebook_engines():
        with Gradebook(url(db), course_id="course") as gb:
            gb.add_student("alice")
        raise RuntimeError("a failing submission")
    assert students_on_disk(db) == ["alice"]


KILLED_RUN = """
import sys, time
from nbgrader.api import Gradebook
from autograder.nbgrader.gradebook_engines import shared_gradebook_engines
url = sys.argv[1]
with shared_gradebook_engines() as shared:
    with Gradebook(url, course_id="course") as gb:
        gb.add_student("alice")
    shared.commit()
    with Gradebook(url, course_id="course") as gb:
        gb.add_student("bob")
        gb.add_student("carol")
    print("ready", flush=True)
    time.sleep(600)
"""


def test_a_run_killed_between_the_kits_commits_loses_only_the_unfinished_submission(tmp_path):
    db = tmp_path / "gradebook.db"
    with subprocess.Popen([sys.executable, "-c", KILLED_RUN, url(db)], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout.readline().strip() == "ready"
        finally:
            proc.kill()  # kill -9: no Python code runs after it
    assert students_on_disk(db) == ["alice"]  # SQLite's journal undoes the open transaction
    connection = sqlite3.connect(db)
    assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    connection.close()
    with Gradebook(url(db), course_id="course") as gb:  # and nbgrader carries on with it
        gb.add_student("bob")
    assert students_on_disk(db) == ["alice", "bob"]


def test_one_connection_serves_the_whole_block_and_is_closed_at_its_end(tmp_path):
    db = tmp_path / "gradebook.db"
    connections = []
    with shared_gradebook_engines() as shared:
        for student in ("alice", "bob", "carol"):
            with Gradebook(url(db), course_id="course") as gb:
                gb.add_student(student)
                connections.append(gb.db.connection().connection.dbapi_connection)
        (engine,) = shared.engines.values()
    assert connections[0] is connections[1] is connections[2]
    assert engine.pool.checkedout() == 0
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        connections[0].execute("SELECT 1")
    assert "dispose" not in vars(engine)  # the engine's own dispose again


def test_the_tables_are_looked_up_on_the_first_opening_only(tmp_path):
    db = tmp_path / "gradebook.db"  # a new database: the first opening creates the tables
    statements = []
    with shared_gradebook_engines() as shared:
        with Gradebook(url(db), course_id="course") as gb:
            gb.add_student("alice")
        (engine,) = shared.engines.values()
        event.listen(engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: statements.append(sql))
        with Gradebook(url(db), course_id="course") as gb:
            assert [student.id for student in gb.students] == ["alice"]
    assert statements and not [sql for sql in statements if "PRAGMA" in sql or "sqlite_master" in sql]
    assert nbgrader.api.Base.metadata.create_all.__func__ is sqlalchemy.MetaData.create_all
    assert nbgrader.api.inspect is sqlalchemy.inspect
    with Gradebook(url(db), course_id="course") as gb:  # outside: nbgrader's own checks, same database
        assert [student.id for student in gb.students] == ["alice"]
        assert gb.db.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()


def test_an_in_memory_database_commits_as_nbgrader_does(tmp_path):
    with shared_gradebook_engines() as shared, Gradebook("sqlite://", course_id="course") as gb:
        gb.add_student("alice")
        connection = gb.db.connection().connection.dbapi_connection
        assert not isinstance(connection, CheckpointedConnection)
        assert not connection.in_transaction  # nbgrader's commit was a commit
    assert len(shared.engines) == 1


def test_without_one_transaction_nbgraders_commits_reach_the_file_at_once(tmp_path):
    db = tmp_path / "gradebook.db"
    with shared_gradebook_engines(one_transaction=False) as shared:
        with Gradebook(url(db), course_id="course") as gb:
            gb.add_student("alice")
        assert students_on_disk(db) == ["alice"]
        (engine,) = shared.engines.values()
    assert engine.pool.checkedout() == 0
