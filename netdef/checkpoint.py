"""The checkpoint, declared once (docs/design.md §5): :class:`Checkpoint`, read and written
only through :func:`read_checkpoint` and :func:`write_checkpoint`.
A stage of its own, between data and train / evaluate, since both of them read it.

A checkpoint loads with ``torch.load(weights_only=True)``, so a file carrying pickled code is
refused before anything executes; what loads is then checked field by field, since the file
comes from outside. It is written atomically (:func:`netdef.files.write_atomic`): a crash or a
full disk never leaves a torn file, and the previous checkpoint survives a failed save.

On disk it is a dict: ``{"format": FORMAT, "version": VERSION, <the fields below>}``. Version 1
files written before grey data carry no ``channels`` (they were RGB; their mean image tells),
and those written before keyed randomness carry generator states (``rng``), ignored now.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any

import torch

from .errors import NetdefError
from .files import write_atomic

FORMAT = "netdef-checkpoint"
VERSION = 1


@dataclass(kw_only=True)
class Checkpoint:
    """Everything a resume, ``netdef eval`` or ``show-filters`` needs: tensors and plain data.

    Images are ``(C, S, S)`` at the packed ``image-size`` S; the net reads ``input_size`` crops.
    """

    definition: str                       # the layer definition file's text, as trained
    params: str = ""                      # the layer-params file's text ("" when none)
    definition_path: str | None = None    # where they were read from (for messages)
    params_path: str | None = None
    experiment: dict[str, Any] = field(default_factory=dict)  # the resolved experiment keys
    input_size: int                       # the side of the (N, C, s, s) crops the net reads
    classes: list[str]                    # class names, in label order
    channels: int | None = None           # 1 (grey) or 3 (RGB); None: from ``mean``, else 3
    mean: torch.Tensor | None = None      # float32 (C, S, S) training mean image, 0..255
    eigval: torch.Tensor | None = None    # (C,) pixel PCA eigenvalues (pixels in [0, 1])
    eigvec: torch.Tensor | None = None    # (C, C) eigenvectors as columns
    weights: dict[str, torch.Tensor]      # the net's state_dict, on the CPU
    momentum: dict[str, torch.Tensor] = field(default_factory=dict)  # by parameter name
    rates: dict[str, float] = field(default_factory=dict)  # current eps by parameter name
    state: dict[str, Any] = field(default_factory=dict)    # TrainState.to_dict()
    versions: dict[str, str] = field(default_factory=dict)  # netdef, torch, numpy, python

    @property
    def image_channels(self) -> int:
        """The image channels the net reads: recorded, else the mean image's, else 3."""
        if self.channels is not None:
            return self.channels
        return int(self.mean.shape[0]) if self.mean is not None and self.mean.dim() == 3 else 3

    def to_dict(self) -> dict[str, Any]:
        """The on-disk dict (tensors and plain data only)."""
        return {"format": FORMAT, "version": VERSION,
                **{f.name: getattr(self, f.name) for f in fields(self)}}

    @classmethod
    def from_dict(cls, data: Any, path: str | Path) -> Checkpoint:
        """The record from a loaded dict, every field checked; NetdefError naming ``path``
        says what is missing or of the wrong type."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise NetdefError(f"{path}: not a netdef checkpoint (no '{FORMAT}' marker; was it "
                              "written by another tool?)")
        if data.get("version") != VERSION:
            raise NetdefError(f"{path}: checkpoint version {data.get('version')!r}; this netdef "
                              f"reads version {VERSION}")
        wrong = [problem for f in fields(cls) if (problem := _check(f.name, data))]
        if wrong:
            raise NetdefError(f"{path}: damaged checkpoint: {'; '.join(wrong)}")
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


# Every version-1 writer wrote every field but ``channels`` (added with grey data); the
# defaults above are for building a record, not for reading one.
_OPTIONAL = ("channels",)


def _tensor_dict(x) -> bool:
    return isinstance(x, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                       for k, v in x.items())


def _str_dict(x) -> bool:
    return isinstance(x, dict) and all(isinstance(k, str) for k in x)


# Each field's check: what it must be, and the test.
_CHECKS = {
    "definition": ("text", lambda x: isinstance(x, str)),
    "params": ("text", lambda x: isinstance(x, str)),
    "definition_path": ("a path or None", lambda x: x is None or isinstance(x, str)),
    "params_path": ("a path or None", lambda x: x is None or isinstance(x, str)),
    "experiment": ("a dict of keys", _str_dict),
    "input_size": ("a positive integer", lambda x: type(x) is int and x > 0),
    "classes": ("a list of names", lambda x: isinstance(x, list)
                and all(isinstance(c, str) for c in x)),
    "channels": ("1, 3 or None", lambda x: x is None or x in (1, 3)),
    "mean": ("a (C, S, S) tensor or None", lambda x: x is None
             or (isinstance(x, torch.Tensor) and x.dim() == 3)),
    "eigval": ("a (C,) tensor or None", lambda x: x is None
               or (isinstance(x, torch.Tensor) and x.dim() == 1)),
    "eigvec": ("a (C, C) tensor or None", lambda x: x is None
               or (isinstance(x, torch.Tensor) and x.dim() == 2)),
    "weights": ("tensors by name", _tensor_dict),
    "momentum": ("tensors by name", _tensor_dict),
    "rates": ("numbers by name", lambda x: _str_dict(x)
              and all(isinstance(v, (int, float)) for v in x.values())),
    "state": ("a dict of progress", _str_dict),
    "versions": ("a dict of versions", _str_dict),
}


def _check(name: str, data: dict) -> str | None:
    if name not in data:
        return None if name in _OPTIONAL else f"no '{name}'"
    what, ok = _CHECKS[name]
    if ok(data[name]):
        return None
    return f"'{name}' should be {what} (got {type(data[name]).__name__})"


def write_checkpoint(path: str | Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` atomically; the old file stays whole if anything
    fails. Raises NetdefError naming the path on an OS error (full disk…)."""
    data = checkpoint.to_dict()
    write_atomic(path, lambda f: _write(data, f), what="the checkpoint")


def _write(data: dict, f: IO[bytes]) -> None:
    """The one place checkpoint bytes go to disk (tests replace it to simulate a full disk)."""
    torch.save(data, f)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a netdef checkpoint safely; a missing, truncated, foreign, code-carrying or
    damaged file raises NetdefError saying which."""
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
    return Checkpoint.from_dict(data, path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
