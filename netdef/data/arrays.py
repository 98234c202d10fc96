"""Packing data that arrives as arrays (IDX and CIFAR files) into a staging folder.

The images are uint8 (N, C, H, W). Channels follow the same rule as image folders: ``auto``
keeps one channel when every image is grey, ``1`` makes RGB grey with Pillow's ITU-R 601-2 luma
(the same numbers as decoding a colour file to grey), ``3`` repeats a grey channel. Images whose
side is not ``image-size`` are resized as files are: shorter side to the size, centre square.
"""

from __future__ import annotations

import os

import numpy as np

from .decode import resize_crop
from .events import PackProgress, PackStarted
from .options import DataOptions
from .writer import PackSummary, Stats, finish_stats

CHUNK = 2048                                   # images converted and written at a time


def luma(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 3, H, W) RGB -> (N, 1, H, W) grey, exactly as Pillow's ``convert("L")``
    (L = (19595 R + 38470 G + 7471 B + 2¹⁵) >> 16)."""
    rgb = images.astype(np.uint32)
    grey = (rgb[:, 0] * 19595 + rgb[:, 1] * 38470 + rgb[:, 2] * 7471 + 0x8000) >> 16
    return grey.astype(np.uint8)[:, None]


def all_gray(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> bool:
    """True when every image of every split has one channel or equal R, G and B."""
    for images, _ in splits.values():
        if images.shape[1] == 1:
            continue
        for start in range(0, len(images), CHUNK):
            part = images[start:start + CHUNK]
            if not (np.array_equal(part[:, 0], part[:, 1])
                    and np.array_equal(part[:, 1], part[:, 2])):
                return False
    return True


def choose_channels(splits: dict, options: DataOptions) -> tuple[int, str]:
    """The pack's channel count and why."""
    if options.channels != "auto":
        return int(options.channels), f"set by channels = {options.channels}"
    if all_gray(splits):
        return 1, "every image is grayscale"
    return 3, "the images are in colour"


def convert(images: np.ndarray, channels: int, size: int) -> np.ndarray:
    """uint8 (N, C, H, W) -> (N, channels, size, size)."""
    if images.shape[1] != channels:
        images = (luma(images) if channels == 1 and images.shape[1] == 3
                  else images[:, :1] if channels == 1
                  else np.repeat(images[:, :1], 3, axis=1))
    if images.shape[2:] == (size, size):
        return np.ascontiguousarray(images)
    from PIL import Image

    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(images), channels, size, size), np.uint8)
    for k, img in enumerate(images):
        pil = Image.fromarray(img[0] if channels == 1 else img.transpose(1, 2, 0), mode)
        out[k] = resize_crop(pil, size)
    return out


def pack_arrays(splits: dict[str, tuple[np.ndarray, np.ndarray]], folder: str,
                options: DataOptions, *, source: str, dst: str, layout: str, emit) -> PackSummary:
    """Write each split's images and labels into ``folder``; the result for meta.json.
    ``splits``: name -> (uint8 (N, C, H, W) images, int64 (N,) labels)."""
    total = sum(len(labels) for _, labels in splits.values())
    size = options.image_size
    emit(PackStarted(source=source, dst=dst, total=total, image_size=size, layout=layout))
    channels, reason = choose_channels(splits, options)
    stats, done, counts = Stats.zeros(channels, size), 0, {}
    for split, (images, labels) in splits.items():
        with open(os.path.join(folder, f"{split}.u8"), "wb") as f:
            for start in range(0, len(images), CHUNK):
                part = convert(images[start:start + CHUNK], channels, size)
                f.write(part.tobytes())
                if split == "train":
                    stats.add_images(part)
                done += len(part)
                emit(PackProgress(done=done, total=total))
        np.save(os.path.join(folder, f"{split}_labels.npy"), labels.astype(np.int64))
        counts[split] = len(labels)
    mean, eigval, eigvec = finish_stats(stats)
    return PackSummary(counts=counts, channels=channels, channels_reason=reason, mean=mean,
                  eigval=eigval, eigvec=eigvec)
