"""Atomic file writes: a crash never leaves a half-written file under the final name.

Every writer in the project goes through here: write to a temp name in the same folder, flush
and fsync, then `os.replace` onto the final name (atomic on POSIX within one filesystem). A full
disk (or quota, or file-size limit) is reported naming the file that could not be written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from .jobs import ExpectedError

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class DiskFullError(ExpectedError, OSError):
    """No room to write a file (full disk, quota, file-size limit); the message names the file."""


def disk_full(error: OSError, path: str | os.PathLike) -> DiskFullError | None:
    """A DiskFullError naming `path` when `error` says there is no room to write, else None."""
    if error.errno not in _DISK_FULL or isinstance(error, DiskFullError):
        return None
    return DiskFullError(
        error.errno, f"{error.strerror}: cannot write {os.fspath(path)}; free some space (or move it) and rerun"
    )

# mkstemp creates files readable by their owner only; results must get the usual permissions
# (0666 less the umask), like any file `open()` creates, e.g. for a shared cluster filesystem.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it is renamed onto `path`, on error removed.

    `suffix` defaults to the final name's suffix, so libraries that pick a format from the
    extension (soundfile, numpy, matplotlib) still see the right one.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=f".tmp{path.suffix if suffix is None else suffix}",
            dir=path.parent,
        )
    except OSError as error:
        raise disk_full(error, path) or error
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        full = disk_full(error, path)
        if full is None:
            raise
        raise full from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """`open()` that writes to a temp file and renames it onto `path` only if the block succeeds."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as handle:
            yield handle


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
