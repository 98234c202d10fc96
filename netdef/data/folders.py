"""Listing an image folder: its layout, told by structure; ``labels.txt``; the fingerprint.

Layouts:

1. split folders: ``ROOT`` holds only ``train/``, ``val/`` and ``test/`` folders, and ``train/``
   holds class folders (no images of its own). ``val/`` holds the same class folders
   (ImageNet's layout), or is flat with ``ROOT/val.txt`` naming each image's class (``<image
   file> <class folder>`` per line); without ``val/``, a seeded share of each class of
   ``train/`` is held out as in layout 2. An optional ``test/<class>/…`` becomes the test split.
2. class folders: every folder of ``ROOT`` is a class (a folder called ``train`` that holds
   images is a class like any other); a seeded share of each class is held out for validation.

Inside a class folder, images are found at any depth; symlinked folders are followed once each
(a loop is not entered twice). Hidden files and folders (``.DS_Store``, AppleDouble ``._*``),
``__MACOSX``, ``Thumbs.db`` and ``desktop.ini`` are skipped silently; other files whose
extension is not an image's are reported (``ignored``); images that fail to decode are found
later, by the packer. Problems that make the folder unusable raise one NetdefError naming every
path at fault.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Collector, NetdefError, Span
from .decode import undecodable_extensions
from .labels import class_names, read_lines
from .options import VAL_FRACTION

SPLIT_FOLDERS = ("train", "val", "test")
CLUTTER_FILES = frozenset({"thumbs.db", "desktop.ini", "icon\r", "ehthumbs.db"})
CLUTTER_FOLDERS = frozenset({"__MACOSX", "@eaDir", "$RECYCLE.BIN", "System Volume Information"})


@dataclass(kw_only=True)
class Listing:
    """What an image folder holds: classes and the (path, label) pairs of each split."""

    root: str
    layout: str                                   # "imagenet", "val.txt", "held-out", "classes"
    classes: list[str]                            # folder names, sorted; label k = classes[k]
    class_names: list[str]                        # readable names (labels.txt) else folder names
    train: list[tuple[str, int]]
    val: list[tuple[str, int]]
    test: list[tuple[str, int]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)   # files that are not images by extension
    seed: int = 0                                 # the held-out draw (layouts with a hold-out)

    @property
    def splits(self) -> dict[str, list[tuple[str, int]]]:
        """The non-empty splits, train and val always."""
        out = {"train": self.train, "val": self.val}
        if self.test:
            out["test"] = self.test
        return out

    def fingerprint(self, settings: str) -> str:
        """A hash of every listed file's path, size and mtime, the split, the classes and
        ``settings`` (the pack options that change its pixels). The readable class names are
        not in it: the pack keeps them beside it and a change rewrites only its meta.json."""
        h = hashlib.sha256(f"netdef-pack-v2 {self.layout} {settings}\n".encode())
        h.update(("\t".join(self.classes) + "\n").encode("utf-8", "surrogateescape"))
        for split, items in self.splits.items():
            for path, label in items:
                try:
                    st = os.stat(path)
                    sig = f"{st.st_size} {st.st_mtime_ns}"
                except OSError as exc:
                    sig = f"error {exc.errno}"
                h.update(os.fsencode(os.path.relpath(path, self.root)))
                h.update(f"\t{split}\t{label}\t{sig}\n".encode())
        return h.hexdigest()[:32]


def image_extensions() -> frozenset[str]:
    """Every file extension Pillow registers a decoder for (lower case, with the dot), and the
    image formats it cannot decode here (HEIC, raw camera files…), which are listed as images
    so that the packer can say why each is refused."""
    from PIL import Image

    Image.init()
    known = {ext.lower() for ext, fmt in Image.registered_extensions().items()
             if fmt in Image.OPEN}
    return frozenset(known | undecodable_extensions())


def list_folder(root: str | os.PathLike, seed: int = 0, val_fraction: float = VAL_FRACTION,
                names: tuple[str, ...] | None = None) -> Listing:
    """List ``root`` in whichever layout its structure shows; raise NetdefError when unusable.
    ``names``: readable class names in label order (else ``labels.txt``, else folder names)."""
    root = os.path.abspath(os.fspath(root))
    if not os.path.exists(root):
        raise NetdefError.at(root, "data folder does not exist")
    if not os.path.isdir(root):
        raise NetdefError.at(root, "data path is not a folder")
    subs = _subdirs(root)
    if not subs:
        raise NetdefError.at(root, f"no class folders (expected {root}/train/<class>/…, "
                             f"{root}/val/…, or {root}/<class>/…)")
    scan = _Scan(root, image_extensions())
    if is_split_layout(root, subs):
        listing = _split_layout(scan, seed, val_fraction)
    else:
        listing = _class_layout(scan, subs, seed, val_fraction)
    listing.class_names = class_names(root, listing.classes, names)
    listing.ignored = scan.ignored
    return listing


def is_split_layout(root: str, subs: list[str]) -> bool:
    """True when ``root`` holds only split folders and ``train/`` holds class folders and no
    images of its own; else every folder of ``root`` is a class."""
    if "train" not in subs or not set(subs) <= set(SPLIT_FOLDERS):
        return False
    train = os.path.join(root, "train")
    exts = image_extensions()
    return bool(_subdirs(train)) and not any(Path(f).suffix.lower() in exts
                                             for f in _files_in(train))


class _Scan:
    """Walks class folders, collecting images and the non-image files it passes."""

    def __init__(self, root: str, exts: frozenset[str]):
        self.root, self.exts, self.ignored = root, exts, []
        self.out = Collector()

    def classes(self, top: str, classes: list[str], index: dict[str, int], required: bool
                ) -> list[tuple[str, int]]:
        """(path, label) of each image under each ``top/<class>/``, in sorted order."""
        items = []
        for c in classes:
            folder = os.path.join(top, c)
            files = walk_files(folder)
            images = [f for f in files if Path(f).suffix.lower() in self.exts]
            self.ignored += [f for f in files if Path(f).suffix.lower() not in self.exts]
            if not images and required:
                self.out.error(None, f"{folder}: class folder '{c}' holds no images")
            items += [(f, index[c]) for f in images]
        return items


def _split_layout(scan: _Scan, seed: int, val_fraction: float) -> Listing:
    root = scan.root
    train_dir, val_dir = os.path.join(root, "train"), os.path.join(root, "val")
    classes = _subdirs(train_dir)
    index = {c: k for k, c in enumerate(classes)}
    train = scan.classes(train_dir, classes, index, required=True)
    val_txt = os.path.join(root, "val.txt")
    if os.path.isdir(val_dir) and os.path.isfile(val_txt):
        layout, val = "val.txt", _val_txt(scan, val_txt, val_dir, index, train_dir)
    elif os.path.isdir(val_dir) and _subdirs(val_dir):
        layout, val = "imagenet", _class_split(scan, val_dir, index, train_dir)
    elif os.path.isdir(val_dir):
        raise NetdefError.at(val_dir, f"no 'val' split: expected {val_dir}/<class>/… "
                             f"or a flat {val_dir}/ with {root}/val.txt")
    else:
        layout, val = "held-out", []
    test_dir = os.path.join(root, "test")
    test = _class_split(scan, test_dir, index, train_dir) if os.path.isdir(test_dir) else []
    scan.out.raise_if_errors()
    if layout == "held-out":
        train, val = hold_out(train, seed, val_fraction, root)
    return Listing(root=root, layout=layout, classes=classes, class_names=classes, train=train,
                   val=val, test=test, seed=seed)


def _class_split(scan: _Scan, top: str, index: dict[str, int], train_dir: str
                 ) -> list[tuple[str, int]]:
    """A val/ or test/ folder of class folders, each a class of ``train_dir``."""
    subs = _subdirs(top)
    if not subs:
        scan.out.error(None, f"{top}: expected class folders as in {train_dir}")
        return []
    for c in subs:
        if c not in index:
            scan.out.error(None, f"{os.path.join(top, c)}: class folder '{c}' is not in "
                                 f"{train_dir}")
    items = scan.classes(top, [c for c in subs if c in index], index, required=False)
    if not items and not scan.out.has_errors:
        scan.out.error(None, f"{top}: holds no images")
    return items


def _val_txt(scan: _Scan, val_txt: str, val_dir: str, index: dict[str, int], train_dir: str
             ) -> list[tuple[str, int]]:
    """``<image file> <class folder>`` per line (ImageNet's converted validation labels)."""
    val = []
    for lineno, line in enumerate(read_lines(val_txt), start=1):
        words = line.split()
        if not words or line.lstrip().startswith("#"):
            continue
        span = Span(val_txt, lineno, 1)
        if len(words) != 2:
            scan.out.error(span, f"expected '<image file> <class folder>' (got {line.strip()!r})")
        elif words[1] not in index:
            scan.out.error(span, f"class '{words[1]}' is not a folder in {train_dir}")
        else:
            val.append((os.path.join(val_dir, words[0]), index[words[1]]))
    if not val and not scan.out.has_errors:
        scan.out.error(None, f"{val_txt}: lists no validation images")
    return val


def _class_layout(scan: _Scan, classes: list[str], seed: int, val_fraction: float) -> Listing:
    root = scan.root
    index = {c: k for k, c in enumerate(classes)}
    items = scan.classes(root, classes, index, required=True)
    scan.ignored += [f for f in _files_in(root)
                     if Path(f).suffix.lower() in scan.exts]   # images outside any class
    scan.out.raise_if_errors()
    train, val = hold_out(items, seed, val_fraction, root)
    return Listing(root=root, layout="classes", classes=classes, class_names=classes,
                   train=train, val=val, seed=seed)


def hold_out(items: list, seed: int, fraction: float, root: str) -> tuple[list, list]:
    """Split (key, label) items into train and val: per class, a seeded ``fraction`` (rounded,
    at least one; none of a class with one item) is held out, so every class is in val. Each
    part keeps the items' order."""
    positions = held_out_positions([label for _, label in items], seed, fraction)
    if not positions:
        raise NetdefError.at(root, f"too few images to hold out a validation split "
                             f"({len(items)} images, val-fraction {fraction})")
    val = [items[i] for i in sorted(positions)]
    return [it for i, it in enumerate(items) if i not in positions], val


def held_out_positions(labels, seed: int, fraction: float) -> set[int]:
    """Positions of the held-out items of a label sequence (see :func:`hold_out`)."""
    rng = random.Random(f"netdef-holdout {seed}")
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    chosen: set[int] = set()
    for label in sorted(by_class):
        mine = by_class[label]
        rng.shuffle(mine)
        n_val = max(1, int(round(len(mine) * fraction))) if len(mine) > 1 else 0
        chosen.update(mine[:n_val])
    return chosen


def walk_files(folder: str) -> list[str]:
    """Every file under ``folder`` that is not hidden or clutter, sorted; symlinked folders
    are followed, each real folder once, so a symlink loop cannot hang the listing."""
    found, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if _wanted_folder(d))
        found += [os.path.join(dirpath, f) for f in filenames if _wanted_file(f)]
    return sorted(found)


def _wanted_file(name: str) -> bool:
    return not name.startswith(".") and name.lower() not in CLUTTER_FILES


def _wanted_folder(name: str) -> bool:
    return not name.startswith(".") and name not in CLUTTER_FOLDERS


def _files_in(folder: str) -> list[str]:
    """The wanted files directly in ``folder``."""
    try:
        with os.scandir(folder) as it:
            return sorted(e.path for e in it if _wanted_file(e.name) and not _is_dir(e))
    except OSError as exc:
        raise NetdefError.at(folder, f"cannot list folder ({exc.strerror})") from None


def _subdirs(path: str) -> list[str]:
    """Sorted names of the wanted sub-folders of ``path`` (symlinks to folders included)."""
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if _wanted_folder(e.name) and _is_dir(e))
    except OSError as exc:
        raise NetdefError.at(path, f"cannot list folder ({exc.strerror})") from None


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:                               # e.g. a symlink loop
        return False
