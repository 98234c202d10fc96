"""What a checkpoint holds and how it is put back: progress, weights, momenta.

No generator state is saved: every random stream is keyed by the seed and a position
(:mod:`netdef.train.streams`), so a resume draws the same numbers without one."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from ..checkpoint import Checkpoint
from .rundir import versions


@dataclass(kw_only=True)
class TrainState:
    """Where training stands. ``epoch`` counts completed epochs, ``batch`` the batches done in
    the epoch after them, ``step`` all batches done."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    # top-1 error per test (a net without a classifier: its validation cost): drives plateau
    val_errors: list[float] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)  # every test record
    best_top1: float = math.inf
    pending_test: bool = False  # an epoch ended whose test was interrupted
    # image-weighted sums since the last test: "images", "loss", "cost:<layer>", "nll", …
    train_sums: dict[str, float] = field(default_factory=dict)
    scaler: dict | None = None  # fp16's GradScaler (scale, growth tracker), plain numbers
    diverging_since: int | None = None  # the step at which the divergence warning began
    # {"file" (in the run folder), "step"}: the last checkpoint written before that warning
    safe_checkpoint: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["best_top1"] = None if math.isinf(self.best_top1) else self.best_top1
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainState:
        d = dict(d)
        d["best_top1"] = math.inf if d.get("best_top1") is None else d["best_top1"]
        if not isinstance(d.get("train_sums", {}), dict):  # before costs by name: [n, Σnll, Σerr]
            n, nll, err = (list(d["train_sums"]) + [0, 0.0, 0.0])[:3]
            d["train_sums"] = {"images": n, "loss": nll, "nll": nll, "top1_err": err} if n else {}
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", copy=True)


def _array(x) -> torch.Tensor | None:
    return None if x is None else torch.as_tensor(np.asarray(x)).clone()


def make_checkpoint(net, opt, state: TrainState, *, texts: dict[str, str],
                    paths: dict[str, str | None], experiment: dict, dataset) -> Checkpoint:
    """Everything a resume, ``netdef eval`` or ``show-filters`` needs, copied to the CPU."""
    return Checkpoint(
        definition=texts.get("def", ""),
        params=texts.get("params", ""),
        definition_path=paths.get("definition"),
        params_path=paths.get("params"),
        experiment=experiment,
        input_size=int(net.checked.input_size),
        classes=list(map(str, dataset.class_names)),
        channels=int(dataset.channels),
        mean=_array(dataset.mean),
        eigval=_array(dataset.eigval),
        eigvec=_array(dataset.eigvec),
        weights={k: _cpu(v) for k, v in net.state_dict().items()},
        momentum={k: _cpu(v) for k, v in opt.momentum_buffers().items()},
        rates={k: float(v) for k, v in opt.rates().items()},
        state=state.to_dict(),
        versions=versions(),
    )
