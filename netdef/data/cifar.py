"""CIFAR-10 and CIFAR-100 "python version" batches (Krizhevsky 2009), cuda-convnet's own format.

CIFAR-10: ``data_batch_1`` … ``data_batch_5``, ``test_batch``, ``batches.meta``; CIFAR-100:
``train``, ``test``, ``meta`` (``label-set = fine``, the default, or ``coarse``). ``data`` names
the folder (``cifar-10-batches-py``, ``cifar-100-python``) or the folder above it. Each batch is
a pickled dict: ``data`` uint8 (N, 3072) — 1024 red, then green, then blue values of a 32×32
image, row by row — and the labels.

The files are pickles, and a pickle can run any code when loaded, so they are read with an
unpickler that builds only what these files hold — dicts, lists, bytes, strings, numbers and
numpy arrays (``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``; and
``_codecs.encode`` with latin-1 alone, how Python 3 writes bytes at protocol 2) — and refuses
any other name a file asks for, before anything of it runs.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from dataclasses import dataclass

import numpy as np

from ..errors import NetdefError

SIDE = 32
_BATCH = re.compile(r"^data_batch_(\d+)$")


class Refused(pickle.UnpicklingError):
    """The pickle asks for something CIFAR batches never hold."""


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What a protocol-2 pickle written by Python 3 calls (as ``_codecs.encode``) to rebuild a
    bytes object; only that use is allowed."""
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise Refused("it calls _codecs.encode other than to rebuild bytes")
    return text.encode("latin-1")


def _allowed() -> dict[tuple[str, str], object]:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:                                   # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    names = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
             ("_codecs", "encode"): _latin1_bytes}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        names[(module, "_reconstruct")] = _reconstruct
    return names


class _Restricted(pickle.Unpickler):
    """An unpickler that resolves only numpy's array reconstruction; any other global a pickle
    names (``os.system``, ``builtins.eval``, a class…) is refused."""

    allowed = _allowed()

    def find_class(self, module: str, name: str):
        found = self.allowed.get((module, name))
        if found is None:
            raise Refused(f"it asks for {module}.{name}, which CIFAR batches "
                                         f"never hold (only numpy arrays, dicts, lists, bytes, "
                                         f"strings and numbers are allowed)")
        return found

    def persistent_load(self, pid):
        raise Refused("it uses persistent ids, which CIFAR batches never hold")


def safe_load(path: str) -> dict:
    """The dict pickled in ``path``, read with the restricted unpickler; keys as str. Anything
    else — a refused name, a damaged or truncated file, not a dict — raises NetdefError."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise NetdefError.at(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        obj = _Restricted(io.BytesIO(raw), encoding="bytes").load()
    except Refused as exc:
        raise NetdefError.at(path, f"refused to load this pickle: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, UnicodeDecodeError, OverflowError, RecursionError) as exc:
        raise NetdefError.at(path, f"not a readable CIFAR batch (truncated or damaged: "
                             f"{type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise NetdefError.at(path, f"not a CIFAR batch (holds a {type(obj).__name__}, "
                             f"expected a dict)")
    return {(k.decode("latin-1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


@dataclass(frozen=True)
class CifarFiles:
    """One CIFAR set: its folder, kind (``cifar-10`` or ``cifar-100``) and batch files."""

    folder: str
    kind: str
    train: tuple[str, ...]
    test: str | None
    meta: str


def find_cifar(path: str) -> CifarFiles | None:
    """The CIFAR set in the folder ``path`` (or in its one ``cifar-10-batches-py`` /
    ``cifar-100-python`` sub-folder), or None when it holds none."""
    if not os.path.isdir(path):
        return None
    for sub in ("cifar-10-batches-py", "cifar-100-python"):
        inner = os.path.join(path, sub)
        if os.path.isdir(inner):
            return find_cifar(inner)
    names = set(os.listdir(path))
    batches = sorted((int(m[1]), n) for n in names if (m := _BATCH.match(n)))
    if "batches.meta" in names and batches:
        test = os.path.join(path, "test_batch") if "test_batch" in names else None
        return CifarFiles(path, "cifar-10", tuple(os.path.join(path, n) for _, n in batches),
                          test, os.path.join(path, "batches.meta"))
    if {"meta", "train"} <= names:
        test = os.path.join(path, "test") if "test" in names else None
        return CifarFiles(path, "cifar-100", (os.path.join(path, "train"),), test,
                          os.path.join(path, "meta"))
    return None


def _label_key(kind: str, label_set: str) -> str:
    return "labels" if kind == "cifar-10" else f"{label_set}_labels"


def read_names(files: CifarFiles, label_set: str) -> list[str]:
    """The class names the meta file gives, in label order."""
    meta = safe_load(files.meta)
    key = "label_names" if files.kind == "cifar-10" else f"{label_set}_label_names"
    names = meta.get(key)
    if not isinstance(names, list) or not names or not all(
            isinstance(n, (bytes, str)) for n in names):
        raise NetdefError.at(files.meta, f"no list of class names under '{key}'")
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names]


def read_batch(path: str, kind: str, label_set: str, classes: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 3, 32, 32) and int64 labels (N,) of one batch file; a batch of the
    wrong shape or with a label outside ``classes`` raises NetdefError naming the file."""
    batch = safe_load(path)
    key = _label_key(kind, label_set)
    data, labels = batch.get("data"), batch.get(key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * SIDE * SIDE:
        got = (f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray)
               else type(data).__name__)
        raise NetdefError.at(path, f"'data' must be uint8 (N, {3 * SIDE * SIDE}), 32×32 RGB "
                             f"images as rows (got {got})")
    if not isinstance(labels, (list, np.ndarray)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels):
        raise NetdefError.at(path, f"'{key}' must be a list of integer labels")
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(data):
        raise NetdefError.at(path, f"{len(data):,} images but {len(labels):,} labels")
    outside = np.flatnonzero((labels < 0) | (labels >= classes))
    if len(outside):
        i = int(outside[0])
        raise NetdefError.at(path, f"label {int(labels[i])} of image {i} (counting from 0) is "
                             f"outside the {classes} classes of the meta file")
    return np.ascontiguousarray(data.reshape(-1, 3, SIDE, SIDE)), labels


def read_split(files: CifarFiles, split: str, label_set: str, classes: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """All batches of ``split`` (``train``: data_batch_1… in order; ``test``) concatenated."""
    paths = files.train if split == "train" else (files.test,)
    parts = [read_batch(p, files.kind, label_set, classes) for p in paths]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
