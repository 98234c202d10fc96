"""What the training loop reports, as plain dataclasses handed to an ``on_event`` callback.

The library never prints: the CLI renders these with rich (docs/design.md §10), a notebook or
a test may collect them. Data events (packing the data: :mod:`netdef.data.events`) pass through
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..data.events import OnEvent, ignore

__all__ = ["OnEvent", "ignore", "Message", "Started", "EpochStarted", "BatchDone",
           "StopRequested", "Progress", "Health", "Tested", "Checkpointed", "Finished"]


@dataclass(frozen=True)
class Message:
    """A note, warning or info line (more outputs than classes, a stuck loss, skipped layers…)."""

    text: str
    severity: Literal["info", "note", "warning"] = "info"


@dataclass(frozen=True, kw_only=True)
class Started:
    """Training begins (or resumes) at ``step`` of ``total_steps``."""

    run_dir: str
    epochs: int
    batches_per_epoch: int
    batch_size: int
    step: int
    total_steps: int
    devices: tuple[str, ...]
    resumed: bool
    num_train: int
    num_val: int
    classes: int | None  # the classifier's classes; None: the net has no classifier
    outputs: int
    params: int
    rate_of: str = ""  # whose rate Progress.rate is, in cuda-convnet's terms ("conv1 epsW")


@dataclass(frozen=True)
class EpochStarted:
    epoch: int  # 1-based
    start_batch: int  # batches already done in this epoch (resume)
    batches: int


@dataclass(frozen=True, kw_only=True)
class BatchDone:
    """One more batch trained. Sent after every batch, before its numbers are read back from
    the device (that happens for :class:`Progress`, every ``log-freq`` batches), so it costs
    no host synchronisation: it only moves a progress bar."""

    epoch: int  # 1-based
    batch: int  # batches done in this epoch
    batches: int
    step: int  # batches done in the run
    total_steps: int


@dataclass(frozen=True)
class StopRequested:
    """Ctrl-C or SIGTERM arrived (``signal``: its number; None when a caller asked): the loop
    stops after the batch in flight, saves a checkpoint and ends."""

    signal: int | None


@dataclass(frozen=True, kw_only=True)
class Progress:
    """Averages over the batches since the last Progress (every ``log-freq`` batches).

    ``costs`` holds every cost layer by name: coeff × its batch mean, as cuda-convnet2
    printed them. ``nll`` and ``top1_err`` are the classifier's (the first cost.logreg: nll
    without its coeff, top-1 error as a fraction) and None when the net has none."""

    epoch: int
    batch: int  # batches done in this epoch
    batches: int
    step: int  # batches done in the run
    total_steps: int
    nll: float | None
    top1_err: float | None
    rate: float  # eps of the first trainable weight (named by Started.rate_of)
    images_per_s: float
    eta_s: float
    costs: dict[str, float] = field(default_factory=dict)
    loss: float = float("nan")  # Σ of the costs: the value backpropagated


@dataclass(frozen=True)
class Health:
    """cuda-convnet's health line for one weight: mean |w| and mean |Δw| of the last update."""

    name: str
    mean_abs_w: float
    mean_abs_dw: float


@dataclass(frozen=True, kw_only=True)
class Tested:
    """A test on the whole validation set, with the training averages of the same epochs.

    ``val_costs`` / ``train_costs``: every cost layer by name (coeff × mean per image). The
    nll and error fields are the classifier's and None when the net has no cost.logreg."""

    epoch: int
    step: int
    val_nll: float | None
    val_top1: float | None
    val_top5: float | None
    train_nll: float | None
    train_top1: float | None
    best: bool
    seconds: float
    health: tuple[Health, ...] = field(default_factory=tuple)
    val_costs: dict[str, float] = field(default_factory=dict)
    train_costs: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Checkpointed:
    path: str
    step: int
    reason: Literal["test", "end", "interrupt"]


@dataclass(frozen=True, kw_only=True)
class Finished:
    """The run ended: completed, or interrupted (Ctrl-C / SIGTERM; a checkpoint was written)."""

    run_dir: str
    step: int
    interrupted: bool
    best_val_top1: float | None
    last_val_top1: float | None
    seconds: float
