"""Listing an image folder (DESIGN.md §3): the three layouts, ``labels.txt``, the source fingerprint.

Layouts, tried in this order:

1. ImageNet: ``ROOT/train/<class>/…`` and ``ROOT/val/<class>/…``;
2. ImageNet's validation ground truth converted: ``ROOT/train/<class>/…``, a flat ``ROOT/val/``
   and ``ROOT/val.txt`` holding ``<image file> <class folder>`` per line;
3. one level of class folders ``ROOT/<class>/…``, with a seeded held-out fraction as ``val``.

Files whose extension Pillow does not know are ignored and reported (``ignored``); files that
look like images but fail to decode are found later, by the packer. Problems that make the
folder unusable (missing, empty, a class with no images, no ``val`` split) raise one
:class:`~netdef.errors.NetdefError` naming every path at fault.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Collector, NetdefError, Span

VAL_FRACTION = 0.1  # held-out share for layout 3 (one level of class folders)


@dataclass
class Listing:
    """What an image folder holds: classes and the (path, label) pairs of each split."""

    root: str
    layout: str                                   # "imagenet", "val.txt" or "classes"
    classes: list[str]                            # folder names, sorted; label k = classes[k]
    class_names: list[str]                        # readable names (labels.txt) else folder names
    train: list[tuple[str, int]]
    val: list[tuple[str, int]]
    ignored: list[str] = field(default_factory=list)   # files that are not images by extension
    seed: int = 0                                 # the held-out draw (layout "classes")

    def fingerprint(self, image_size: int) -> str:
        """A hash of every listed file's path, size and mtime, the split and ``image_size``."""
        h = hashlib.sha256(f"netdef-pack-v1 {self.layout} {image_size}\n".encode())
        h.update(("\t".join(self.classes) + "\n").encode())
        for split, items in (("train", self.train), ("val", self.val)):
            for path, label in items:
                try:
                    st = os.stat(path)
                    sig = f"{st.st_size} {st.st_mtime_ns}"
                except OSError as exc:
                    sig = f"error {exc.errno}"
                rel = os.path.relpath(path, self.root)
                h.update(f"{split}\t{rel}\t{label}\t{sig}\n".encode())
        return h.hexdigest()[:32]


def image_extensions() -> frozenset[str]:
    """Every file extension Pillow registers a decoder for (lower case, with the dot)."""
    from PIL import Image

    Image.init()
    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items()
                     if fmt in Image.OPEN)


def list_folder(root: str | os.PathLike, seed: int = 0, val_fraction: float = VAL_FRACTION
                ) -> Listing:
    """List ``root`` in whichever of the three layouts it has; raise NetdefError when unusable."""
    root = os.path.abspath(os.fspath(root))
    if not os.path.exists(root):
        raise NetdefError(f"{root}: data folder does not exist")
    if not os.path.isdir(root):
        raise NetdefError(f"{root}: data path is not a folder")
    train_dir, val_dir = os.path.join(root, "train"), os.path.join(root, "val")
    if os.path.isdir(train_dir):
        if os.path.isfile(os.path.join(root, "val.txt")) and os.path.isdir(val_dir):
            return _val_txt(root, train_dir, val_dir)
        if os.path.isdir(val_dir) and _subdirs(val_dir):
            return _imagenet(root, train_dir, val_dir)
        raise NetdefError(f"{val_dir}: no 'val' split: expected {val_dir}/<class>/… "
                          f"or a flat {val_dir}/ with {root}/val.txt")
    if not _subdirs(root):
        raise NetdefError(f"{root}: no class folders (expected {root}/train/<class>/…, "
                          f"{root}/val/…, or {root}/<class>/…)")
    listing = _classes(root, seed, val_fraction)
    listing.seed = seed
    return listing


def _imagenet(root: str, train_dir: str, val_dir: str) -> Listing:
    out, exts, ignored = Collector(), image_extensions(), []
    classes, index, train = _scan_train(train_dir, exts, ignored, out)
    val_classes = _subdirs(val_dir)
    for c in val_classes:
        if c not in index:
            out.error(None, f"{os.path.join(val_dir, c)}: class folder '{c}' is not in {train_dir}")
    val = _scan_classes(val_dir, [c for c in val_classes if c in index], index, exts, ignored,
                        out, required=False)
    if not val and not out.has_errors:
        out.error(None, f"{val_dir}: the 'val' split holds no images")
    out.raise_if_errors()
    return Listing(root, "imagenet", classes, read_labels(root, classes), train, val, ignored)


