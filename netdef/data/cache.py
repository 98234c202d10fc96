"""From a ``data`` value to a validated packed cache: :func:`open_dataset` and :func:`prepare`.

``data`` is an image folder, a packed cache folder (one with ``meta.json``, e.g. made by
``netdef prep``) or ``builtin:shapes[?classes=10&train=500&val=100&seed=0]``. Folders are packed
on first use under ``<cache>/packed/<name>-<size>-<key>/`` (``<cache>`` is ``$NETDEF_CACHE`` or
``~/.cache/netdef``) and reused while the source listing and ``image-size`` are unchanged; a
changed source, or a cache found truncated or edited, is rebuilt with a ``rebuild`` event.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from urllib.parse import parse_qsl

from ..errors import NetdefError
from .folders import list_folder
from .pack import MAX_BAD_FRACTION, pack_listing
from .packed import CacheInvalid, PackedData
from .shapes import DEFAULTS, shapes_folder

DataError = NetdefError   # bad data raises the project's one error type, naming the path


def cache_root(cache_dir: str | None = None) -> str:
    """``cache_dir``, else ``$NETDEF_CACHE``, else ``~/.cache/netdef``."""
    root = cache_dir or os.environ.get("NETDEF_CACHE") or os.path.join("~", ".cache", "netdef")
    return os.path.abspath(os.path.expanduser(root))


def open_dataset(data: str, image_size: int = 256, cache_dir: str | None = None, seed: int = 0,
                 workers: int | None = None, on_event=None,
                 max_bad_fraction: float = MAX_BAD_FRACTION) -> PackedData:
    """The packed dataset for ``data``, packing (or generating, for builtin:) on first use."""
    cache = cache_root(cache_dir)
    if data.startswith("builtin:"):
        data = builtin_folder(data, image_size, cache, workers)
    path = os.path.abspath(os.path.expanduser(data))
    if os.path.isfile(os.path.join(path, "meta.json")):
        return _open_packed(path, cache, workers, on_event, max_bad_fraction)
    key = hashlib.sha256(f"{path}\0{image_size}\0{seed}".encode()).hexdigest()[:12]
    name = os.path.basename(path.rstrip(os.sep)) or "root"
    dst = os.path.join(cache, "packed", f"{name}-{image_size}-{key}")
    return prepare(path, dst, image_size, seed, workers, on_event, max_bad_fraction)


def prepare(src: str, dst: str, image_size: int = 256, seed: int = 0, workers: int | None = None,
            on_event=None, max_bad_fraction: float = MAX_BAD_FRACTION) -> PackedData:
    """Pack folder ``src`` into ``dst`` unless ``dst`` already holds a valid, current pack."""
    emit = on_event or (lambda kind, **info: None)
    if image_size < 8:
        raise NetdefError(f"data: image-size must be >= 8 (got {image_size})")
    listing = list_folder(src, seed=seed)
    fingerprint = listing.fingerprint(image_size)
    os.makedirs(dst, exist_ok=True)
    with _locked(dst):
        reason = _stale_reason(dst, fingerprint, image_size)
        if reason is None:
            return PackedData(dst)
        if reason != "new":
            emit("rebuild", reason=reason, dst=dst)
        if listing.ignored:
            emit("ignored", paths=listing.ignored[:5], count=len(listing.ignored))
        pack_listing(listing, dst, image_size, workers, emit, max_bad_fraction)
        return PackedData(dst)


def _stale_reason(dst: str, fingerprint: str, image_size: int) -> str | None:
    """None when ``dst`` is valid and current, else why it must be (re)built."""
    if not os.path.exists(os.path.join(dst, "meta.json")) and not os.path.exists(
            os.path.join(dst, "train.u8")):
        return "new"
    try:
        packed = PackedData(dst)
    except CacheInvalid as exc:
        return f"the packed cache is damaged: {exc}"
    if packed.image_size != image_size:
        return f"image-size changed ({packed.image_size} -> {image_size})"
    if packed.fingerprint != fingerprint:
        return f"the source folder changed since it was packed ({packed.source})"
    return None


def _open_packed(path: str, cache: str, workers, on_event, max_bad_fraction) -> PackedData:
    """A packed folder given directly; rebuilt from its recorded source when damaged."""
    try:
        return PackedData(path)
    except CacheInvalid as exc:
        source, size, seed = _recorded_source(path)
        if source is None or not os.path.isdir(source):
            raise NetdefError(f"{path}: packed cache is damaged and its source folder is "
                              f"unknown or gone; run 'netdef prep SRC {path}' ({exc})") from None
        if on_event:
            on_event("rebuild", reason=f"the packed cache is damaged: {exc}", dst=path)
        _remove_meta(path)
        return prepare(source, path, size, seed, workers, on_event, max_bad_fraction)


def _recorded_source(path: str) -> tuple[str | None, int, int]:
    import json

    try:
        with open(os.path.join(path, "meta.json")) as f:
            meta = json.load(f)
        return str(meta["source"]), int(meta["image_size"]), int(meta.get("seed", 0))
    except (OSError, ValueError, KeyError, TypeError):
        return None, 0, 0


def _remove_meta(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(path, "meta.json"))


def builtin_folder(data: str, image_size: int, cache: str, workers: int | None) -> str:
    """The generated folder for a ``builtin:`` name (only ``shapes`` exists)."""
    name, _, query = data[len("builtin:"):].partition("?")
    if name != "shapes":
        raise NetdefError(f"data: unknown built-in data set {data!r} (known: builtin:shapes)")
    params = dict(DEFAULTS)
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in params:
            raise NetdefError(f"data: {data!r}: unknown option '{key}' "
                              f"(expected one of {', '.join(params)})")
        try:
            params[key] = int(value)
        except ValueError:
            raise NetdefError(f"data: {data!r}: '{key}' must be an integer "
                              f"(got {value!r})") from None
    if params["train"] < 1 or params["val"] < 1:
        raise NetdefError(f"data: {data!r}: 'train' and 'val' must be >= 1")
    return shapes_folder(cache, image_size, workers=workers, **params)


@contextlib.contextmanager
def _locked(dst: str):
    """An exclusive lock on ``dst`` so concurrent ranks pack once and the others wait."""
    try:
        import fcntl
    except ImportError:                           # not POSIX: no cross-process lock
        yield
        return
    with open(os.path.join(dst, ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
