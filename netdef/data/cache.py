"""From a ``data`` value to a validated pack: :func:`open_dataset` and :func:`pack_dataset`.

``data`` is an image folder, IDX files, CIFAR batches, a pack made by ``netdef prep`` (a folder
with ``meta.json``) or ``builtin:shapes[?classes=10&train=500&val=100&seed=0]``. Sources are
packed on first use under ``<cache>/packed/<name>-<size>-<key>/`` (``<cache>`` is
``$NETDEF_CACHE`` or ``~/.cache/netdef``; the key covers every option that changes the pixels)
and reused while the source and the options are unchanged. A changed source, or a pack found
truncated or edited, is packed again (a :class:`CacheRebuilt` event); changed class names
(``labels.txt``, ``class-names``) only rewrite the pack's ``meta.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from urllib.parse import parse_qsl

from ..errors import NetdefError
from .builtin_shapes import DEFAULTS, shapes_folder
from .events import CacheRebuilt, DataNote, PackDone, ignore
from .options import DataOptions
from .pack_reader import CacheInvalid, PackedData
from .sources import Source, find_source
from .writer import Staging, check_destination, locked, replace_meta, write_meta

_NAMES_ONLY = "class names changed"


def cache_root(cache_dir: str | None = None) -> str:
    """``cache_dir``, else ``$NETDEF_CACHE``, else ``~/.cache/netdef``."""
    root = cache_dir or os.environ.get("NETDEF_CACHE") or os.path.join("~", ".cache", "netdef")
    return os.path.abspath(os.path.expanduser(root))


def _options(options: DataOptions | None, values: dict) -> DataOptions:
    if options is None:
        return DataOptions.make(**values)
    if values:
        return DataOptions.make(**{**_record(options), **values})
    return options


def open_dataset(data: str, *, options: DataOptions | None = None,
                 cache_dir: str | None = None, workers: int | None = None, on_event=None,
                 **values) -> PackedData:
    """The pack for ``data``, packing (or generating, for ``builtin:``) on first use.
    ``options`` or loose ``values`` (``image_size=64, channels=1, max_bad="5"``…, see
    :class:`DataOptions`) say how. Events go to ``on_event``; bad data raises NetdefError."""
    options = _options(options, values)
    cache = cache_root(cache_dir)
    if data.startswith("builtin:"):
        data = builtin_folder(data, options.image_size, cache, workers)
    path = os.path.abspath(os.path.expanduser(data))
    if os.path.isfile(os.path.join(path, "meta.json")):
        return _open_packed(path, options, workers, on_event)
    key = hashlib.sha256(f"{path}\0{options.cache_key()}".encode("utf-8", "surrogateescape")
                         ).hexdigest()[:12]
    name = os.path.basename(path.rstrip(os.sep)) or "root"
    dst = os.path.join(cache, "packed", f"{name}-{options.image_size}-{key}")
    return pack_dataset(path, dst, options=options, workers=workers, on_event=on_event)


def pack_dataset(src: str, dst: str, *, options: DataOptions | None = None,
                 workers: int | None = None, on_event=None, **values) -> PackedData:
    """Pack ``src`` into ``dst`` unless ``dst`` already holds a valid, current pack of it.
    The pack is written beside ``dst`` under a temporary name and renamed when whole; a
    ``dst`` holding files other than a pack's is refused."""
    options = _options(options, values)
    emit = on_event or ignore
    source = find_source(src, options)
    dst = os.path.realpath(os.path.expanduser(dst))   # a symlinked dst: pack where it points
    check_destination(dst)
    with locked(dst):
        reason = _stale_reason(dst, source, options)
        if reason is None:
            return PackedData(dst)
        if reason == _NAMES_ONLY:
            return _rename_classes(dst, source, emit)
        if reason != "new":
            emit(CacheRebuilt(dst=dst, reason=reason))
        with Staging(dst) as stage:
            packed = source.pack(stage.tmp, options, dst, workers, emit)
            write_meta(stage.tmp, packed, source=source.root, layout=source.layout,
                       fingerprint=source.content, options=_record(options),
                       classes=source.classes, class_names=source.class_names)
            stage.commit()
    ds = PackedData(dst)
    emit(PackDone(dst=dst, train=ds.num_train, val=ds.num_val, test=ds.num_test,
                  skipped=ds.meta["skipped"]["count"], channels=ds.channels,
                  channels_reason=ds.meta["channels_reason"]))
    return ds


