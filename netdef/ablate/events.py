"""What ``netdef ablate`` reports while it runs, as plain dataclasses for an ``on_event``
callback. The training events of each run (:mod:`netdef.train.events`) pass through unchanged
between a :class:`RunStarted` and its :class:`RunDone`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, kw_only=True)
class RunStarted:
    """Run ``index`` of ``total`` (1-based): a new run, a resumed one, or a finished one reused."""

    index: int
    total: int
    variant: str
    seed: int
    folder: str
    action: Literal["train", "resume", "reuse"]


@dataclass(frozen=True, kw_only=True)
class RunDone:
    """A run's final numbers (fractions; None when the net has no classifier cost)."""

    variant: str
    seed: int
    val_top1: float | None
    seconds: float | None


@dataclass(frozen=True, kw_only=True)
class ViewsScored:
    """A base checkpoint scored on its centre crop and on the ten views (top-1 error)."""

    seed: int
    folder: str
    one_view: float
    ten_views: float
    seconds: float


@dataclass(frozen=True, kw_only=True)
class ReportWritten:
    """``ablate.json``, ``ablate.md`` and the pictures, written into the ablate folder."""

    json: str
    markdown: str
    pictures: tuple[str, ...]
