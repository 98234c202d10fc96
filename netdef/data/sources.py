"""What a ``data`` path holds — an image folder, IDX files or CIFAR batches — as a
:class:`Source` that knows its classes, its fingerprint and how to pack itself.

Every source gives netdef the same three splits: ``train``, ``val`` and (when the data has
one) ``test``. Data that comes with only a training set and a test set (IDX, CIFAR) gets its
``val`` split carved from the training set: a seeded ``val-fraction`` of each class. Training
chooses the net on ``val``; the official test set stays untouched until ``netdef eval --split
test`` reports the final numbers.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import NetdefError
from . import cifar, idx
from .arrays import pack_arrays
from .events import DataNote
from .folders import held_out_positions, list_folder
from .labels import class_names
from .options import DataOptions
from .pack_images import pack_listing
from .writer import PackSummary


@dataclass(kw_only=True)
class Source:
    """A data set ready to pack: where it is, its layout, classes and fingerprint."""

    root: str
    layout: str
    classes: list[str]
    class_names: list[str]
    content: str                       # hash of the files and the options that change pixels
    packer: Callable[..., PackSummary]      # (folder, options, dst, workers, emit) -> PackSummary
    notes: list[str] = field(default_factory=list)

    def pack(self, folder: str, options: DataOptions, dst: str, workers: int | None,
             emit) -> PackSummary:
        for note in self.notes:
            emit(DataNote(message=note))
        return self.packer(folder, options, dst, workers, emit)


def settings(options: DataOptions) -> str:
    """The options that change a pack's images or splits, as text for fingerprints."""
    return (f"size={options.image_size} channels={options.channels} seed={options.seed} "
            f"val={options.val_fraction!r} labels={options.label_set}")


def find_source(path: str, options: DataOptions) -> Source:
    """The source at ``path``; NetdefError when it is missing or unusable."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        raise NetdefError.at(path, "data folder does not exist")
    files = idx.find_idx(path)
    if files is not None:
        return _idx_source(files, options)
    found = cifar.find_cifar(path)
    if found is not None:
        return _cifar_source(found, options)
    if options.label_set != "fine":
        raise NetdefError.at(path, f"label-set = {options.label_set} applies to CIFAR-100 "
                             f"batches only")
    return _folder_source(path, options)


def _folder_source(path: str, options: DataOptions) -> Source:
    listing = list_folder(path, seed=options.seed, val_fraction=options.val_fraction,
                          names=options.class_names)

    def packer(folder, opts, dst, workers, emit):
        return pack_listing(listing, folder, opts, dst, workers, emit)

    return Source(root=listing.root, layout=listing.layout, classes=listing.classes,
                  class_names=listing.class_names,
                  content=listing.fingerprint(settings(options)), packer=packer)


def _files_hash(paths: list[str], options: DataOptions, kind: str) -> str:
    h = hashlib.sha256(f"netdef-pack-v2 {kind} {settings(options)}\n".encode())
    for p in paths:
        st = os.stat(p)
        h.update(os.fsencode(os.path.basename(p)))
        h.update(f"\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def carve(images: np.ndarray, labels: np.ndarray, options: DataOptions, root: str) -> dict:
    """train -> train and val: a seeded ``val-fraction`` of each class held out."""
    held = held_out_positions(labels.tolist(), options.seed, options.val_fraction)
    if not held:
        raise NetdefError.at(root, f"too few training images to hold out a validation split "
                             f"({len(labels)} images, val-fraction {options.val_fraction})")
    mask = np.zeros(len(labels), bool)
    mask[sorted(held)] = True
    return {"train": (images[~mask], labels[~mask]), "val": (images[mask], labels[mask])}


def _empty_classes(labels: np.ndarray, names: list[str]) -> list[str]:
    counts = np.bincount(labels, minlength=len(names))
    empty = [names[k] for k in range(len(names)) if counts[k] == 0]
    if not empty:
        return []
    return [f"{len(empty)} of the {len(names)} classes have no training image "
            f"({', '.join(empty[:6])}{' …' if len(empty) > 6 else ''}); give class-names "
            f"or labels.txt to say which classes the data has"]


def _idx_source(files: idx.IdxFiles, options: DataOptions) -> Source:
    labels = {s: idx.read_idx(p, 1).astype(np.int64) for s, p in files.labels.items()}
    given = len(options.class_names) if options.class_names is not None else None
    keys = idx.label_classes(files, labels, given)
    names = class_names(files.folder, keys, options.class_names, what="label")
    paths = sorted(list(files.images.values()) + list(files.labels.values()))

    def packer(folder, opts, dst, workers, emit):
        splits = {}
        for split in files.images:
            splits[split] = idx.read_split(files, split)
        arrays = carve(*splits.pop("train"), opts, files.name)
        arrays.update(splits)
        return pack_arrays(arrays, folder, opts, source=files.path, dst=dst, layout="idx",
                           emit=emit)

    return Source(root=files.path, layout="idx", classes=keys, class_names=names,
                  content=_files_hash(paths, options, "idx"), packer=packer,
                  notes=_empty_classes(labels["train"], names))


def _cifar_source(files: cifar.CifarFiles, options: DataOptions) -> Source:
    if options.label_set == "coarse" and files.kind != "cifar-100":
        raise NetdefError.at(files.folder, f"label-set = coarse applies to CIFAR-100; this "
                             f"is {files.kind}")
    meta_names = cifar.read_names(files, options.label_set)
    keys = [str(k) for k in range(len(meta_names))]
    names = (list(options.class_names) if options.class_names is not None else meta_names)
    if options.class_names is not None and len(names) != len(keys):
        raise NetdefError(f"data: 'class-names' gives {len(names)} names but {files.folder} "
                          f"has {len(keys)} classes")
    labels_txt = os.path.join(files.folder, "labels.txt")
    if options.class_names is None and os.path.isfile(labels_txt):
        names = [
            n if n != k else m
            for n, k, m in zip(
                class_names(files.folder, keys, None, what="label"), keys, meta_names, strict=False
            )
        ]
    paths = sorted(list(files.train) + [files.meta] + ([files.test] if files.test else []))
    layout = files.kind + (" (coarse labels)" if options.label_set == "coarse" else "")

    def packer(folder, opts, dst, workers, emit):
        images, labels = cifar.read_split(files, "train", opts.label_set, len(keys))
        arrays = carve(images, labels, opts, files.folder)
        if files.test is not None:
            arrays["test"] = cifar.read_split(files, "test", opts.label_set, len(keys))
        return pack_arrays(arrays, folder, opts, source=files.folder, dst=dst, layout=layout,
                           emit=emit)

    return Source(root=files.folder, layout=layout, classes=keys, class_names=names,
                  content=_files_hash(paths, options, files.kind), packer=packer)
