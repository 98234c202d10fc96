"""Writing a pack: a staging folder renamed into place when whole, the mean image and PCA
statistics, the channel count, and ``meta.json``.

A pack is written under a temporary name beside its destination (``.NAME.partial``) and renamed
to ``NAME`` only once every file and ``meta.json`` are written, so an interrupted or failed pack
leaves nothing at ``NAME``: the next run packs afresh instead of finding a damaged pack. A
staging folder left by a killed process is removed by the next pack of the same destination.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field

import numpy as np

from ..files import write_atomic
from .pack_reader import FORMAT, PACK_FILES, data_checksum, file_checksum, meta_checksum

SHOWN_PATHS = 5           # example paths kept in events and meta.json


def staging_paths(dst: str) -> dict[str, str]:
    """The sibling names a pack of ``dst`` uses: its staging folder, the folder an old pack is
    moved to while it is replaced, and the lock file."""
    parent, name = os.path.split(os.path.abspath(dst))
    return {kind: os.path.join(parent, f".{name}.{kind}") for kind in ("partial", "old", "lock")}


class Staging:
    """``with Staging(dst) as tmp: …write into tmp…; commit()`` — anything but a commit
    removes the staging folder."""

    def __init__(self, dst: str):
        self.dst = os.path.abspath(dst)
        names = staging_paths(self.dst)
        self.tmp, self.old = names["partial"], names["old"]
        self.committed = False

    def __enter__(self) -> Staging:
        for leftover in (self.tmp, self.old):           # from a process that was killed
            _remove(leftover)
        os.makedirs(self.tmp)
        return self

    def commit(self) -> None:
        """Put the staging folder at ``dst``, moving a previous pack there out of the way."""
        if os.path.lexists(self.dst):
            os.rename(self.dst, self.old)
        os.rename(self.tmp, self.dst)
        self.committed = True
        _remove(self.old)

    def __exit__(self, *exc) -> None:
        if not self.committed:
            _remove(self.tmp)


def _remove(path: str) -> None:
    """Remove a folder tree, or a link (a ``dst`` that was a symlink to a folder)."""
    if os.path.islink(path):
        os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def check_destination(dst: str) -> None:
    """Refuse a destination that exists and holds anything but a pack's files: replacing it
    would delete the user's files."""
    from ..errors import NetdefError

    if not os.path.lexists(dst):
        return
    if not os.path.isdir(dst):
        raise NetdefError.at(dst, "the pack's destination exists and is not a folder")
    try:
        foreign = sorted(n for n in os.listdir(dst) if n not in PACK_FILES
                         and not n.startswith(("meta.json.tmp", ".meta.json.")) and n != ".lock")
    except OSError as exc:
        raise NetdefError.at(dst, f"cannot list folder ({exc.strerror})") from None
    if foreign:
        raise NetdefError.at(dst, f"the folder holds files that are not a netdef pack's "
                             f"({', '.join(foreign[:4])}{' …' if len(foreign) > 4 else ''}); "
                             f"give a new or empty folder as the pack's destination")


