"""
Downloads and unpacks the python version of CIFAR-10 (about 163 MiB).

Run it once from the assignment folder:

    python utils/download_cifar10.py

It creates utils/datasets/cifar-10-batches-py/, which is where
utils.data_utils.get_CIFAR10_data looks by default. No internet on your
machine? Copy cifar-10-python.tar.gz over from one that has it and run

    python utils/download_cifar10.py --url file:///full/path/to/cifar-10-python.tar.gz

The dataset appears all at once or not at all: the archive is downloaded to a
`.part` file and unpacked into a hidden temporary folder beside the
destination, which is renamed into place only when everything worked. A
failure or Ctrl-C leaves nothing half-written behind.
"""
import argparse
import hashlib
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request

DEFAULT_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz'
DEFAULT_MD5 = 'c58f30108f718f92721af3b95e74349a'
DEFAULT_DEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'datasets')

BATCHES_DIRNAME = 'cifar-10-batches-py'
EXPECTED_FILES = ('data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4',
                  'data_batch_5', 'test_batch', 'batches.meta')
ARCHIVE_NAME = 'cifar-10-python.tar.gz'
CHUNK_BYTES = 1 << 20


class DownloadError(Exception):
    """The dataset could not be downloaded, verified or unpacked."""


class _UnsafeMember(tarfile.TarError):
    """A member of the archive would land outside the destination."""


# tarfile.FilterError exists from Python 3.11.4 on, with the 'data' filter.
UNSAFE_MEMBER_ERRORS = (_UnsafeMember,) + ((tarfile.FilterError,) if hasattr(tarfile, 'FilterError') else ())


def is_complete(folder):
    """
    Tells whether a folder holds every file of the python version of CIFAR-10.

    Inputs:
    - folder: Path of a `cifar-10-batches-py` folder

    Returns:
    - complete: True if the folder exists and holds all of EXPECTED_FILES
    """
    return all(os.path.isfile(os.path.join(folder, name)) for name in EXPECTED_FILES)


def download_cifar10(dest=None, url=None, md5=None, force=False, progress=True):
    """
    Downloads, verifies and unpacks CIFAR-10 into dest/cifar-10-batches-py.

    Inputs:
    - dest: Folder to create cifar-10-batches-py in (created if needed);
        None means utils/datasets next to this script
    - url: Where to get cifar-10-python.tar.gz (http(s):// or file://);
        None means the official URL, DEFAULT_URL
    - md5: Expected md5 of the archive, as 32 hex digits; None means
        DEFAULT_MD5 when the official URL is used and no check otherwise
    - force: If True, replace a dataset that is already there
    - progress: If True, show the download's progress on stderr

    Returns:
    - folder: Path of the cifar-10-batches-py folder

    Raises DownloadError if anything fails; then nothing new is left in dest.
    """
    dest = os.path.abspath(os.fspath(dest if dest is not None else DEFAULT_DEST))
    if url is None:
        url = DEFAULT_URL
    if md5 is None and url == DEFAULT_URL:
        md5 = DEFAULT_MD5
    if md5 is not None and not re.fullmatch(r'[0-9a-fA-F]{32}', md5):
        raise DownloadError('--md5 should be 32 hexadecimal digits, got %r' % md5)

    target = os.path.join(dest, BATCHES_DIRNAME)
    if os.path.exists(target) and not force:
        if is_complete(target):
            _say('CIFAR-10 is already in %s: nothing to do.' % target)
            return target
        missing = [name for name in EXPECTED_FILES if not os.path.isfile(os.path.join(target, name))]
        raise DownloadError(
            '%s exists but is incomplete (missing: %s). Run again with --force to replace it.'
            % (target, ', '.join(missing)))

    os.makedirs(dest, exist_ok=True)
    part_fd, part_path = tempfile.mkstemp(prefix=ARCHIVE_NAME + '.', suffix='.part', dir=dest)
    os.close(part_fd)
    unpack_dir = None
    try:
        _say('Downloading %s' % url)
        digest = _download(url, part_path, progress)
        if md5 is not None:
            if digest != md5.lower():
                raise DownloadError(
                    'md5 mismatch for %s: expected %s, got %s. The download is damaged or '
                    'is not the CIFAR-10 archive; nothing was installed.' % (url, md5.lower(), digest))
            _say('md5 verified: %s' % digest)
        else:
            _say('md5 of the archive: %s (not verified: pass --md5 to check it)' % digest)

        unpack_dir = tempfile.mkdtemp(prefix='.cifar-10-unpack-', dir=dest)
        _say('Unpacking into %s' % dest)
        _extract(part_path, unpack_dir)
        unpacked = os.path.join(unpack_dir, BATCHES_DIRNAME)
        if not is_complete(unpacked):
            raise DownloadError(
                'the archive from %s does not hold %s/ with %s: it is not the python '
                'version of CIFAR-10' % (url, BATCHES_DIRNAME, ', '.join(EXPECTED_FILES)))
        _move_into_place(unpacked, target, unpack_dir)
    finally:
        if os.path.exists(part_path):
            os.remove(part_path)
        if unpack_dir is not None:
            shutil.rmtree(unpack_dir, ignore_errors=True)

    _say('CIFAR-10 is ready in %s' % target)
    return target


