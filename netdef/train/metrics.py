"""The numbers training reports, as cuda-convnet2 printed them: every cost layer by name and
value, and for a classifier (the first ``cost.logreg``) its nll and top-1 / top-5 error.

A net without a classifier (say, only a ``cost.sum2`` reconstruction cost) has costs and no
error rates: its nll and errors are None, never a cost relabelled. Ties between scores are
credited by :func:`netdef.compiler.costs.topk_credit`, the rule ``netdef eval`` uses too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from ..compiler.costs import topk_credit

TOP5 = 5
COST = "cost:"  # prefix of a cost's column in :meth:`StepResult.columns` and in sums


def scored_cost(net) -> str | None:
    """The first cost.logreg of the net (the classifier whose errors are shown), if any."""
    for name in net.cost_names:
        if name in net.cost_inputs:
            return name
    return None


def _cost_op(net, cost: str):
    step = net.steps[net.where[cost][0]]
    return net.ops[step.op_index].op, step.device


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """What one training step returns: () tensors on the device, read back only when the
    loop reports (one host sync per ``log-freq`` batches)."""

    loss: torch.Tensor                  # Σ of the costs: the value backpropagated
    costs: dict[str, torch.Tensor]      # cost layer -> coeff × batch mean (cuda-convnet2's)
    nll: torch.Tensor | None = None     # the classifier's −log p(label), batch mean, no coeff
    top1_err: torch.Tensor | None = None  # the classifier's top-1 error (tie credit)

    def detached(self) -> StepResult:
        def d(t):
            return None if t is None else t.detach()
        return replace(self, loss=d(self.loss), costs={k: d(v) for k, v in self.costs.items()},
                       nll=d(self.nll), top1_err=d(self.top1_err))

    def columns(self) -> dict[str, torch.Tensor]:
        """Every number by name, as float32 () tensors on the loss's device (the report
        stacks the steps' columns, so one read fetches them all)."""
        out = {"loss": self.loss, **{COST + k: v for k, v in self.costs.items()}}
        if self.nll is not None:
            out.update(nll=self.nll, top1_err=self.top1_err)
        return {k: v.float().reshape(()).to(self.loss.device) for k, v in out.items()}


@dataclass(frozen=True, kw_only=True)
class Averages:
    """Means over ``images`` training images (a report's window or the epoch)."""

    images: int
    loss: float
    costs: dict[str, float] = field(default_factory=dict)
    nll: float | None = None
    top1_err: float | None = None

    @classmethod
    def from_columns(cls, means: dict[str, float], images: int) -> Averages:
        """From the means of :meth:`StepResult.columns`."""
        return cls(images=images, loss=means["loss"],
                   costs={k[len(COST):]: v for k, v in means.items() if k.startswith(COST)},
                   nll=means.get("nll"), top1_err=means.get("top1_err"))

    def add_to(self, sums: dict[str, float]) -> dict[str, float]:
        """Running image-weighted sums (kept in the checkpoint) with this window added."""
        mine = {"loss": self.loss, **{COST + k: v for k, v in self.costs.items()}}
        if self.nll is not None:
            mine.update(nll=self.nll, top1_err=self.top1_err)
        out = dict(sums)
        out["images"] = out.get("images", 0) + self.images
        for k, v in mine.items():
            out[k] = out.get(k, 0.0) + self.images * v
        return out

    @classmethod
    def from_sums(cls, sums: dict[str, float]) -> Averages:
        n = max(int(sums.get("images", 0)), 1)
        means = {k: v / n for k, v in sums.items() if k != "images"}
        means.setdefault("loss", 0.0)
        return cls.from_columns(means, int(sums.get("images", 0)))


def cost_forward(net, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
    """One training pass: the costs (their sum is the loss to backpropagate) and, for a
    classifier, its nll and top-1 error, from one run of the net (``Net.run_layers`` yields
    the costs and the classifier's inputs together)."""
    cost = scored_cost(net)
    targets = list(net.cost_names) + (list(net.cost_inputs[cost]) if cost else [])
    values = net.run_layers(images, labels, targets)
    costs = {c: values[c] for c in net.cost_names}
    loss = sum(costs.values())
    if cost is None:
        return StepResult(loss=loss, costs=costs)
    lab, scores = net.cost_inputs[cost]
    op, device = _cost_op(net, cost)
    with torch.no_grad():
        errs = op.errors(values[lab].to(device), values[scores].detach().to(device))
    return StepResult(loss=loss, costs=costs, nll=errs["nll"], top1_err=errs["top1_err"])


@dataclass(frozen=True, kw_only=True)
class ValResult:
    """A test over a whole split: each cost's mean per image, and the classifier's nll,
    top-1 and top-5 error (None without a classifier)."""

    images: int
    costs: dict[str, float]
    nll: float | None = None
    top1_err: float | None = None
    top5_err: float | None = None


@torch.no_grad()
def validate(net, batches, should_stop=lambda: False, reduce=None) -> ValResult | None:
    """Every cost and the classifier's numbers over every batch (net in eval mode); None if
    stopped.

    ``reduce`` (data parallelism) maps this process's float64 sums [Σ each cost · N,
    Σ nll, Σ top-1 errors, Σ top-5 errors, images] to the sums over every rank."""
    cost = scored_cost(net)
    names = list(net.cost_names)
    targets = names + (list(net.cost_inputs[cost]) if cost else [])
    was_training = net.training
    net.eval()
    sums = None
    try:
        for images, labels in batches:
            if should_stop():
                return None
            values = net.run_layers(images, labels, targets)
            batch = _batch_sums(net, cost, names, values, images.shape[0])
            sums = batch if sums is None else sums + batch.to(sums.device)
    finally:
        net.train(was_training)
    if sums is None:
        sums = torch.zeros(len(names) + 4, dtype=torch.float64)
    if reduce is not None:
        sums = reduce(sums)
    totals = sums.tolist()
    n = max(totals[-1], 1)
    means = [t / n for t in totals[:-1]]
    costs = dict(zip(names, means[:len(names)], strict=True))
    if cost is None:
        return ValResult(images=int(totals[-1]), costs=costs)
    nll, top1, top5 = means[len(names):]
    return ValResult(images=int(totals[-1]), costs=costs, nll=nll, top1_err=top1,
                      top5_err=top5)


def _batch_sums(net, cost: str | None, names: list[str], values: dict, n: int) -> torch.Tensor:
    """float64 (costs + 4,): each cost × N, then Σ nll, Σ top-1 and top-5 errors, N."""
    device = values[names[0]].device
    parts = [values[c].double().to(device) * n for c in names]
    zero = torch.zeros((), dtype=torch.float64, device=device)
    if cost is None:
        parts += [zero, zero, zero]
    else:
        lab, scores = net.cost_inputs[cost]
        op, where = _cost_op(net, cost)
        y = values[lab].to(where).reshape(-1).long()
        logp = op.log_probs(values[scores].to(where))                       # (N, outputs)
        k = min(TOP5, logp.shape[1])
        parts += [torch.nn.functional.nll_loss(logp, y, reduction="sum").double().to(device),
                  (1 - topk_credit(logp, y, 1)).sum().to(device),
                  (1 - topk_credit(logp, y, k)).sum().to(device)]
    return torch.stack(parts + [torch.tensor(float(n), dtype=torch.float64, device=device)])