def _scan_train(train_dir: str, exts, ignored: list, out: Collector):
    """The class folders of ``train_dir`` (sorted), their indices, and its images."""
    classes = _subdirs(train_dir)
    if not classes:
        raise NetdefError(f"{train_dir}: no class folders")
    index = {c: k for k, c in enumerate(classes)}
    return classes, index, _scan_classes(train_dir, classes, index, exts, ignored, out,
                                         required=True)


def _val_txt(root: str, train_dir: str, val_dir: str) -> Listing:
    out, exts, ignored = Collector(), image_extensions(), []
    classes, index, train = _scan_train(train_dir, exts, ignored, out)
    val_txt = os.path.join(root, "val.txt")
    val = []
    for lineno, line in enumerate(_read_lines(val_txt), start=1):
        words = line.split()
        if not words or line.lstrip().startswith("#"):
            continue
        span = Span(val_txt, lineno, 1)
        if len(words) != 2:
            out.error(span, f"expected '<image file> <class folder>' (got {line.strip()!r})")
        elif words[1] not in index:
            out.error(span, f"class '{words[1]}' is not a folder in {train_dir}")
        else:
            val.append((os.path.join(val_dir, words[0]), index[words[1]]))
    if not val and not out.has_errors:
        out.error(None, f"{val_txt}: lists no validation images")
    out.raise_if_errors()
    return Listing(root, "val.txt", classes, read_labels(root, classes), train, val, ignored)


def _classes(root: str, seed: int, val_fraction: float) -> Listing:
    out, exts, ignored = Collector(), image_extensions(), []
    classes = _subdirs(root)
    index = {c: k for k, c in enumerate(classes)}
    items = _scan_classes(root, classes, index, exts, ignored, out, required=True)
    out.raise_if_errors()
    rng = random.Random(f"netdef-holdout {seed}")
    train, val = [], []
    for k in range(len(classes)):                 # hold out per class, so every class is in val
        mine = [it for it in items if it[1] == k]
        rng.shuffle(mine)
        n_val = int(round(len(mine) * val_fraction)) if len(mine) > 1 else 0
        val += sorted(mine[:n_val])
        train += sorted(mine[n_val:])
    if not val:
        raise NetdefError(f"{root}: too few images to hold out a validation split "
                          f"({len(items)} images, fraction {val_fraction})")
    return Listing(root, "classes", classes, read_labels(root, classes), train, val, ignored)


def _scan_classes(top: str, classes: list[str], index: dict[str, int], exts: frozenset[str],
                  ignored: list[str], out: Collector, required: bool) -> list[tuple[str, int]]:
    """(path, label) for each image-like file under each ``top/<class>/`` (recursively)."""
    items = []
    for c in classes:
        folder = os.path.join(top, c)
        files = _walk_files(folder)
        images = [f for f in files if Path(f).suffix.lower() in exts]
        ignored += [f for f in files if Path(f).suffix.lower() not in exts]
        if not images and required:
            out.error(None, f"{folder}: class folder '{c}' holds no images")
        items += [(f, index[c]) for f in images]
    return items


def _walk_files(folder: str) -> list[str]:
    """Every non-hidden file under ``folder``, sorted; symlinked folders are not followed,
    so a symlink loop cannot hang the listing (a looping file link fails at decode)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in filenames if not f.startswith(".")]
    return sorted(found)


def _subdirs(path: str) -> list[str]:
    """Sorted names of the non-hidden sub-folders of ``path``."""
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if not e.name.startswith(".") and _is_dir(e))
    except OSError as exc:
        raise NetdefError(f"{path}: cannot list folder ({exc.strerror})") from None


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:                               # e.g. a symlink loop
        return False


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError as exc:
        raise NetdefError(f"{path}: cannot read ({exc.strerror})") from None


def read_labels(root: str, classes: list[str]) -> list[str]:
    """Readable class names from ``ROOT/labels.txt`` (``<folder> <readable name>`` per line);
    folders it does not mention keep their folder name."""
    path = os.path.join(root, "labels.txt")
    if not os.path.isfile(path):
        return list(classes)
    names = {}
    for lineno, line in enumerate(_read_lines(path), start=1):
        words = line.strip().split(None, 1)
        if len(words) == 2 and not line.lstrip().startswith("#"):
            names[words[0]] = words[1].strip()
        elif words and not line.lstrip().startswith("#"):
            raise NetdefError([_diag(Span(path, lineno, 1),
                                     f"expected '<folder> <readable name>' (got {line.strip()!r})")])
    return [names.get(c, c) for c in classes]


def _diag(span: Span, message: str):
    from ..errors import Diagnostic

    return Diagnostic(span, message)
