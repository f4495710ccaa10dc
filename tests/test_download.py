"""utils/download_cifar10.py on a small real-format archive served from a
file:// URL (no internet here): it installs all or nothing."""
import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from autograder.demo.fake_cifar import write_fake_cifar10
from utils import download_cifar10 as dl
from utils.data_utils import load_CIFAR10

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "utils" / "download_cifar10.py"
BATCH_FILES = sorted(dl.EXPECTED_FILES)


def make_tarball(path, add_members):
    """Write a .tar.gz at path; add_members(tar) adds what it should hold."""
    with tarfile.open(path, "w:gz") as tar:
        add_members(tar)
    return path


def md5_of(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fake_dataset(tmp_path_factory):
    return write_fake_cifar10(tmp_path_factory.mktemp("src"), images_per_batch=20, test_images=20)


@pytest.fixture(scope="module")
def archive(fake_dataset, tmp_path_factory):
    """cifar-10-python.tar.gz laid out as the real one: cifar-10-batches-py/ plus a readme."""
    def add(tar):
        tar.add(fake_dataset, arcname="cifar-10-batches-py")
        readme = b"<html>fake CIFAR-10</html>"
        info = tarfile.TarInfo("cifar-10-batches-py/readme.html")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
    return make_tarball(tmp_path_factory.mktemp("server") / "cifar-10-python.tar.gz", add)


@pytest.fixture
def dest(tmp_path):
    return tmp_path / "datasets"


def leftovers(folder):
    """Everything in folder: after a failure there must be nothing."""
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


def download(dest, url, **kwargs):
    return dl.download_cifar10(dest, url=url, progress=False, **kwargs)


# --- success ---------------------------------------------------------------


def test_extracts_the_batches_into_place(archive, fake_dataset, dest):
    folder = download(dest, archive.as_uri(), md5=md5_of(archive))
    assert Path(folder) == dest / "cifar-10-batches-py"
    for name in BATCH_FILES:
        assert (dest / "cifar-10-batches-py" / name).read_bytes() == (fake_dataset / name).read_bytes()


def test_leaves_only_the_dataset_folder_behind(archive, dest):
    download(dest, archive.as_uri(), md5=md5_of(archive))
    assert leftovers(dest) == ["cifar-10-batches-py"], "no .part file or temporary folder may remain"


def test_result_loads_with_data_utils(archive, dest):
    Xtr, ytr, Xte, yte = load_CIFAR10(download(dest, archive.as_uri()))
    assert Xtr.shape == (100, 32, 32, 3) and Xte.shape == (20, 32, 32, 3)


def test_md5_is_optional_for_another_url(archive, dest, capsys):
    download(dest, archive.as_uri())
    assert "not verified" in capsys.readouterr().out


def test_md5_check_ignores_case(archive, dest):
    download(dest, archive.as_uri(), md5=md5_of(archive).upper())
    assert (dest / "cifar-10-batches-py" / "test_batch").is_file()


def test_creates_missing_parent_folders(archive, tmp_path):
    deep = tmp_path / "a" / "b" / "datasets"
    download(deep, archive.as_uri())
    assert (deep / "cifar-10-batches-py" / "data_batch_5").is_file()


def test_default_destination_is_utils_datasets():
    assert Path(dl.DEFAULT_DEST) == REPO_ROOT / "utils" / "datasets"


# --- already there ---------------------------------------------------------


def test_skips_when_already_present(archive, dest, capsys):
    download(dest, archive.as_uri())
    # A URL that cannot be opened: any attempt to download would fail.
    folder = download(dest, (dest / "no-such-archive.tar.gz").as_uri())
    assert Path(folder) == dest / "cifar-10-batches-py"
    assert "already" in capsys.readouterr().out


def test_incomplete_existing_folder_is_reported_not_overwritten(archive, dest):
    download(dest, archive.as_uri())
    (dest / "cifar-10-batches-py" / "data_batch_2").unlink()
    with pytest.raises(dl.DownloadError, match="data_batch_2.*--force"):
        download(dest, archive.as_uri())


def test_force_replaces_an_incomplete_folder(archive, dest):
    download(dest, archive.as_uri())
    (dest / "cifar-10-batches-py" / "data_batch_2").unlink()
    download(dest, archive.as_uri(), force=True)
    assert (dest / "cifar-10-batches-py" / "data_batch_2").is_file()
    assert leftovers(dest) == ["cifar-10-batches-py"]


def test_force_keeps_the_old_folder_when_the_new_download_fails(archive, dest, tmp_path):
    download(dest, archive.as_uri())
    with pytest.raises(dl.DownloadError):
        download(dest, archive.as_uri(), md5="0" * 32, force=True)
    assert dl.is_complete(dest / "cifar-10-batches-py")


def test_ctrl_c_while_replacing_puts_the_old_folder_back(archive, dest, monkeypatch):
    download(dest, archive.as_uri())
    real_rename = dl.os.rename

    def rename_interrupted(src, dst):
        if Path(src).name == "cifar-10-batches-py" and Path(src).parent.name.startswith(".cifar-10-unpack-"):
            raise KeyboardInterrupt  # the new copy is ready, the old one already moved aside
        real_rename(src, dst)

    monkeypatch.setattr(dl.os, "rename", rename_interrupted)
    with pytest.raises(KeyboardInterrupt):
        download(dest, archive.as_uri(), force=True)
    assert dl.is_complete(dest / "cifar-10-batches-py"), "the old dataset must be back in place"
    assert leftovers(dest) == ["cifar-10-batches-py"]


# --- checksum --------------------------------------------------------------


def test_md5_mismatch_is_an_error_naming_both_hashes(archive, dest):
    wrong = "0123456789abcdef0123456789abcdef"
    with pytest.raises(dl.DownloadError) as info:
        download(dest, archive.as_uri(), md5=wrong)
    assert wrong in str(info.value) and md5_of(archive) in str(info.value)


def test_md5_mismatch_leaves_nothing_behind(archive, dest):
    with pytest.raises(dl.DownloadError):
        download(dest, archive.as_uri(), md5="0" * 32)
    assert leftovers(dest) == []


def test_default_url_is_always_checked_against_the_official_md5(archive, dest, monkeypatch):
    """Served from the default URL, our fake archive must fail the official checksum."""
    monkeypatch.setattr(dl, "DEFAULT_URL", archive.as_uri())
    with pytest.raises(dl.DownloadError, match=dl.DEFAULT_MD5):
        dl.download_cifar10(dest, progress=False)
    assert leftovers(dest) == []


@pytest.mark.parametrize("md5", ["abc", "z" * 32, "0" * 33])
def test_malformed_md5_is_rejected(archive, dest, md5):
    with pytest.raises(dl.DownloadError, match="32 hexadecimal"):
        download(dest, archive.as_uri(), md5=md5)


# --- broken archives and failures: nothing half-written -------------------


def truncated(archive, tmp_path):
    path = tmp_path / "truncated.tar.gz"
    path.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    return path


def not_gzip(archive, tmp_path):
    path = tmp_path / "not-gzip.tar.gz"
    path.write_bytes(b"<html>404 Not Found</html>")
    return path


def wrong_folder(archive, tmp_path):
    def add(tar):
        data = b"hello"
        info = tarfile.TarInfo("something-else/data_batch_1")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return make_tarball(tmp_path / "wrong.tar.gz", add)


def missing_batch(archive, tmp_path):
    def add(tar):
        for name in BATCH_FILES[:-1]:
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            tar.addfile(info, io.BytesIO(b""))
    return make_tarball(tmp_path / "missing.tar.gz", add)


def path_traversal(archive, tmp_path):
    def add(tar):
        data = b"owned"
        info = tarfile.TarInfo("../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return make_tarball(tmp_path / "evil.tar.gz", add)


@pytest.mark.parametrize("make_bad_archive", [truncated, not_gzip, wrong_folder, missing_batch, path_traversal])
def test_bad_archive_is_an_error_and_leaves_nothing(archive, dest, tmp_path, make_bad_archive):
    bad = make_bad_archive(archive, tmp_path)
    with pytest.raises(dl.DownloadError):
        download(dest, bad.as_uri())
    assert leftovers(dest) == [], "a failed unpack must not leave a partial folder"


def test_member_outside_the_destination_is_refused(archive, dest, tmp_path):
    with pytest.raises(dl.DownloadError, match="refusing to unpack.*escaped.txt"):
        download(dest, path_traversal(archive, tmp_path).as_uri())


def test_older_pythons_without_the_data_filter_still_refuse_escaping_members(archive, dest, tmp_path,
                                                                           monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter")
    with pytest.raises(dl.DownloadError, match="refusing to unpack.*escaped.txt"):
        download(dest, path_traversal(archive, tmp_path).as_uri())
    assert leftovers(dest) == []
    download(dest, archive.as_uri())
    assert dl.is_complete(dest / "cifar-10-batches-py")


def test_unreachable_url_names_the_url(dest, tmp_path):
    url = (tmp_path / "nothing-here.tar.gz").as_uri()
    with pytest.raises(dl.DownloadError, match="nothing-here.tar.gz"):
        download(dest, url)
    assert leftovers(dest) == []


def test_ctrl_c_during_unpacking_leaves_nothing(archive, dest, monkeypatch):
    real_extract = dl._extract

    def extract_then_interrupt(path, into):
        real_extract(path, into)  # everything is on disk, but not yet in place
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "_extract", extract_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        download(dest, archive.as_uri())
    assert leftovers(dest) == []


def test_ctrl_c_during_download_leaves_no_part_file(archive, dest, monkeypatch):
    def download_half_then_interrupt(url, part_path, progress):
        Path(part_path).write_bytes(archive.read_bytes()[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "_download", download_half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        download(dest, archive.as_uri())
    assert leftovers(dest) == []


# --- the command line ------------------------------------------------------


def run_script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_help_explains_the_options():
    result = run_script("--help")
    assert result.returncode == 0
    for word in ("--dest", "--url", "--md5", "--force", "file://", "cifar-10-batches-py"):
        assert word in result.stdout, f"--help should mention {word}"


def test_command_line_installs_and_shows_progress(archive, dest):
    result = run_script("--dest", str(dest), "--url", archive.as_uri(), "--md5", md5_of(archive))
    assert result.returncode == 0, result.stderr
    assert "100%" in result.stderr
    assert dl.is_complete(dest / "cifar-10-batches-py")


def test_command_line_failure_exits_1_with_an_error_message(archive, dest):
    result = run_script("--dest", str(dest), "--url", archive.as_uri(), "--md5", "0" * 32)
    assert result.returncode == 1
    assert "error: md5 mismatch" in result.stderr
    assert leftovers(dest) == []


def test_command_line_returns_130_on_ctrl_c(archive, dest, monkeypatch, capsys):
    def interrupt(url, part_path, progress):
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "_download", interrupt)
    assert dl.main(["--dest", str(dest), "--url", archive.as_uri(), "--quiet"]) == 130
    assert "nothing was left behind" in capsys.readouterr().err