def _record(options: DataOptions) -> dict:
    """The options as plain data for meta.json."""
    return {"image_size": options.image_size, "channels": options.channels,
            "seed": options.seed, "val_fraction": options.val_fraction,
            "max_bad": options.max_bad.text(),
            "class_names": list(options.class_names) if options.class_names else None,
            "label_set": options.label_set}


def _stale_reason(dst: str, source: Source, options: DataOptions) -> str | None:
    """None when ``dst`` holds a valid, current pack of ``source``; else why it must be packed
    (``"new"`` when there is none, ``_NAMES_ONLY`` when only the class names differ)."""
    if not os.path.isdir(dst) or not (set(os.listdir(dst)) - {".lock"}):
        return "new"
    try:
        packed = PackedData(dst)
    except CacheInvalid as exc:
        return f"the pack cannot be used: {exc}"
    if packed.fingerprint != source.content:
        before = packed.meta.get("options") or {}
        now = _record(options)
        for key in ("image_size", "channels", "seed", "val_fraction", "label_set"):
            if key in before and before[key] != now[key]:
                return f"{key.replace('_', '-')} changed ({before[key]} -> {now[key]})"
        return f"the source changed since it was packed ({packed.source})"
    if packed.classes != source.classes:
        return "the classes changed since it was packed"
    if packed.class_names != source.class_names:
        return _NAMES_ONLY
    return None


def _rename_classes(dst: str, source: Source, emit) -> PackedData:
    """Only the readable class names changed: rewrite meta.json, keep the pixels."""
    meta = dict(PackedData(dst).meta)
    changed = sum(a != b for a, b in zip(meta["class_names"], source.class_names, strict=False))
    meta["class_names"] = source.class_names
    meta.pop("checksum", None)
    replace_meta(dst, meta)
    emit(DataNote(message=f"class names changed (labels.txt or class-names): {changed} "
                          f"renamed in {dst}"))
    return PackedData(dst)


def _open_packed(path: str, options: DataOptions, workers, on_event) -> PackedData:
    """A pack given directly; packed again from its recorded source when damaged."""
    try:
        ds = PackedData(path)
    except CacheInvalid as exc:
        source, recorded = _recorded(path)
        if source is None or not os.path.exists(source):
            raise NetdefError.at(path, f"the pack cannot be used and its source is unknown or "
                                 f"gone; run 'netdef prep SRC {path}' ({exc})") from None
        return pack_dataset(source, path, options=recorded, workers=workers, on_event=on_event)
    if options.channels != "auto" and ds.channels != options.channels:
        raise NetdefError.at(path, f"the pack has {ds.channels} channel(s) but channels = "
                             f"{options.channels}; pack it again with 'netdef prep "
                             f"{ds.source} {path} --channels {options.channels}'")
    if options.class_names is not None and list(options.class_names) != ds.class_names:
        raise NetdefError.at(path, "class-names differs from the pack's class names; give "
                             "class-names when packing ('netdef prep … --class-names'), or "
                             "remove the key")
    return ds


def _recorded(path: str) -> tuple[str | None, DataOptions | None]:
    """The source path and options recorded in a (damaged) pack's meta.json."""
    try:
        with open(os.path.join(path, "meta.json")) as f:
            meta = json.load(f)
        recorded = meta.get("options") or {"image_size": meta["image_size"],
                                           "seed": meta.get("seed", 0)}
        return str(meta["source"]), DataOptions.make(**recorded)
    except (OSError, ValueError, KeyError, TypeError, NetdefError):
        return None, None


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
