"""Reading a packed cache, after checking it is whole: :class:`PackedData`.

A pack holds ``train.u8``, ``val.u8`` and, when the data has one, ``test.u8``: raw uint8
(N, C, S, S) records (C = 1 or 3); ``<split>_labels.npy`` int64 (N,); ``mean.npy`` float32
(C, S, S), the training mean image in 0..255; ``meta.json``.

A cache is trusted only when ``meta.json`` parses, its checksum matches its content, every file
has the size the meta records (so a truncated or grown shard is caught), the small files
(labels, mean) hash to the recorded value and a sample of blocks of each image shard does too
(so a shard edited or overwritten in place is caught without reading gigabytes at every start).
Anything else raises :class:`CacheInvalid`, and the caller rebuilds.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os

import numpy as np

from ..errors import NetdefError

FORMAT = "netdef-packed-2"    # 2: a channel count, an optional test split, options recorded
SPLITS = ("train", "val", "test")
PACK_FILES = frozenset([f"{s}.u8" for s in SPLITS] + [f"{s}_labels.npy" for s in SPLITS]
                       + ["mean.npy", "meta.json"])
_BLOCK = 4096
_SAMPLES = 64


class CacheInvalid(Exception):
    """A packed cache that must not be read; the message says why."""


def meta_checksum(meta: dict) -> str:
    """blake2b of the meta's canonical JSON, without its own ``checksum`` key."""
    body = {k: v for k, v in meta.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def file_checksum(path: str) -> str:
    """blake2b of a whole (small) file."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_checksum(path: str) -> str:
    """blake2b of the size and of up to 64 evenly spaced 4 KiB blocks plus the last one."""
    size = os.path.getsize(path)
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    offsets = sorted({min(size, i * size // _SAMPLES) for i in range(_SAMPLES)}
                     | {max(0, size - _BLOCK)})
    fd = os.open(path, os.O_RDONLY)
    try:
        for off in offsets:
            h.update(os.pread(fd, _BLOCK, off))
    finally:
        os.close(fd)
    return h.hexdigest()


class PackedData:
    """A validated packed cache: pixels as memmaps, labels, classes, mean image and pixel PCA
    (RGB for 3 channels; for 1 channel the grey variance)."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.path.abspath(os.fspath(path))
        self.meta = read_meta(self.path)
        m = self.meta
        self.image_size: int = m["image_size"]
        self.channels: int = m["channels"]
        self.classes: list[str] = list(m["classes"])
        self.class_names: list[str] = list(m["class_names"])
        self.splits: tuple[str, ...] = tuple(s for s in SPLITS if s in m["counts"])
        self.num_train: int = m["counts"]["train"]
        self.num_val: int = m["counts"]["val"]
        self.num_test: int = m["counts"].get("test", 0)
        self.fingerprint: str = m["fingerprint"]
        self.source: str = m["source"]
        self.layout: str = m["layout"]
        self.eigval = np.asarray(m["eigval"], dtype=np.float32)        # (C,) descending
        self.eigvec = np.asarray(m["eigvec"], dtype=np.float32)        # (C, C), columns
        self.mean = np.load(os.path.join(self.path, "mean.npy"))      # float32 (C, S, S)
        self._labels = {s: np.load(os.path.join(self.path, f"{s}_labels.npy"))
                        for s in self.splits}
        self._maps: dict[str, np.memmap] = {}

    def __repr__(self) -> str:
        test = f", {self.num_test} test" if self.num_test else ""
        return (f"PackedData({self.path!r}, {len(self.classes)} classes, {self.num_train} train, "
                f"{self.num_val} val{test}, {self.channels}×{self.image_size}×{self.image_size})")

    def _split(self, split: str) -> str:
        if split in self.splits:
            return split
        if split == "test":
            raise NetdefError.at(self.path, f"the data has no test split (image folders with a "
                                 f"test/ folder, IDX files with t10k files and CIFAR batches with "
                                 f"a test batch have one); its splits: {', '.join(self.splits)}")
        raise NetdefError.at(self.path, f"no split {split!r} (its splits: "
                             f"{', '.join(self.splits)})")

    def file(self, split: str) -> str:
        """Path of the raw uint8 (N, C, S, S) file of ``split``."""
        return os.path.join(self.path, f"{self._split(split)}.u8")

    def count(self, split: str) -> int:
        """Number of images in ``split``."""
        return int(self.meta["counts"][self._split(split)])

    def labels(self, split: str) -> np.ndarray:
        """int64 (N,) labels of ``split``."""
        return self._labels[self._split(split)]

    @property
    def train_labels(self) -> np.ndarray:
        return self.labels("train")

    @property
    def val_labels(self) -> np.ndarray:
        return self.labels("val")

    def images(self, split: str) -> np.ndarray:
        """Read-only uint8 memmap (N, C, S, S) of ``split``."""
        if split not in self._maps:
            shape = (self.count(split), self.channels, self.image_size, self.image_size)
            self._maps[split] = np.memmap(self.file(split), np.uint8, "r", shape=shape)
        return self._maps[split]

    @property
    def train_images(self) -> np.ndarray:
        """uint8 memmap (N, C, S, S) of the training split."""
        return self.images("train")

    @property
    def val_images(self) -> np.ndarray:
        """uint8 memmap (N, C, S, S) of the validation split."""
        return self.images("val")

    def with_mean(self, mean: np.ndarray) -> PackedData:
        """A view of the same pack whose mean image is ``mean`` (float32 (C, S, S)): data
        evaluated by a net must be centred with that net's own training mean."""
        view = copy.copy(self)
        view.mean = np.asarray(mean, dtype=np.float32)
        view._maps = {}                         # its own memmaps, opened on first use
        return view

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_maps"] = {}                     # memmaps are reopened in worker processes
        return state


def read_meta(path: str) -> dict:
    """Parse and check a cache's ``meta.json`` and files; raise CacheInvalid saying what is
    wrong."""
    meta_path = os.path.join(path, "meta.json")
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise CacheInvalid(f"{meta_path} is missing (an unfinished pack)") from None
    except (OSError, ValueError) as exc:
        raise CacheInvalid(f"{meta_path} is unreadable ({exc})") from None
    if not isinstance(meta, dict) or not str(meta.get("format", "")).startswith("netdef-packed"):
        raise CacheInvalid(f"{meta_path} is not a netdef pack")
    if meta["format"] != FORMAT:
        raise CacheInvalid(f"{path} was packed by another version of netdef "
                           f"({meta['format']}; this one reads {FORMAT})")
    if meta.get("checksum") != meta_checksum(meta):
        raise CacheInvalid(f"{meta_path} was edited (checksum mismatch)")
    try:
        rec = meta["channels"] * meta["image_size"] ** 2
        for split, count in meta["counts"].items():
            if meta["files"][f"{split}.u8"]["bytes"] != count * rec:
                raise CacheInvalid(f"{meta_path}: counts disagree with file sizes")
        if not {"train", "val"} <= set(meta["counts"]) <= set(SPLITS):
            raise CacheInvalid(f"{meta_path}: unexpected splits {sorted(meta['counts'])}")
    except (KeyError, TypeError) as exc:
        raise CacheInvalid(f"{meta_path} lacks a field ({exc})") from None
    for name, want in meta["files"].items():
        _check_file(os.path.join(path, name), want)
    return meta


def _check_file(path: str, want: dict) -> None:
    try:
        size = os.path.getsize(path)
    except OSError:
        raise CacheInvalid(f"{path} is missing") from None
    if size != want["bytes"]:
        raise CacheInvalid(f"{path} has {size} bytes, expected {want['bytes']} (truncated?)")
    if "sample" in want and data_checksum(path) != want["sample"]:
        raise CacheInvalid(f"{path} was modified (checksum mismatch)")
    if "blake2b" in want and file_checksum(path) != want["blake2b"]:
        raise CacheInvalid(f"{path} was modified (checksum mismatch)")
