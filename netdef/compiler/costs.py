"""Builders of the cost layers (cuda-convnet ``CostLayer``, ``layer.cu``). Each returns
``coeff × (cost summed over the batch) / N``: a scalar whose sum over costs is the training loss.

cost.logreg and cost.crossent read a softmax; when that softmax has no neuron the compiler
hands them the softmax's *input* scores instead, and they use log_softmax (the same value as
log of the softmax, without underflow). Otherwise they take log of the probabilities with
cuda-convnet's safelog (log x for x > 0, else −50).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..check import LayerInfo
from ..schema import layers as L
from .registry import Built, register

SAFELOG_FLOOR = -50.0


def safelog(p: torch.Tensor) -> torch.Tensor:
    """cuda-convnet's safelog: log p where p > 0, −50 elsewhere."""
    return torch.where(p > 0, torch.log(p.clamp(min=1e-300 if p.dtype == torch.float64 else 1e-38)),
                       torch.full_like(p, SAFELOG_FLOOR))


class CostOp(nn.Module):
    """Base: ``from_scores`` says xs[1] holds softmax inputs rather than probabilities."""

    def __init__(self, coeff: float, from_scores: bool = False):
        super().__init__()
        self.coeff, self.from_scores = coeff, from_scores

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (N, classes)
        return F.log_softmax(x, dim=1) if self.from_scores else safelog(x)


class LogRegOp(CostOp):
    """coeff · mean over the batch of −log p(label) (multinomial logistic regression)."""

    def __init__(self, coeff: float, topk: int, from_scores: bool = False):
        super().__init__(coeff, from_scores)
        self.topk = topk

    def forward(self, xs, ws):
        labels = xs[0].reshape(-1).long()  # (N,)
        nll = F.nll_loss(self.log_probs(xs[1]), labels)
        return self.coeff * nll

    def errors(self, labels: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """nll (no coeff), top-1 and top-k error rates of one batch, ties credited as
        :func:`topk_credit` says."""
        labels = labels.reshape(-1).long()
        logp = self.log_probs(x)
        return {"nll": F.nll_loss(logp, labels),
                "top1_err": 1.0 - topk_credit(logp, labels, 1).mean(),
                "topk_err": 1.0 - topk_credit(logp, labels, self.topk).mean()}


def topk_credit(scores: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """float64 (N,) in [0, 1]: how much image n counts as a top-``k`` hit, from (N, K)
    ``scores`` (any order-preserving form: scores, log-probabilities, probabilities).

    The one tie rule of netdef (the training log, the validation test, ``netdef eval``):
    cuda-convnet2's logreg kernel (``kLogregCost``), the chance of a hit when ties are broken
    at random. With h classes scoring strictly higher than the true one and e scoring equal
    (itself included), the credit is 1 when h + e ≤ k, (k − h) / e when h < k < h + e, and 0
    when h ≥ k. So all-equal scores over K classes give top-1 credit 1/K, never 0 or 1."""
    labels = labels.reshape(-1).long().to(scores.device)
    own = scores.gather(1, labels[:, None])                                  # (N, 1)
    higher = (scores > own).sum(1)                                           # (N,)
    equal = (scores == own).sum(1)                                           # (N,) incl. itself
    slots = (k - higher).clamp(min=0).double()
    return torch.minimum(slots / equal.double(), torch.ones_like(slots))


@register("cost.logreg")
def build_logreg(layer: L.LogReg, info: LayerInfo) -> Built:
    return Built(LogRegOp(layer.coeff, layer.topk))


class Sum2Op(CostOp):
    """coeff · mean over the batch of Σ x² (no ½; cuda-convnet SumOfSquaresCostLayer)."""

    def forward(self, xs, ws):
        x = xs[0].flatten(1)
        return self.coeff * (x * x).sum() / x.shape[0]


@register("cost.sum2")
def build_sum2(layer: L.Sum2, info: LayerInfo) -> Built:
    return Built(Sum2Op(layer.coeff))


class CrossEntOp(CostOp):
    """coeff · mean over the batch of −Σ_l t_l · log y_l (t: a label matrix, y: a softmax)."""

    def forward(self, xs, ws):
        t = xs[0].flatten(1).to(xs[1].dtype)
        return self.coeff * -(t * self.log_probs(xs[1])).sum() / t.shape[0]


@register("cost.crossent")
def build_crossent(layer: L.CrossEnt, info: LayerInfo) -> Built:
    return Built(CrossEntOp(layer.coeff))


class BceOp(CostOp):
    """coeff · mean over the batch of −Σ [posWeight·t·log y + (1 − t)·log(1 − y)], safelog."""

    def __init__(self, coeff: float, pos_weight: float):
        super().__init__(coeff)
        self.pos_weight = pos_weight

    def forward(self, xs, ws):
        y = xs[1].flatten(1)
        t = xs[0].flatten(1).to(y.dtype)
        ll = self.pos_weight * t * safelog(y) + (1 - t) * safelog(1 - y)
        return self.coeff * -ll.sum() / y.shape[0]


@register("cost.bce")
def build_bce(layer: L.Bce, info: LayerInfo) -> Built:
    return Built(BceOp(layer.coeff, layer.pos_weight))
