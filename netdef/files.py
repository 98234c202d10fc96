"""Writing a file atomically: the one temporary-file-then-rename writer every stage uses.

The bytes go to a temporary file beside the target (same folder, so the rename stays on one
filesystem), are flushed and fsync'ed, then ``os.replace`` puts the file in place: a crash or a
full disk never leaves a torn file, and the previous file survives a failed write.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .errors import NetdefError


def write_atomic(path: str | os.PathLike, content: str | bytes | Callable[[IO[bytes]], None],
                 *, what: str = "the file") -> Path:
    """Write ``content`` (text as UTF-8, bytes, or a function writing to a binary file) to
    ``path`` atomically; returns the path. An OS error (full disk, no permission…) raises
    NetdefError naming the path and ``what`` was being written, and the old file is kept."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _failed(path, what, exc) from None
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; these are ordinary files
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode("utf-8") if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise _failed(path, what, exc) from None
    except BaseException:
        _remove(tmp)
        raise
    return path


def _failed(path: Path, what: str, exc: OSError) -> NetdefError:
    why = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
    return NetdefError.at(path, f"could not save {what} ({why}); the previous file, if any, "
                          "is unchanged")


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass
