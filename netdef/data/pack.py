"""Packing an image folder into the training cache (DESIGN.md §3).

A packed cache is a folder:

    train.u8, val.u8          uint8 (N, 3, S, S) records, raw (numpy memmap layout), one per split
    train_labels.npy, val_labels.npy   int64 (N,)
    mean.npy                  float32 (3, S, S): the training mean image, in 0..255
    meta.json                 classes, counts, source fingerprint, PCA, file sizes and checksums;
                              written last, so a half-built cache has none and is rebuilt

Decoding runs across processes; each worker writes its images straight into the split's file at
their listed position and returns the statistics of its chunk (sum image, pixel sum and pixel
outer-product sum in [0, 1]) so the mean and the RGB covariance cost no second pass.
Images that fail to decode are skipped, counted and reported; the files are then compacted.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np

from ..errors import NetdefError
from .decode import BadImage, load_image
from .folders import Listing
from .packed import FORMAT, SPLITS, data_checksum, file_checksum, meta_checksum

MAX_BAD_FRACTION = 0.01   # more than this share of undecodable images stops the run
SHOWN_PATHS = 5           # bad paths quoted in messages and events
CHUNK = 32                # images per worker task


@dataclass
class _Stats:
    """Running sums over training images: the mean image and the pixel covariance."""

    image_sum: np.ndarray      # float64 (3, S, S), 0..255
    pixel_sum: np.ndarray      # float64 (3,), pixels in [0, 1]
    outer_sum: np.ndarray      # float64 (3, 3)
    images: int = 0

    @classmethod
    def zeros(cls, size: int) -> "_Stats":
        return cls(np.zeros((3, size, size)), np.zeros(3), np.zeros((3, 3)))

    def add(self, other: "_Stats") -> None:
        self.image_sum += other.image_sum
        self.pixel_sum += other.pixel_sum
        self.outer_sum += other.outer_sum
        self.images += other.images


def pack_listing(listing: Listing, dst: str, image_size: int, workers: int | None = None,
                 on_event=None, max_bad_fraction: float = MAX_BAD_FRACTION) -> str:
    """Decode every listed image into a packed cache at ``dst``; return ``dst``."""
    emit = on_event or (lambda kind, **info: None)
    os.makedirs(dst, exist_ok=True)
    _remove(os.path.join(dst, "meta.json"))
    splits = {"train": listing.train, "val": listing.val}
    total = sum(len(v) for v in splits.values())
    emit("pack_start", total=total, dst=dst, source=listing.root, image_size=image_size)
    rec = 3 * image_size * image_size
    for split, items in splits.items():
        with open(os.path.join(dst, f"{split}.u8"), "wb") as f:
            f.truncate(len(items) * rec)
    tasks = [(split, start, [p for p, _ in items[start:start + CHUNK]], dst, image_size)
             for split, items in splits.items() for start in range(0, len(items), CHUNK)]
    good, bad, stats = _run(tasks, workers, total, emit, image_size)
    _check_bad(bad, total, max_bad_fraction, listing, emit)
    counts = {}
    for split, items in splits.items():
        keep = sorted(good[split])
        if not keep:
            raise NetdefError(f"{listing.root}: no readable images in the '{split}' split")
        _compact(os.path.join(dst, f"{split}.u8"), keep, rec)
        labels = np.array([items[i][1] for i in keep], dtype=np.int64)
        np.save(os.path.join(dst, f"{split}_labels.npy"), labels)
        counts[split] = len(keep)
    mean, eigval, eigvec = finish_stats(stats)
    np.save(os.path.join(dst, "mean.npy"), mean)
    write_meta(dst, listing, image_size, counts, eigval, eigvec, bad)
    emit("pack_done", dst=dst, train=counts["train"], val=counts["val"], skipped=len(bad))
    return dst


def _run(tasks: list, workers: int | None, total: int, emit, size: int):
    """Run the decode tasks inline or in a process pool; gather indices, failures, stats."""
    good = {s: [] for s in SPLITS}
    bad: list[tuple[str, str]] = []
    stats = _Stats.zeros(size)
    workers = default_workers() if workers is None else max(1, workers)
    done = 0
    results = map(_pack_chunk, tasks) if workers == 1 or len(tasks) <= 1 else None
    pool = None
    if results is None:
        import multiprocessing as mp

        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        pool = mp.get_context(method).Pool(min(workers, len(tasks)))
        results = pool.imap_unordered(_pack_chunk, tasks)
    try:
        last = 0.0
        for split, indices, failures, chunk_stats in results:
            good[split] += indices
            bad += failures
            if chunk_stats is not None:
                stats.add(chunk_stats)
            done += len(indices) + len(failures)
            if time.monotonic() - last > 0.1 or done == total:
                last = time.monotonic()
                emit("pack_progress", done=done, total=total)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return good, sorted(bad), stats


def default_workers() -> int:
    """Decode processes: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _pack_chunk(task):
    """Worker: decode a chunk, write each good image at its slot, return the chunk's stats."""
    split, start, paths, dst, size = task
    rec = 3 * size * size
    indices, failures = [], []
    stats = _Stats.zeros(size) if split == "train" else None
    fd = os.open(os.path.join(dst, f"{split}.u8"), os.O_WRONLY)
    try:
        for k, path in enumerate(paths):
            try:
                img = load_image(path, size)                  # uint8 (3, S, S)
            except BadImage as exc:
                failures.append((path, str(exc)))
                continue
            os.pwrite(fd, img.tobytes(), (start + k) * rec)
            indices.append(start + k)
            if stats is not None:
                _accumulate(stats, img)
    finally:
        os.close(fd)
    return split, indices, failures, stats