def _download(url, part_path, progress):
    """
    Copies url into part_path and computes its md5 on the way.

    Inputs:
    - url: Address of the archive
    - part_path: File to write
    - progress: If True, show the progress on stderr

    Returns:
    - digest: md5 of what was written, as 32 lowercase hex digits
    """
    hasher = hashlib.md5()
    try:
        with urllib.request.urlopen(url) as response, open(part_path, 'wb') as out:
            total = response.headers.get('Content-Length')
            bar = _Progress(int(total) if total and total.isdigit() else None, progress)
            while True:
                chunk = response.read(CHUNK_BYTES)
                if not chunk:
                    break
                out.write(chunk)
                hasher.update(chunk)
                bar.update(len(chunk))
            bar.finish()
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DownloadError('could not download %s: %s' % (url, e)) from e
    return hasher.hexdigest()


def _extract(archive, into):
    """
    Unpacks a .tar.gz archive, refusing members that would land outside
    `into` (absolute paths, `..`, links pointing out, device files).

    Inputs:
    - archive: Path of the archive
    - into: Empty folder to unpack into
    """
    try:
        with tarfile.open(archive, 'r:gz') as tar:
            if hasattr(tarfile, 'data_filter'):
                tar.extractall(into, filter='data')
            else:  # Python < 3.11.4: check the members ourselves
                tar.extractall(into, members=_safe_members(tar, into))
    except UNSAFE_MEMBER_ERRORS as e:
        raise DownloadError('refusing to unpack the archive: %s' % e) from e
    except (tarfile.TarError, OSError, EOFError, ValueError) as e:
        raise DownloadError('could not unpack the archive (%s: %s): it is truncated or corrupt'
                            % (type(e).__name__, e)) from e


def _safe_members(tar, into):
    """
    The archive's members, refusing anything but plain files and folders
    inside `into` (what tarfile's 'data' filter does on newer Pythons).

    Inputs:
    - tar: An open tarfile.TarFile
    - into: Folder the members will be unpacked into

    Returns:
    - members: List of tarfile.TarInfo
    """
    root = os.path.realpath(into)
    for member in tar.getmembers():
        where = os.path.realpath(os.path.join(root, member.name))
        if not (member.isfile() or member.isdir()) or os.path.commonpath([root, where]) != root:
            raise _UnsafeMember('%r would be extracted outside %s or is not a plain file'
                                % (member.name, into))
    return tar.getmembers()


