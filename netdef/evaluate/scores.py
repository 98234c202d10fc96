"""Scores to numbers: softmax probabilities, the 10-view average, top-k credit with ties
(:func:`~netdef.compiler.costs.topk_credit`, the rule the training log uses too), nll.

Pure torch functions on (N, K) or (N, V, K) tensors, so they are tested on hand-made logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..compiler.costs import topk_credit  # the one tie rule, shared with the training log

TINY = 1e-30  # floor under a probability before its log (a zero would give an infinite nll)


def probabilities(scores: torch.Tensor, already_softmax: bool = False) -> torch.Tensor:
    """(…, K) scores -> (…, K) float64 probabilities (a softmax unless they already are)."""
    x = scores.double()
    return x if already_softmax else torch.softmax(x, dim=-1)


def average_views(probs: torch.Tensor) -> torch.Tensor:
    """(N, V, K) per-view probabilities -> (N, K): their mean, the paper's 10-crop rule (§4.1:
    "averaging the predictions made by the network's softmax layer on the ten patches")."""
    return probs.mean(dim=1)


def topk_names(probs: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best classes per row, best first, ties in class order: (values, indices)."""
    k = min(k, probs.shape[-1])
    order = torch.argsort(probs, dim=-1, descending=True, stable=True)[..., :k]
    return probs.gather(-1, order), order


@dataclass
class Totals:
    """Running sums over images: count, Σ nll, Σ top-1 credit, Σ top-5 credit."""

    images: int = 0
    nll: float = 0.0
    top1: float = 0.0
    top5: float = 0.0

    def add(self, probs: torch.Tensor, labels: torch.Tensor) -> None:
        """Add a batch of (N, K) probabilities and (N,) labels."""
        labels = labels.reshape(-1).long().to(probs.device)
        own = probs.gather(1, labels[:, None]).clamp_min(TINY)
        self.images += int(labels.shape[0])
        self.nll += float(-own.log().sum())
        self.top1 += float(topk_credit(probs, labels, 1).sum())
        self.top5 += float(topk_credit(probs, labels, 5).sum())

    def errors(self) -> dict[str, float]:
        """nll, top-1 and top-5 error (fractions) and accuracies."""
        n = max(self.images, 1)
        top1, top5 = self.top1 / n, self.top5 / n
        return {"nll": self.nll / n, "top1_err": 1 - top1, "top5_err": 1 - top5,
                "top1_acc": top1, "top5_acc": top5}