@contextlib.contextmanager
def locked(dst: str):
    """An exclusive lock on ``dst``'s pack so concurrent ranks pack once and the others wait."""
    try:
        import fcntl
    except ImportError:                           # not POSIX: no cross-process lock
        yield
        return
    path = staging_paths(dst)["lock"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass
class Stats:
    """Running sums over training images of C channels: the mean image and the pixel
    covariance (pixels scaled to [0, 1] for the covariance)."""

    image_sum: np.ndarray      # float64 (C, S, S), 0..255
    pixel_sum: np.ndarray      # float64 (C,)
    outer_sum: np.ndarray      # float64 (C, C)
    images: int = 0

    @classmethod
    def zeros(cls, channels: int, size: int) -> Stats:
        return cls(np.zeros((channels, size, size)), np.zeros(channels),
                   np.zeros((channels, channels)))

    def add(self, other: Stats) -> None:
        self.image_sum += other.image_sum
        self.pixel_sum += other.pixel_sum
        self.outer_sum += other.outer_sum
        self.images += other.images

    def add_images(self, images: np.ndarray) -> None:
        """Add uint8 (N, C, S, S) images (in slices of about 2M pixels, so the float64
        temporaries stay small)."""
        self.image_sum += images.sum(axis=0, dtype=np.float64)
        step = max(1, (1 << 21) // images[0, 0].size)
        for start in range(0, images.shape[0], step):
            part = images[start:start + step]
            px = part.transpose(1, 0, 2, 3).reshape(part.shape[1], -1).astype(np.float64)
            px /= 255.0                                                 # (C, n·S·S)
            self.pixel_sum += px.sum(axis=1)
            self.outer_sum += px @ px.T
        self.images += images.shape[0]

    def first_channel(self) -> Stats:
        """The sums of channel 0 alone (for a grey set packed from equal R, G, B)."""
        return Stats(self.image_sum[:1].copy(), self.pixel_sum[:1].copy(),
                     self.outer_sum[:1, :1].copy(), self.images)


def finish_stats(stats: Stats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean image float32 (C, S, S) and the pixel PCA: eigenvalues (C,) descending and
    eigenvectors as the columns of (C, C), of the covariance of training pixels in [0, 1]."""
    n_img = max(stats.images, 1)
    n_px = n_img * stats.image_sum[0].size
    mean = (stats.image_sum / n_img).astype(np.float32)
    mu = stats.pixel_sum / n_px
    cov = stats.outer_sum / n_px - np.outer(mu, mu)
    eigval, eigvec = np.linalg.eigh((cov + cov.T) / 2)         # ascending
    order = np.argsort(eigval)[::-1]
    eigval = np.clip(eigval[order], 0.0, None)
    eigvec = eigvec[:, order]
    eigvec = eigvec * np.where(eigvec.sum(axis=0) < 0, -1.0, 1.0)  # a fixed sign per vector
    return mean, eigval, eigvec


def keep_first_channel(path: str, count: int, size: int, chunk: int = 1024) -> None:
    """Rewrite a uint8 (N, 3, S, S) file as (N, 1, S, S), keeping channel 0."""
    tmp = path + ".grey"
    src = np.memmap(path, np.uint8, "r", shape=(count, 3, size, size)) if count else None
    with open(tmp, "wb") as out:
        for start in range(0, count, chunk):
            out.write(np.ascontiguousarray(src[start:start + chunk, :1]).tobytes())
    del src
    os.replace(tmp, path)


@dataclass(kw_only=True)
class PackSummary:
    """What a packer wrote into a staging folder, for ``meta.json``."""

    counts: dict[str, int]
    channels: int
    channels_reason: str
    mean: np.ndarray
    eigval: np.ndarray
    eigvec: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def write_meta(folder: str, packed: PackSummary, *, source: str, layout: str, fingerprint: str,
               options: dict, classes: list[str], class_names: list[str]) -> dict:
    """Write ``mean.npy`` and then ``meta.json`` (atomically): everything needed to trust and
    read the pack. Returns the meta."""
    np.save(os.path.join(folder, "mean.npy"), packed.mean)
    files = {}
    for split in packed.counts:
        name = f"{split}.u8"
        files[name] = {"bytes": os.path.getsize(os.path.join(folder, name)),
                       "sample": data_checksum(os.path.join(folder, name))}
    for name in [f"{s}_labels.npy" for s in packed.counts] + ["mean.npy"]:
        files[name] = {"bytes": os.path.getsize(os.path.join(folder, name)),
                       "blake2b": file_checksum(os.path.join(folder, name))}
    meta = {
        "format": FORMAT, "image_size": options["image_size"], "channels": packed.channels,
        "channels_reason": packed.channels_reason, "source": source, "layout": layout,
        "seed": options["seed"], "options": options, "fingerprint": fingerprint,
        "classes": classes, "class_names": class_names, "counts": packed.counts,
        "eigval": packed.eigval.tolist(), "eigvec": packed.eigvec.tolist(),
        "skipped": {"count": len(packed.skipped),
                    "paths": [p for p, _ in packed.skipped[:SHOWN_PATHS]]},
        "ignored": {"count": len(packed.ignored), "paths": packed.ignored[:SHOWN_PATHS]},
        "files": files,
    }
    return replace_meta(folder, meta)


def replace_meta(folder: str, meta: dict) -> dict:
    """Write ``meta`` with a fresh checksum to ``folder/meta.json`` atomically."""
    meta = dict(meta)
    meta["checksum"] = meta_checksum(meta)
    write_atomic(os.path.join(folder, "meta.json"), json.dumps(meta, indent=1),
                 what="the pack's meta.json")
    return meta