def _move_into_place(unpacked, target, unpack_dir):
    """
    Renames the unpacked folder to target in one step. An old target (with
    force) is first moved aside into unpack_dir, so it is deleted with it,
    and moved back if the rename fails.

    Inputs:
    - unpacked: The complete, unpacked cifar-10-batches-py folder
    - target: Where it should end up
    - unpack_dir: The temporary folder beside target
    """
    old = None
    if os.path.exists(target):
        old = os.path.join(unpack_dir, 'previous-' + BATCHES_DIRNAME)
        os.rename(target, old)
    try:
        os.rename(unpacked, target)
    except BaseException as e:  # Ctrl-C included: put the old copy back first
        if old is not None:
            os.rename(old, target)
        elif isinstance(e, OSError) and is_complete(target):
            return  # another run finished first: its copy is as good as ours
        if isinstance(e, OSError):
            raise DownloadError('could not move the dataset into %s: %s' % (target, e)) from e
        raise


class _Progress:
    """Prints `12.0 / 162.6 MiB (7%)` on stderr: in place on a terminal,
    every 10% otherwise."""

    def __init__(self, total_bytes, enabled):
        self.total = total_bytes
        self.enabled = enabled
        self.done = 0
        self.on_terminal = sys.stderr.isatty()
        self.last_shown = None
        self.last_time = 0.0

    def update(self, num_bytes):
        self.done += num_bytes
        if not self.enabled:
            return
        if self.on_terminal:
            now = time.monotonic()
            if now - self.last_time >= 0.1:
                self.last_time = now
                sys.stderr.write('\r' + self._text())
                sys.stderr.flush()
        elif self.total:
            tenth = 10 * self.done // self.total
            if tenth != self.last_shown:
                self.last_shown = tenth
                sys.stderr.write(self._text() + '\n')

    def finish(self):
        if not self.enabled:
            return
        if self.on_terminal:
            sys.stderr.write('\r' + self._text() + '\n')
        elif not self.total or self.last_shown != 10:
            sys.stderr.write(self._text() + '\n')
        sys.stderr.flush()

    def _text(self):
        mib = 1024.0 * 1024.0
        if self.total:
            return '  %.1f / %.1f MiB (%d%%)' % (self.done / mib, self.total / mib,
                                                100 * self.done // self.total)
        return '  %.1f MiB' % (self.done / mib)


def _say(message):
    print(message, flush=True)


def main(argv=None):
    """
    Command line entry point.

    Inputs:
    - argv: Arguments without the program name; None means sys.argv[1:]

    Returns:
    - status: 0 on success (or when the dataset is already there), 1 on
        failure, 130 when interrupted
    """
    parser = argparse.ArgumentParser(
        description='Download the python version of CIFAR-10 and unpack it into '
                    'DEST/cifar-10-batches-py, where utils/data_utils.py finds it. '
                    'Does nothing if it is already there. A failed or interrupted run '
                    'leaves nothing half-written behind.',
        epilog='Example, offline: python utils/download_cifar10.py '
               '--url file:///home/me/cifar-10-python.tar.gz')
    parser.add_argument(
        '--dest', default=DEFAULT_DEST,
        help='folder to create cifar-10-batches-py in (default: %(default)s). If you pick '
             'another one, pass cifar10_dir=DEST/cifar-10-batches-py to get_CIFAR10_data '
             'or set CIFAR10_DIR to it.')
    parser.add_argument(
        '--url', default=DEFAULT_URL,
        help='where to get cifar-10-python.tar.gz: an http(s):// or file:// URL '
             '(default: %(default)s)')
    parser.add_argument(
        '--md5', default=None,
        help='expected md5 of the archive; checked always when given. Without it the '
             'official archive\'s md5 is checked when --url is the default, and nothing '
             'is checked for another URL.')
    parser.add_argument(
        '--force', action='store_true',
        help='download again and replace an existing cifar-10-batches-py folder')
    parser.add_argument(
        '--quiet', action='store_true', help='do not show the download progress')
    args = parser.parse_args(argv)

    try:
        download_cifar10(args.dest, url=args.url, md5=args.md5, force=args.force,
                         progress=not args.quiet)
    except DownloadError as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('\nInterrupted: nothing was left behind.', file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
