"""MNIST-format (IDX) data: MNIST, Fashion-MNIST, KMNIST, EMNIST.

A set is four files, plain or gzipped, recognised by their names: ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (a prefix
such as ``emnist-letters-`` and ``.`` for the last ``-`` as some mirrors write it are
accepted; ``test`` for ``t10k`` too). ``data`` names the folder, or one of the files when the
folder holds several sets. The test files are optional.

The format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a magic number ``00 00 08 D``
(unsigned bytes, D dimensions), D big-endian 32-bit sizes, then the values. Images are
(N, rows, cols) grey, labels (N,). EMNIST stores each image transposed; files whose name starts
with ``emnist`` are transposed back.

Classes: the label values ``0 … K-1``, K = the number of ``class-names`` when given, else
``max(10, largest label + 1)`` (digits 0–9 by default); readable names from ``class-names``
or a ``labels.txt`` beside the files (``<label> <name>`` per line).
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import Collector, NetdefError, Span

_NAME = re.compile(r"^(?P<prefix>.*?)(?P<split>train|t10k|test)-(?P<kind>images|labels)"
                   r"[.-]idx(?P<ndim>[13])-ubyte(?:\.gz)?$")
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class IdxFiles:
    """One IDX set: its folder, name prefix and files per split (``train`` and maybe ``test``)."""

    folder: str
    prefix: str
    images: dict[str, str]
    labels: dict[str, str]

    @property
    def name(self) -> str:
        """How the set is called in messages: the folder, and the prefix when there is one."""
        return os.path.join(self.folder, f"{self.prefix}*") if self.prefix else self.folder

    @property
    def path(self) -> str:
        """A path that names this set again: the folder, or its training images file when the
        folder may hold several sets."""
        return self.images["train"] if self.prefix else self.folder

    @property
    def transposed(self) -> bool:
        """EMNIST stores each image transposed."""
        return self.prefix.lower().startswith("emnist")


def _parse(name: str):
    m = _NAME.match(name)
    return (m["prefix"], "test" if m["split"] in ("t10k", "test") else "train", m["kind"],
            int(m["ndim"])) if m else None


def find_idx(path: str) -> IdxFiles | None:
    """The IDX set at ``path`` (a folder holding one set, or one file of a set), or None when
    ``path`` holds no IDX files. A folder with several sets raises NetdefError listing them."""
    if os.path.isfile(path):
        parsed = _parse(os.path.basename(path))
        if parsed is None:
            return None
        folder, wanted = os.path.dirname(path), parsed[0]
    elif os.path.isdir(path):
        folder, wanted = path, None
    else:
        return None
    groups: dict[str, dict] = {}
    for entry in sorted(os.listdir(folder)):
        parsed = _parse(entry)
        if parsed is None or not os.path.isfile(os.path.join(folder, entry)):
            continue
        prefix, split, kind, _ = parsed
        group = groups.setdefault(prefix, {"images": {}, "labels": {}})
        if split in group[kind]:
            raise NetdefError.at(folder, f"two {split} {kind} files for one set "
                                 f"({os.path.basename(group[kind][split])} and {entry}); keep one")
        group[kind][split] = os.path.join(folder, entry)
    if wanted is not None:
        groups = {wanted: groups[wanted]}
    if not groups:
        return None
    if len(groups) > 1:
        sets = ", ".join(f"{p}train-images-idx3-ubyte" for p in sorted(groups))
        raise NetdefError.at(folder, f"holds {len(groups)} IDX sets; name one of their training "
                             f"image files as the data ({sets})")
    prefix, group = next(iter(groups.items()))
    files = IdxFiles(folder, prefix, group["images"], group["labels"])
    _check_pairs(files)
    return files


def _check_pairs(files: IdxFiles) -> None:
    """Every images file has its labels file and the reverse, and there is a training pair;
    each missing one located at the file it should pair with, all at once."""
    problems = Collector()
    for split in ("train", "test"):
        has_images, has_labels = split in files.images, split in files.labels
        if has_images != has_labels:
            have = files.images.get(split) or files.labels.get(split)
            need = "labels" if has_images else "images"
            want = f"{files.prefix}{'t10k' if split == 'test' else 'train'}-{need}-idx" \
                   f"{1 if need == 'labels' else 3}-ubyte"
            problems.error(Span(str(have)), f"no matching {split} {need} file beside it "
                           f"(looked for {want} or {want}.gz)")
    if "train" not in files.images and not problems.items:
        problems.error(Span(str(files.name)), "no training files (train-images-idx3-ubyte and "
                       "train-labels-idx1-ubyte)")
    problems.raise_if_errors()


def read_bytes(path: str) -> bytes:
    """The file's content, un-gzipped when it is gzip (by its magic number, not its name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == _GZIP_MAGIC:
                with gzip.GzipFile(fileobj=f) as g:
                    return g.read()
            return f.read()
    except EOFError:
        raise NetdefError.at(path, "the gzip data is truncated (the file ends before its "
                             "end-of-stream marker; download it again)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise NetdefError.at(path, f"damaged gzip data ({exc})") from None
    except OSError as exc:
        raise NetdefError.at(path, f"cannot read ({exc.strerror or exc})") from None


def read_idx(path: str, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with ``ndim`` dimensions as a uint8 array; a wrong magic
    number, type, dimension count or length raises NetdefError naming the file."""
    data = read_bytes(path)
    if len(data) < 4 or data[:2] != b"\0\0":
        raise NetdefError.at(path, f"not an IDX file (its magic number is "
                             f"{data[:4].hex(' ') or 'missing'}, expected 00 00 08 0{ndim})")
    if data[2] != 0x08:
        raise NetdefError.at(path, f"IDX values of type 0x{data[2]:02x}; netdef reads unsigned "
                             f"bytes (type 0x08) as the MNIST-format data sets have")
    if data[3] != ndim:
        what = "images (N, rows, cols)" if ndim == 3 else "labels (N,)"
        raise NetdefError.at(path, f"{data[3]} dimensions; expected {ndim} for {what}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise NetdefError.at(path, f"truncated in its header ({len(data)} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    want = int(np.prod(shape, dtype=np.int64))
    got = len(data) - header
    if got != want:
        state = "truncated" if got < want else "longer than its header says"
        raise NetdefError.at(path, f"{state}: its header says {' × '.join(map(str, shape))} "
                             f"values ({want:,} bytes) but {got:,} bytes follow")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_split(files: IdxFiles, split: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 1, H, W) upright, and int64 labels (N,) of one split."""
    images = read_idx(files.images[split], 3)
    labels = read_idx(files.labels[split], 1).astype(np.int64)
    if len(images) != len(labels):
        raise NetdefError.at(files.images[split], f"{len(images):,} images but "
                             f"{files.labels[split]} has {len(labels):,} labels")
    if files.transposed:
        images = images.transpose(0, 2, 1)
    return np.ascontiguousarray(images[:, None]), labels


def label_classes(files: IdxFiles, labels: dict[str, np.ndarray], given: int | None
                  ) -> list[str]:
    """The class keys ``"0" … "K-1"``; a label outside them raises NetdefError naming the
    file and the image."""
    largest = max(int(v.max()) if len(v) else 0 for v in labels.values())
    count = given if given is not None else max(10, largest + 1)
    for split, values in labels.items():
        outside = np.flatnonzero(values >= count)
        if len(outside):
            i = int(outside[0])
            source = "class-names" if given is not None else "the default classes"
            raise NetdefError.at(files.labels[split], f"label {int(values[i])} of image {i} is "
                                 f"outside the {count} classes of {source} (0–{count - 1}); "
                                 f"{len(outside)} label(s) are")
    return [str(k) for k in range(count)]
