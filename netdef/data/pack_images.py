"""Packing an image folder's listing into a staging folder (see :mod:`netdef.data.writer`).

Decoding runs across processes; each worker writes its images straight into the split's file at
their listed position and returns the statistics of its chunk (sum image, pixel sum and pixel
outer-product sum in [0, 1]) so the mean and the pixel covariance cost no second pass. Images
that fail to decode are skipped, counted and reported — or, past the ``max-bad`` limit, stop
the pack with one error naming them; the files are then compacted.

Channels: ``channels = 1`` or ``3`` decodes every image so; ``auto`` decodes RGB and, when every
image turns out grey (equal red, green and blue everywhere: grey modes, grey palettes, RGB files
holding grey), keeps one channel.
"""

from __future__ import annotations

import os
import time

import numpy as np

from ..errors import NetdefError
from .decode import BadImage, is_gray, load_image
from .events import FilesIgnored, ImagesSkipped, PackProgress, PackStarted
from .folders import Listing
from .options import DataOptions
from .writer import SHOWN_PATHS, PackSummary, Stats, finish_stats, keep_first_channel

CHUNK = 32                # images per worker task


def pack_listing(listing: Listing, folder: str, options: DataOptions, dst: str,
                 workers: int | None = None, emit=None) -> PackSummary:
    """Decode every listed image into ``folder`` (a staging folder); the result for meta.json.
    Raises NetdefError when more images fail to decode than ``options.max_bad`` allows."""
    emit = emit or (lambda event: None)
    splits = listing.splits
    total = sum(len(v) for v in splits.values())
    size = options.image_size
    decode_c = 1 if options.channels == 1 else 3
    emit(PackStarted(source=listing.root, dst=dst, total=total, image_size=size,
                     layout=listing.layout))
    if listing.ignored:
        emit(FilesIgnored(count=len(listing.ignored),
                          examples=tuple(listing.ignored[:SHOWN_PATHS])))
    rec = decode_c * size * size
    for split, items in splits.items():
        with open(os.path.join(folder, f"{split}.u8"), "wb") as f:
            f.truncate(len(items) * rec)
    tasks = [(split, start, [p for p, _ in items[start:start + CHUNK]], folder, size, decode_c)
             for split, items in splits.items() for start in range(0, len(items), CHUNK)]
    good, bad, stats, gray = _run(tasks, workers, total, emit, size, decode_c)
    check_bad(bad, total, options, listing.root, emit)
    counts = {}
    for split, items in splits.items():
        keep = sorted(good[split])
        if not keep:
            raise NetdefError.at(listing.root, f"no readable images in the '{split}' split")
        _compact(os.path.join(folder, f"{split}.u8"), keep, rec)
        labels = np.array([items[i][1] for i in keep], dtype=np.int64)
        np.save(os.path.join(folder, f"{split}_labels.npy"), labels)
        counts[split] = len(keep)
    channels, reason = decode_c, f"set by channels = {options.channels}"
    if options.channels == "auto":
        channels = 1 if gray else 3
        reason = "every image is grayscale" if gray else "the images are in colour"
    if channels == 1 and decode_c == 3:
        for split in counts:
            keep_first_channel(os.path.join(folder, f"{split}.u8"), counts[split], size)
        stats = stats.first_channel()
    mean, eigval, eigvec = finish_stats(stats)
    return PackSummary(counts=counts, channels=channels, channels_reason=reason, mean=mean,
                  eigval=eigval, eigvec=eigvec, skipped=bad, ignored=listing.ignored)


def _run(tasks: list, workers: int | None, total: int, emit, size: int, channels: int):
    """Run the decode tasks inline or in a process pool; gather indices, failures, stats and
    whether every decoded image is grey."""
    good: dict[str, list[int]] = {}
    bad: list[tuple[str, str]] = []
    stats = Stats.zeros(channels, size)
    all_gray = True
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
        for split, indices, failures, chunk_stats, gray in results:
            good.setdefault(split, []).extend(indices)
            bad += failures
            all_gray = all_gray and gray
            if chunk_stats is not None:
                stats.add(chunk_stats)
            done += len(indices) + len(failures)
            if time.monotonic() - last > 0.1 or done == total:
                last = time.monotonic()
                emit(PackProgress(done=done, total=total))
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return good, sorted(bad), stats, all_gray


def default_workers() -> int:
    """Decode processes: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _pack_chunk(task):
    """Worker: decode a chunk, write each good image at its slot, return the chunk's stats."""
    split, start, paths, folder, size, channels = task
    rec = channels * size * size
    indices, failures, gray = [], [], True
    stats = Stats.zeros(channels, size) if split == "train" else None
    fd = os.open(os.path.join(folder, f"{split}.u8"), os.O_WRONLY)
    try:
        for k, path in enumerate(paths):
            try:
                img = load_image(path, size, channels=channels)      # uint8 (C, S, S)
            except BadImage as exc:
                failures.append((path, str(exc)))
                continue
            os.pwrite(fd, img.tobytes(), (start + k) * rec)
            indices.append(start + k)
            gray = gray and (channels == 1 or is_gray(img))
            if stats is not None:
                stats.add_images(img[None])
    finally:
        os.close(fd)
    return split, indices, failures, stats, gray


def check_bad(bad: list[tuple[str, str]], total: int, options: DataOptions, root: str,
              emit) -> None:
    """Past ``options.max_bad``, raise one error naming the unreadable images; within it,
    report them as skipped."""
    if not bad:
        return
    limit = options.max_bad
    if limit.allows(len(bad), total):
        emit(ImagesSkipped(count=len(bad), total=total, limit=limit.describe(),
                           examples=tuple(bad[:SHOWN_PATHS])))
        return
    from .events import shown

    lines = [f"{shown(p)}: {why}" for p, why in bad[:SHOWN_PATHS]]
    more = f"\n  … and {len(bad) - SHOWN_PATHS} more" if len(bad) > SHOWN_PATHS else ""
    raise NetdefError.at(shown(root), f"{len(bad)} of {total} images cannot be decoded "
                         f"({len(bad) / total:.1%}); max-bad allows {limit.describe()} "
                         f"(raise it with --max-bad or the experiment's max-bad key, e.g. "
                         f"max-bad = {len(bad)}, to skip them):\n  "
                         + "\n  ".join(lines) + more)



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
