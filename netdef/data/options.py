"""How a data source is packed: :class:`DataOptions`, one record for the library, ``netdef
prep``, training and evaluation, built from the experiment file's data keys."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from ..errors import NetdefError
from ..schema.data_keys import BadLimit, parse_bad_limit, parse_channels, parse_class_names

VAL_FRACTION = 0.1       # share of each class held out for validation (no split of its own)
DEFAULT_MAX_BAD = "1%"


@dataclass(frozen=True, kw_only=True)
class DataOptions:
    """Everything that decides what a pack holds (and so where it is cached).

    ``image_size``: packed side in pixels (shorter side scaled to it, then the centre square).
    ``channels``: ``"auto"`` (1 when every image is grayscale, else 3), 1 or 3.
    ``seed`` and ``val_fraction``: the seeded, per-class validation hold-out, for data without
    a validation split of its own. ``max_bad``: undecodable images a pack may skip.
    ``class_names``: readable names in label order (else ``labels.txt``, else folder names).
    ``label_set``: CIFAR-100's ``"fine"`` or ``"coarse"`` labels.
    """

    image_size: int = 256
    channels: Literal["auto", 1, 3] = "auto"
    seed: int = 0
    val_fraction: float = VAL_FRACTION
    max_bad: BadLimit = BadLimit(percent=1.0)
    class_names: tuple[str, ...] | None = None
    label_set: Literal["fine", "coarse"] = "fine"

    def __post_init__(self) -> None:
        if self.image_size < 8:
            raise NetdefError(f"data: image-size must be >= 8 (got {self.image_size})")
        if not 0 < self.val_fraction < 1:
            raise NetdefError(f"data: val-fraction must be between 0 and 1 "
                              f"(got {self.val_fraction})")
        if self.label_set not in ("fine", "coarse"):
            raise NetdefError(f"data: label-set must be fine or coarse (got {self.label_set!r})")

    @classmethod
    def make(cls, **values: Any) -> DataOptions:
        """From loose values (the command line's, the library caller's): ``max_bad`` as text
        or a :class:`BadLimit`, ``channels`` as text or int, ``class_names`` as a
        comma-separated string or a sequence; ``None`` keeps a default."""
        kept = {k: v for k, v in values.items() if v is not None}
        try:
            if "max_bad" in kept:
                kept["max_bad"] = parse_bad_limit(kept["max_bad"])
            if "channels" in kept:
                kept["channels"] = parse_channels(kept["channels"])
            if "class_names" in kept:
                kept["class_names"] = parse_class_names(kept["class_names"])
        except ValueError as exc:
            raise NetdefError(f"data: {exc}") from None
        return cls(**kept)

    @classmethod
    def from_experiment(cls, exp: Any) -> DataOptions:
        """From a validated Experiment or the experiment record a run saved (dashed keys);
        keys an older record lacks keep their defaults."""
        get = (lambda k: exp.get(k.replace("_", "-"))) if isinstance(exp, dict) else (
            lambda k: getattr(exp, k, None))
        return cls.make(**{k: get(k) for k in ("image_size", "channels", "seed",
                                                "val_fraction", "max_bad", "class_names",
                                                "label_set")})

    def with_(self, **changes: Any) -> DataOptions:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def cache_key(self) -> str:
        """What, besides the source path, names the cache folder: one folder per setting that
        changes which images or pixels a pack holds (class names change only its meta)."""
        return (f"{self.image_size}\0{self.channels}\0{self.seed}\0{self.val_fraction!r}\0"
                f"{self.label_set}")


AUTO_WORKERS = 2  # loader worker processes that ``workers = auto`` means where it means any


def resolve_workers(setting: int | str, *, cpu_only: bool, cpus: int) -> int:
    """The loader worker processes for ``workers`` (a count, or "auto"): auto means none when
    every device is the CPU and this process has at most 2 CPUs (``cpus``), else
    :data:`AUTO_WORKERS`. On two cores, workers take CPU from the step's two compute threads;
    loading a packed cache in the training process ran the quickstart 14 % faster end to end
    (docs/performance.md "Loader workers: once per run")."""
    if setting != "auto":
        return int(setting)
    return 0 if cpu_only and cpus <= 2 else AUTO_WORKERS
