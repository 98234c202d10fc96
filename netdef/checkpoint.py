"""Checkpoints: one file of tensors and plain data, written atomically (docs/design.md §5).
A stage of its own, between data and train / evaluate, since both of them read it.

A checkpoint loads with ``torch.load(weights_only=True)``, so a file carrying pickled code is
refused before anything executes. It is written to a temporary file beside the target, flushed
and fsync'ed, then renamed over it: a crash or a full disk never leaves a torn file, and the
previous checkpoint survives a failed save.
"""

from __future__ import annotations

import errno
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import NetdefError

FORMAT = "netdef-checkpoint"
VERSION = 1


def write_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (tensors and plain data) to ``path`` atomically; the old file stays
    whole if anything fails. Raises NetdefError naming the path on an OS error (full disk…)."""
    path = Path(path)
    data = {"format": FORMAT, "version": VERSION, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; a checkpoint is an ordinary file
        with os.fdopen(fd, "wb") as f:
            _write(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        why = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
        raise NetdefError(f"{path}: could not save the checkpoint ({why}); the previous "
                          "checkpoint, if any, is unchanged") from None
    except BaseException:
        _remove(tmp)
        raise


def _write(data: dict, f) -> None:
    """The one place bytes go to disk (tests replace it to simulate a full disk)."""
    torch.save(data, f)


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a netdef checkpoint safely; a missing, truncated, foreign or code-carrying file
    raises NetdefError saying which."""
    path = Path(path)
    if not path.is_file():
        raise NetdefError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise NetdefError(f"{path}: refused: the file holds Python objects other than tensors "
                          f"and plain data (it could run code when loaded); netdef loads "
                          f"checkpoints with weights_only=True ({_first_line(exc)})") from None
    except Exception as exc:  # torch raises many types for a damaged file (RuntimeError,
        # EOFError, KeyError from its unpickler on non-zip files, BadZipFile…)
        raise NetdefError(f"{path}: not a readable checkpoint (truncated or corrupt file: "
                          f"{_first_line(exc)})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NetdefError(f"{path}: not a netdef checkpoint (no '{FORMAT}' marker; was it "
                          "written by another tool?)")
    if data.get("version") != VERSION:
        raise NetdefError(f"{path}: checkpoint version {data.get('version')!r}; this netdef "
                          f"reads version {VERSION}")
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