def _accumulate(stats: _Stats, img: np.ndarray) -> None:
    """Add one uint8 (3, S, S) image to the sums (pixels scaled to [0, 1] for the covariance)."""
    stats.image_sum += img
    px = img.reshape(3, -1).astype(np.float64) / 255.0       # (3, S*S)
    stats.pixel_sum += px.sum(axis=1)
    stats.outer_sum += px @ px.T
    stats.images += 1


def finish_stats(stats: _Stats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean image float32 (3, S, S) and the RGB PCA: eigenvalues (3,) descending and
    eigenvectors as the columns of (3, 3), of the covariance of training pixels in [0, 1]."""
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


def _check_bad(bad: list[tuple[str, str]], total: int, max_fraction: float, listing: Listing,
               emit) -> None:
    """Report skipped images; stop when more than ``max_fraction`` of them are bad."""
    if not bad:
        return
    shown = [f"{p}: {why}" for p, why in bad[:SHOWN_PATHS]]
    emit("skipped", paths=shown, count=len(bad), total=total)
    if len(bad) > max_fraction * total:
        more = f"\n  … and {len(bad) - SHOWN_PATHS} more" if len(bad) > SHOWN_PATHS else ""
        raise NetdefError(f"{listing.root}: {len(bad)} of {total} images are unreadable "
                          f"({len(bad) / total:.1%}, more than the {max_fraction:.0%} allowed):\n  "
                          + "\n  ".join(shown) + more)


def _compact(path: str, keep: list[int], rec: int) -> None:
    """Move the kept records to the front, in order, and cut the file to their length."""
    fd = os.open(path, os.O_RDWR)
    try:
        for pos, idx in enumerate(keep):
            if pos != idx:                         # pos < idx: moving forward never overwrites
                os.pwrite(fd, os.pread(fd, rec, idx * rec), pos * rec)
        os.ftruncate(fd, len(keep) * rec)
    finally:
        os.close(fd)


def write_meta(dst: str, listing: Listing, image_size: int, counts: dict[str, int],
               eigval: np.ndarray, eigvec: np.ndarray, bad: list[tuple[str, str]]) -> dict:
    """Write ``meta.json`` (last, atomically): everything needed to trust and read the cache."""
    files = {}
    for name in [f"{s}.u8" for s in SPLITS]:
        files[name] = {"bytes": os.path.getsize(os.path.join(dst, name)),
                       "sample": data_checksum(os.path.join(dst, name))}
    for name in [f"{s}_labels.npy" for s in SPLITS] + ["mean.npy"]:
        files[name] = {"bytes": os.path.getsize(os.path.join(dst, name)),
                       "blake2b": file_checksum(os.path.join(dst, name))}
    meta = {
        "format": FORMAT, "image_size": image_size, "source": listing.root,
        "layout": listing.layout, "seed": listing.seed, "fingerprint": listing.fingerprint(image_size),
        "classes": listing.classes, "class_names": listing.class_names,
        "counts": counts, "eigval": eigval.tolist(), "eigvec": eigvec.tolist(),
        "skipped": {"count": len(bad), "paths": [p for p, _ in bad[:SHOWN_PATHS]]},
        "ignored": {"count": len(listing.ignored), "paths": listing.ignored[:SHOWN_PATHS]},
        "files": files,
    }
    meta["checksum"] = meta_checksum(meta)
    tmp = os.path.join(dst, f"meta.json.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(dst, "meta.json"))
    return meta


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
