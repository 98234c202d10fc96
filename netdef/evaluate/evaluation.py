"""Evaluation the paper's way: the whole validation set, one centre crop or ten views
(Krizhevsky et al. 2012, §4.1).

    model = netdef.load_model("runs/quickstart/ckpt.pt")
    result = evaluate(model, open_eval_data(model), crops=10)
    print(result.top1_err, result.one_crop.top1_err)

Progress goes to ``on_event`` as :class:`EvalProgress`; nothing is printed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from ..data.events import OnEvent, ignore
from ..errors import NetdefError
from .model import LoadedModel, check_classifier
from .scores import Totals, average_views, probabilities

CENTRE_VIEW = 4  # data.augment.ten_views: four corners, then the centre, then the mirrors


@dataclass(frozen=True)
class EvalProgress:
    """``done`` of ``total`` images evaluated (or features written)."""

    done: int
    total: int


@dataclass(kw_only=True)
class EvalResult:
    """Error rates (fractions) over ``images`` images; ``one_crop`` holds the centre-crop
    numbers of the same pass when ``crops`` > 1."""

    images: int
    crops: int
    top1_err: float
    top5_err: float
    top1_acc: float
    top5_acc: float
    nll: float
    seconds: float = 0.0
    one_crop: EvalResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        out = {k: getattr(self, k) for k in ("images", "crops", "top1_err", "top5_err",
                                               "top1_acc", "top5_acc", "nll", "seconds")}
        if self.one_crop is not None:  # the same pass: its time is this one's
            out["one_crop"] = {k: v for k, v in self.one_crop.to_dict().items() if k != "seconds"}
        return out


def outputs_are_probabilities(model: LoadedModel) -> bool:
    """True when the net's output layer is itself a softmax (a net without a logreg cost)."""
    return model.checked.layers[model.net.output].type == "softmax"


@torch.no_grad()
def view_probabilities(model: LoadedModel, x: torch.Tensor, chunk: int) -> torch.Tensor:
    """(N, 3, s, s) or (N, V, 3, s, s) inputs -> (N, K) or (N, V, K) float64 probabilities,
    run through the net ``chunk`` views at a time."""
    lead = x.shape[:-3]
    flat = x.reshape(-1, *x.shape[-3:])                                   # (N·V, 3, s, s)
    soft = outputs_are_probabilities(model)
    parts = [probabilities(model.net(flat[i:i + chunk]).cpu(), soft)
             for i in range(0, flat.shape[0], max(1, chunk))]
    probs = torch.cat(parts)                                              # (N·V, K)
    return probs.reshape(*lead, probs.shape[-1])


def evaluate(model: LoadedModel, dataset, *, crops: int = 1, batch_size: int = 128,
             on_event: OnEvent = ignore, workers: int = 0,
             split: str = "val") -> EvalResult:
    """nll, top-1 and top-5 error over every image of ``split`` (``val``, the split the net
    was chosen on; ``test``, kept for final numbers, when the data has one); with
    ``crops=10`` the softmax probabilities of the ten views are averaged and the centre view
    is scored alongside. A net without a classifier raises NetdefError
    (:func:`check_classifier`)."""
    from ..data import val_loader

    check_classifier(model, "eval")
    if crops not in (1, 10):
        raise NetdefError(f"crops must be 1 or 10 (got {crops})")
    t0 = time.perf_counter()
    batches = val_loader(dataset, batch_size, model.input_size, crops=crops, workers=workers,
                         device=model.input_device, split=split)
    total, many, centre = dataset.count(split), Totals(), Totals()
    for x, labels in batches:
        probs = view_probabilities(model, x, batch_size)
        if crops > 1:
            centre.add(probs[:, CENTRE_VIEW], labels)                    # (N, K) centre view
            probs = average_views(probs)                                  # (N, 10, K) -> (N, K)
        many.add(probs, labels)
        on_event(EvalProgress(many.images, total))
    seconds = time.perf_counter() - t0
    one = _result(centre, 1, seconds) if crops > 1 else None
    return _result(many, crops, seconds, one)


def _result(totals: Totals, crops: int, seconds: float, one: EvalResult | None = None
            ) -> EvalResult:
    e = totals.errors()
    return EvalResult(images=totals.images, crops=crops, top1_err=e["top1_err"],
                      top5_err=e["top5_err"], top1_acc=e["top1_acc"], top5_acc=e["top5_acc"],
                      nll=e["nll"], seconds=seconds, one_crop=one)
