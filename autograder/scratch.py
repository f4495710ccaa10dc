"""The kit's temporary folders: removed by the next run when a killed run left them, short enough for sockets.

A process killed with kill -9 (or by the kernel's out-of-memory killer) cannot remove its
temporary folders, and the kit's hold copies of students' files (a grading's sandbox copy, the
submissions ``nbgrader autograde`` lays out). :func:`owned_temporary_folder` makes a folder whose
owner holds a lock on a file inside it for as long as it lives; the kernel releases the lock when
that process ends, however it ends. :func:`remove_abandoned` (called when a batch starts) removes
the folders whose lock nobody holds any more.

A Unix socket's path is at most ``SOCKET_PATH_MAX`` bytes; under a deep ``TMPDIR`` (a CI runner's,
pytest's) a socket in a temporary folder would not fit. :func:`socket_parent` finds a parent folder
where it does.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

OWNER_FILE = ".kit-owner"  # in an owned folder; its owner holds a flock on it while it lives
SOCKET_PATH_MAX = 107  # bytes of a Unix socket's path (sun_path holds 108 with the terminating NUL)
SHORT_TEMPORARY_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")


def claim(folder: str | Path) -> int | None:
    """Own ``folder`` until the returned descriptor is closed (or this process ends): a sweep leaves it alone.

    The descriptor is not inherited by the programs this process starts (PEP 446). On a file
    system without ``flock``, None: the folder is not claimed, so no sweep ever removes it.
    """
    # locked under another name, then renamed: a sweeper never sees an owner file that is not locked
    staging = os.path.join(folder, OWNER_FILE + ".new")
    owner = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(owner, fcntl.LOCK_EX)
    except OSError:
        os.close(owner)
        os.unlink(staging)
        return None
    os.rename(staging, os.path.join(folder, OWNER_FILE))
    return owner


@contextlib.contextmanager
def owned_temporary_folder(prefix: str, mode: int = 0o700, dir: str | Path | None = None) -> Iterator[str]:
    """A new temporary folder (path as str) for the block, removed when it ends or by a later run.

    Inputs
    ------
    prefix : str
        The start of its name.
    mode : int
        Its permissions (0o711 lets other users traverse it, not list it).
    dir : str or Path, optional
        Where it goes (default: ``tempfile.gettempdir()``).
    """
    folder = tempfile.TemporaryDirectory(prefix=prefix, dir=dir)
    owner = None
    try:
        os.chmod(folder.name, mode)
        owner = claim(folder.name)
        yield folder.name
    finally:  # removed before the claim ends: a sweep never races this removal
        folder.cleanup()
        if owner is not None:
            os.close(owner)


def remove_abandoned(parent: Path | None = None) -> list[Path]:
    """Remove the owned folders under ``parent`` (the temporary folder) whose owner has died; the ones removed.

    Only folders of this user with an owner file are considered, and only when its lock can be
    taken: a living owner holds it. Folders without one (another program's, or one being set up)
    are left alone.
    """
    removed = []
    try:
        entries = list(Path(parent or tempfile.gettempdir()).iterdir())
    except OSError:
        return removed
    for folder in entries:
        owner_path = folder / OWNER_FILE
        try:
            info = folder.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            with open(owner_path, "rb") as owner:
                try:
                    fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its owner lives
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue
        removed.append(folder)
    return removed


def socket_parent(name_length: int) -> Path:
    """A folder in which ``<a temporary folder>/<a name of name_length bytes>`` fits a Unix socket's path.

    The temporary folder when it is short enough, else the first of ``SHORT_TEMPORARY_FOLDERS``
    this user may write in.

    Raises
    ------
    OSError
        When no such folder is short enough.
    """
    def fits(parent: str) -> bool:
        # TemporaryDirectory's names: a prefix (up to 24 bytes here) and 8 random characters
        return len(os.fsencode(parent)) + 1 + 32 + 1 + name_length <= SOCKET_PATH_MAX

    parent = tempfile.gettempdir()
    if fits(parent):
        return Path(parent)
    for short in SHORT_TEMPORARY_FOLDERS:
        if fits(short) and os.path.isdir(short) and os.access(short, os.W_OK | os.X_OK):
            return Path(short)
    raise OSError(f"{parent} is too deep for a Unix socket's path, and none of "
                  f"{', '.join(SHORT_TEMPORARY_FOLDERS)} is writable")
