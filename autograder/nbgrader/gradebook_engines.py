"""One database engine per gradebook for a whole ``nbgrader autograde`` run.

nbgrader's ``Gradebook`` creates a new SQLAlchemy engine each time it is opened,
and its converter and preprocessors open it about twenty times per submission
(``init_assignment``, ``OverwriteCells``, ``SaveAutoGrades``,
``AssignLatePenalties``, ...). A new engine starts with an empty cache of
compiled SQL, so every query of every submission was compiled again: in a
profile of the kit's autograde of 20 submissions, the compilation and the
engines' start-up were about a sixth of the time nbgrader spent recording them
(see BENCHMARKS.md, "Autograde through nbgrader").

:func:`shared_gradebook_engines` makes ``Gradebook`` reuse one engine per
database URL while it is active. Everything else is unchanged: nbgrader's own
``Gradebook`` code, sessions, queries and commits write the gradebook, each
``Gradebook`` still opens and removes its own session, and the engines are
disposed of (their connections closed) when the block ends.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import nbgrader.api


@contextmanager
def shared_gradebook_engines() -> Iterator[dict]:
    """Within the block, every ``nbgrader.api.Gradebook(db_url)`` of one URL uses the same engine.

    Yields
    ------
    dict
        The engines created so far, by ``(database URL, creation options)``: for inspection.

    Not reentrant across threads: use it around nbgrader's (single-threaded) loop over submissions.
    """
    original = nbgrader.api.create_engine
    engines: dict = {}

    def create_engine(url, **options):
        try:
            key = (str(url), tuple(sorted(options.items())))
            hash(key)
        except TypeError:  # an option that cannot be a key: nothing to share
            return original(url, **options)
        if key not in engines:
            engines[key] = original(url, **options)
        return engines[key]

    nbgrader.api.create_engine = create_engine
    try:
        yield engines
    finally:
        nbgrader.api.create_engine = original
        for engine in engines.values():
            engine.dispose()
