"""The kit's temporary folders: a killed run's are removed by the next run, a living one's never.

Real owner processes, killed with SIGKILL; the lock is the kernel's (flock).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.scratch import SOCKET_PATH_MAX, owned_temporary_folder, remove_abandoned, socket_parent

OWNER = """
import sys, time
from autograder.scratch import owned_temporary_folder
with owned_temporary_folder("kit-test-") as folder:
    open(folder + "/a student's file", "w").close()
    print(folder, flush=True)
    time.sleep(600)
"""


def start_owner(parent: Path) -> tuple[subprocess.Popen, Path]:
    """A process that owns a folder under ``parent`` until it is killed; the process and the folder."""
    proc = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(parent)})
    folder = Path(proc.stdout.readline().strip())
    proc.stdout.close()
    return proc, folder


def test_a_killed_owners_folder_is_removed_and_a_living_ones_stays(tmp_path):
    living, living_folder = start_owner(tmp_path)
    killed, killed_folder = start_owner(tmp_path)
    unowned = tmp_path / "kit-test-unowned"  # another program's, or one being set up: no owner file
    unowned.mkdir()
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert killed_folder.is_dir(), "a killed process removed its folder: the test proves nothing"
        assert remove_abandoned(tmp_path) == [killed_folder]
        assert not killed_folder.exists() and living_folder.is_dir() and unowned.is_dir()
    finally:
        living.kill()
        living.wait()


def test_an_owned_folder_is_removed_when_its_block_ends_however_it_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(KeyboardInterrupt), owned_temporary_folder("kit-test-", 0o711) as folder:
        assert oct(os.stat(folder).st_mode & 0o777) == "0o711"
        assert remove_abandoned(tmp_path) == []  # its owner (this process) lives
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_socket_folder_is_short_enough_even_under_a_deep_temporary_folder(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    parent = socket_parent(len("socket"))
    assert parent != deep
    with owned_temporary_folder("grading-server-", dir=parent) as folder:
        assert len(os.fsencode(os.path.join(folder, "socket"))) <= SOCKET_PATH_MAX
    short = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(short))
        assert socket_parent(len("socket")) == short  # short enough: the temporary folder itself
    finally:
        short.rmdir()


def test_without_flock_a_folder_is_made_unclaimed_and_never_swept(tmp_path, monkeypatch):
    import fcntl

    def no_locks(fd, operation):
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(fcntl, "flock", no_locks)
    with owned_temporary_folder("kit-test-") as folder:
        assert os.listdir(folder) == []  # no owner file: not ours to sweep
        assert remove_abandoned(tmp_path) == [] and os.path.isdir(folder)
    assert list(tmp_path.iterdir()) == []
