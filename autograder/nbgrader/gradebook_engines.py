"""One database engine, and one SQLite transaction per submission, for a whole ``nbgrader autograde`` run.

nbgrader's ``Gradebook`` creates a new SQLAlchemy engine each time it is opened,
and its converter and preprocessors open it about twenty times per submission
(``init_assignment``, ``OverwriteCells``, ``SaveAutoGrades``,
``AssignLatePenalties``, ...). A new engine starts with an empty cache of
compiled SQL, so every query of every submission was compiled again. And each
of its about 74 commits per submission is a SQLite transaction of its own: a
journal file created, written, synced to disk and deleted. In a profile of the
kit's autograde of 20 submissions, the compilation and the engines' start-up
were about a sixth of the time nbgrader spent recording them, and the commits
another sixth (see BENCHMARKS.md, "Autograde through nbgrader").

:func:`shared_gradebook_engines` makes ``Gradebook`` reuse one engine per
database URL, and its connection, while it is active; the tables nbgrader's
``Gradebook`` creates (or finds) when it opens a database are looked up on the
first opening only, not on every one. For a SQLite gradebook its connections are
:class:`CheckpointedConnection`: nbgrader's commit becomes a checkpoint inside
one transaction, and :meth:`SharedGradebooks.commit` (which the kit calls once
per submission, before it marks the submission finished) makes the
checkpointed work durable in one commit. Everything else is unchanged:
nbgrader's own ``Gradebook`` code, sessions, queries, commits and rollbacks
write the gradebook, with the same result; a run killed between two durable
commits loses only the unfinished submission's records, which the next run
grades again, and SQLite's journal keeps the file consistent. Other
databases (a PostgreSQL gradebook) share the engine but commit as nbgrader does.
"""
from __future__ import annotations

import sqlite3
import types
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import nbgrader.api
from sqlalchemy.engine import make_url

CHECKPOINT = "kit_checkpoint"


class CheckpointedConnection(sqlite3.Connection):
    """A sqlite3 connection whose ``commit`` is a checkpoint, made durable by :meth:`commit_checkpoints`.

    Inside a transaction, ``commit()`` releases the previous checkpoint (a
    savepoint) into the transaction and opens the next; ``rollback()`` goes
    back to the last checkpoint, as a rollback goes back to the last commit.
    Other connections see the work only once :meth:`commit_checkpoints` (or
    ``close()``) commits it, which also drops whatever came after the last
    checkpoint: exactly what nbgrader committed is stored.
    """

    _checkpointed = False  # a savepoint CHECKPOINT is open in the current transaction

    def commit(self) -> None:
        if not self.in_transaction:
            return
        if self._checkpointed:
            self.execute(f"RELEASE {CHECKPOINT}")
        self.execute(f"SAVEPOINT {CHECKPOINT}")
        self._checkpointed = True

    def rollback(self) -> None:
        if self.in_transaction and self._checkpointed:
            self.execute(f"ROLLBACK TO {CHECKPOINT}")
        else:  # nothing checkpointed in this transaction: a plain rollback
            super().rollback()

    def commit_checkpoints(self) -> None:
        """Store durably what was checkpointed (one SQLite commit); drop what came after."""
        if self.in_transaction:
            if self._checkpointed:
                self.execute(f"ROLLBACK TO {CHECKPOINT}")
                super().commit()
            else:
                super().rollback()
        self._checkpointed = False

    def close(self) -> None:
        self.commit_checkpoints()
        super().close()


class SharedGradebooks:
    """The engines of a :func:`shared_gradebook_engines` block, and their open transactions.

    Attributes
    ----------
    engines : dict
        The engines created so far, by ``(database URL, creation options)``.
    """

    def __init__(self):
        self.engines: dict = {}
        self._connections: weakref.WeakSet = weakref.WeakSet()

    def commit(self) -> None:
        """Make everything nbgrader committed so far durable: one SQLite commit per open connection."""
        for connection in list(self._connections):
            connection.commit_checkpoints()

    def connection_class(self) -> type:
        """A :class:`CheckpointedConnection` class whose connections this object commits."""
        registry = self._connections

        class Registered(CheckpointedConnection):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                registry.add(self)

        return Registered


def _is_sqlite_file(url) -> bool:
    try:
        url = make_url(url)
    except Exception:  # noqa: BLE001 - not ours to judge; nbgrader's create_engine will say
        return False
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")


@contextmanager
def shared_gradebook_engines(one_transaction: bool = True) -> Iterator[SharedGradebooks]:
    """Within the block, every ``nbgrader.api.Gradebook(db_url)`` of one URL uses the same engine.

    Inputs
    ------
    one_transaction : bool
        For a SQLite file gradebook, make nbgrader's commits checkpoints of one transaction, stored
        by :meth:`SharedGradebooks.commit` and when the block ends (however it ends).

    Yields
    ------
    SharedGradebooks
        Its ``commit()`` stores the work so far; its ``engines`` are there for inspection.

    Not reentrant across threads: use it around nbgrader's (single-threaded) loop over submissions.
    """
    original = nbgrader.api.create_engine
    shared = SharedGradebooks()

    def create_engine(url, **options):
        try:
            key = (str(url), tuple(sorted(options.items())))
            hash(key)
        except TypeError:  # an option that cannot be a key: nothing to share
            return original(url, **options)
        if key not in shared.engines:
            if one_transaction and _is_sqlite_file(url) and "connect_args" not in options:
                options = {**options, "connect_args": {"factory": shared.connection_class()}}
            engine = shared.engines[key] = original(url, **options)
            # Gradebook.close() disposes of its engine, closing the connections: the shared engine
            # keeps its connection (and its transaction) until the block ends.
            engine.dispose = lambda close=True: None
        return shared.engines[key]

    metadata = nbgrader.api.Base.metadata
    original_inspect, original_create_all = nbgrader.api.inspect, metadata.create_all
    tables: dict[int, list[str]] = {}  # id(shared engine) -> its tables, once nbgrader has created them

    def is_shared(subject) -> bool:
        return any(subject is engine for engine in shared.engines.values())

    def create_all(bind=None, *args, **kwargs):
        if not (is_shared(bind) and id(bind) in tables):
            original_create_all(bind, *args, **kwargs)
            if is_shared(bind):
                tables[id(bind)] = original_inspect(bind).get_table_names()

    def inspect(subject, *args, **kwargs):
        if is_shared(subject) and id(subject) in tables:
            return types.SimpleNamespace(get_table_names=lambda: list(tables[id(subject)]))
        return original_inspect(subject, *args, **kwargs)

    nbgrader.api.create_engine, nbgrader.api.inspect, metadata.create_all = create_engine, inspect, create_all
    try:
        yield shared
    finally:
        nbgrader.api.create_engine, nbgrader.api.inspect = original, original_inspect
        del metadata.create_all  # the MetaData's own method again
        try:
            shared.commit()
        finally:
            for engine in shared.engines.values():
                del engine.dispose  # the engine's own again
                engine.dispose()
