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
import re
import zipfile
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
            raise NetdefError.at(path, f"not a netdef checkpoint (no '{FORMAT}' marker; was "
                                 "it written by another tool?)")
        if data.get("version") != VERSION:
            raise NetdefError.at(path, f"checkpoint version {data.get('version')!r}; this "
                                 f"netdef reads version {VERSION}")
        wrong = [problem for f in fields(cls) if (problem := _check(f.name, data))]
        if wrong:
            raise NetdefError.at(path, f"damaged checkpoint: {'; '.join(wrong)}")
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


def checkpoint_path(path: str | Path) -> Path:
    """The checkpoint a user named: a file, or a run folder's ``ckpt.pt`` (so ``--model
    runs/quickstart`` works as show-cost's folder does). Raises NetdefError when neither."""
    path = Path(path)
    if path.is_dir():
        if not (path / "ckpt.pt").is_file():
            raise NetdefError.at(path, "a folder with no checkpoint (ckpt.pt) in it; give a "
                                 "run folder made by 'netdef train' or a checkpoint file")
        return path / "ckpt.pt"
    if not path.is_file():
        raise NetdefError.at(path, "no such checkpoint file or run folder")
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a netdef checkpoint (a file or a run folder's ``ckpt.pt``) safely; a missing,
    truncated, foreign, code-carrying or damaged file raises NetdefError saying which, in
    netdef's words (torch's own texts are long advice, not causes)."""
    path = checkpoint_path(path)
    not_torch = _not_a_torch_file(path)
    if not_torch:
        raise NetdefError.at(path, f"not a netdef checkpoint ({not_torch})")
    damaged = _damaged_member(path)  # torch.load checks no CRC: changed tensor bytes load
    if damaged:
        raise NetdefError.at(path, f"not a readable checkpoint: damaged file ({damaged} fails "
                             f"its CRC check: its bytes changed after it was written)")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise NetdefError.at(path, _unpickling_error(path, exc)) from None
    except Exception as exc:  # torch raises many types for a damaged file (RuntimeError,
        # EOFError, KeyError from its unpickler, BadZipFile…); the header was torch's
        raise NetdefError.at(path, f"not a readable checkpoint: truncated or damaged file "
                             f"({_damage(path, exc)})") from None
    return Checkpoint.from_dict(data, path)


# torch.save writes a zip archive holding ``<name>/data.pkl`` (torch >= 1.6), or, in the legacy
# format, a pickle that begins with torch.serialization.MAGIC_NUMBER pickled at protocol 2.
_ZIP_HEAD = b"PK\x03\x04"
_LEGACY_HEAD = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]  # without the STOP


def _not_a_torch_file(path: Path) -> str | None:
    """Why ``path`` cannot be a torch.save file, judged from its own bytes, or None."""
    try:
        with path.open("rb") as f:
            head = f.read(len(_LEGACY_HEAD))
    except OSError as exc:
        raise NetdefError.at(path, f"cannot read the checkpoint ({exc.strerror})") from None
    if not head:
        return "an empty file"
    if head == _LEGACY_HEAD:
        return None
    if not head.startswith(_ZIP_HEAD):
        return "not a PyTorch file"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # a torn archive: torch.load says so, reported as damage below
    if not any(name.endswith("/data.pkl") for name in names):
        return "a zip archive but not a PyTorch file: it holds no data.pkl"
    return None


_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")
_REASON = re.compile(r"WeightsUnpickler error:\s*(.+)")


def _unpickling_error(path: Path, exc: pickle.UnpicklingError) -> str:
    """What a pickle torch's weights-only loader would not read means (the archive's CRCs
    were checked before): a refusal naming the global (class or function) it references when
    torch's text gives it, else torch's one-line reason."""
    found = _GLOBAL.search(str(exc))
    if found:
        return (f"refused: the file references '{found.group(1)}' (it could run code "
                f"when loaded); netdef loads checkpoints with weights_only=True")
    reason = _REASON.search(str(exc))
    reason = f" ({reason.group(1).strip()})" if reason and len(reason.group(1)) < 80 else ""
    return (f"refused: the file holds Python objects other than tensors and plain "
            f"data{reason}; netdef loads checkpoints with weights_only=True, which runs no code")


def _damaged_member(path: Path) -> str | None:
    """The first member of a zip checkpoint whose bytes fail their CRC, or None (also for a
    legacy, non-zip file, or an archive cut short, which torch.load reports). One more read of
    the file: 0.16 s for 480 MB here, against torch.load's 0.26 s."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None


def _damage(path: Path, exc: BaseException) -> str:
    """What torch's failure says about the file, in words: a zip archive whose index (at its
    end) is missing was cut short; else :func:`_short`."""
    if "central directory" in str(exc) or not _archive_index(path):
        size = path.stat().st_size
        return (f"its {size:,} byte{'s' * (size != 1)} end before the archive's index: the "
                f"file was cut short, as by a copy or a save that did not finish")
    return _short(exc)


def _archive_index(path: Path) -> bool:
    """Whether the zip archive's index (its end) can be read; True for a legacy file."""
    try:
        with zipfile.ZipFile(path):
            return True
    except zipfile.BadZipFile:
        with path.open("rb") as f:
            return not f.read(len(_ZIP_HEAD)).startswith(_ZIP_HEAD)
    except (OSError, ValueError, EOFError):
        return False


def _short(exc: BaseException) -> str:
    """The exception's text when it is one short whole line that says something, else its type
    (a KeyError's text is a bare key, torch's are long paragraphs)."""
    text = str(exc).strip()
    if isinstance(exc, KeyError) or not text or "\n" in text or len(text) > 80:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}"
