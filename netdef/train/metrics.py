"""The numbers cuda-convnet prints for a logreg cost: nll, top-1 and top-5 error, from one
forward pass that also yields the training loss."""

from __future__ import annotations

import math
import torch

TOP5 = 5


def scored_cost(net) -> str | None:
    """The first cost.logreg of the net (the one whose numbers are shown), if any."""
    for name in net.cost_names:
        if name in net.cost_inputs:
            return name
    return None


def _cost_op(net, cost: str):
    step = net.steps[net.where[cost][0]]
    return net.ops[step.op_index].op, step.device


def train_forward(net, images: torch.Tensor, labels: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """One training pass: the loss (Σ of coeff-scaled costs, for backward) and a detached
    (2,) tensor [nll, top-1 error] of the shown cost (nan when the net has no logreg)."""
    cost = scored_cost(net)
    if cost is None:
        loss = sum(net.costs(images, labels).values())
        nan = torch.tensor(math.nan, device=loss.device)
        return loss, torch.stack([loss.detach().float(), nan])
    lab, scores = net.cost_inputs[cost]
    # Net.run_layers computes the costs and the shown cost's inputs in one pass (net.costs and
    # net.evaluate_costs would each run the whole net).
    values = net.run_layers(images, labels, list(net.cost_names) + [lab, scores])
    loss = sum(values[c] for c in net.cost_names)
    op, device = _cost_op(net, cost)
    with torch.no_grad():
        errs = op.errors(values[lab].to(device), values[scores].detach().to(device))
    return loss, torch.stack([errs["nll"].float(), errs["top1_err"].float()])


@torch.no_grad()
def evaluate(net, batches, should_stop=lambda: False, reduce=None
             ) -> tuple[float, float, float] | None:
    """nll, top-1 and top-5 error over every batch (net in eval mode); None if stopped.

    ``reduce`` (data parallelism) maps this process's float64 (4,) [Σ nll, Σ top-1 errors,
    Σ top-5 errors, images] to the sums over every rank."""
    cost = scored_cost(net)
    if cost is None:
        return None
    lab, scores = net.cost_inputs[cost]
    op, device = _cost_op(net, cost)
    was_training = net.training
    net.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    n = 0
    try:
        for images, labels in batches:
            if should_stop():
                return None
            values = net.run_layers(images, labels, [lab, scores])
            y = values[lab].to(device).reshape(-1).long()
            logp = op.log_probs(values[scores].to(device))  # (N, outputs)
            top = logp.topk(min(TOP5, logp.shape[1]), dim=1).indices  # (N, 5)
            hit = top == y[:, None]
            sums += torch.stack([torch.nn.functional.nll_loss(logp, y, reduction="sum").double(),
                                 (~hit[:, 0]).sum().double(), (~hit.any(1)).sum().double()])
            n += y.shape[0]
    finally:
        net.train(was_training)
    totals = torch.cat([sums, torch.tensor([float(n)], dtype=torch.float64, device=device)])
    if reduce is not None:
        totals = reduce(totals)
    nll, top1, top5 = (totals[:3] / max(totals[3].item(), 1)).tolist()
    return nll, top1, top5
