"""Data: image folders, IDX and CIFAR files to a packed cache, the paper's augmentation,
built-in data.

    ds = open_dataset("builtin:shapes", image_size=64)      # generates and packs on first use
    for x, y in train_loader(ds, batch_size=128, inner_size=56, epoch=0):
        ...  # x float32 (N, C, 56, 56), y int64 (N,)

``open_dataset`` and the packer import no torch; ``train_loader`` and ``val_loader`` load it
on first use (PEP 562), so pack workers start light.
"""

from __future__ import annotations

from typing import Any

from .cache import cache_root, open_dataset, pack_dataset
from .events import (
    DATA_EVENTS,
    CacheRebuilt,
    DataNote,
    FilesIgnored,
    ImagesSkipped,
    PackDone,
    PackProgress,
    PackStarted,
)
from .folders import Listing, list_folder
from .options import DataOptions
from .pack_reader import CacheInvalid, PackedData

__all__ = ["open_dataset", "pack_dataset", "train_loader", "val_loader", "PackedData",
           "CacheInvalid", "Listing", "list_folder", "cache_root", "DataOptions",
           "DATA_EVENTS", "PackStarted", "PackProgress", "PackDone", "ImagesSkipped",
           "FilesIgnored", "CacheRebuilt", "DataNote"]

_LAZY = {"train_loader": "netdef.data.loader", "val_loader": "netdef.data.loader"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'netdef.data' has no attribute {name!r}")
