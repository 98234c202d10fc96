"""The compiled net: steps in wavefront order over one or more devices (docs/design.md §7).

A :class:`ForwardStep` runs one op for one layer, or for a folded group of tower layers whose
outputs it stacks along dim 1 (each member a slice). Values cross devices only along layer edges,
``.to(device, non_blocking=True)`` once per tensor and destination within a forward; every
intermediate is dropped as soon as its last consumer has run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

WeightPlan = str | tuple  # a tensor name, or ("cat", dim, [WeightPlan, ...])


@dataclass(kw_only=True)
class ForwardStep:
    """One op call: ``members`` (layer names) are slices [offset, offset+size) of its output."""

    members: tuple[str, ...]
    op_index: int
    inputs: list[tuple[str, ...]]  # per op input: the layers concatenated along dim 1
    weights: list[WeightPlan]
    device: torch.device
    slices: list[tuple[int, int]]
    batch_fold: int = 1  # > 1: towers folded into the batch dim (ops without weights)
    towers_unfolded: str | None = None  # with batch_fold: the layer type's way without a copy
    is_cost: bool = False


@dataclass
class RunPlan:
    """Steps a request needs, in order, and which outputs to drop after each step."""

    order: list[int]
    release: dict[int, list[int]] = field(default_factory=dict)


class LayerOp(nn.Module):
    """An op followed by its layer's neuron (cuda-convnet's detached ``<name>_neuron``)."""

    def __init__(self, op: nn.Module, neuron: nn.Module | None):
        super().__init__()
        self.op, self.neuron = op, neuron

    def forward(self, xs: list[torch.Tensor], ws: list[torch.Tensor]) -> torch.Tensor:
        y = self.op(xs, ws)
        return y if self.neuron is None else self.neuron(y)


def join(parts: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate along dim 1; flatten first unless all parts share their trailing shape
    (channel-major flattening makes the two agree: cat of flats = flat of channel cat)."""
    if len(parts) == 1:
        return parts[0]
    if all(p.dim() == parts[0].dim() and p.shape[2:] == parts[0].shape[2:] for p in parts):
        return torch.cat(parts, dim=1)
    return torch.cat([p.flatten(1) for p in parts], dim=1)


class Forward:
    """The state of one forward: step outputs and per-device copies."""

    def __init__(self, net, images, labels):
        self.net, self.images, self.labels = net, images, labels
        self.outs: dict[int, torch.Tensor] = {}
        self.copies: dict[object, dict[tuple, torch.Tensor]] = {}  # owner -> key -> tensor
        self.transfers = 0

    def local(self, name: str) -> torch.Tensor:
        """A layer's output on its own device (a view into its step's output)."""
        if name in self.net.data_ops:
            return self.net.data_ops[name](self.images, self.labels)
        s, (offset, size) = self.net.where[name]
        y = self.outs[s]
        return y if size is None or size == y.shape[1] else y.narrow(1, offset, size)

    def _cached(self, owner, key, make) -> torch.Tensor:
        box = self.copies.setdefault(owner, {})
        if key not in box:
            box[key] = make()
        return box[key]

    def _move(self, t: torch.Tensor, device: torch.device) -> torch.Tensor:
        if t.device == device:
            return t
        self.transfers += 1
        return t.to(device, non_blocking=True)

    def on(self, name: str, device: torch.device) -> torch.Tensor:
        """A layer's output on ``device``, transferred at most once per forward."""
        owner = name if name in self.net.data_ops else self.net.where[name][0]
        return self._cached(owner, (name, device), lambda: self._move(self.local(name), device))

    def gather(self, names: tuple[str, ...], device: torch.device) -> torch.Tensor:
        """The channel concatenation of ``names`` on ``device``; free when they are exactly
        one step's members in order (a folded group's output)."""
        if len(names) > 1:
            s = self.net.where[names[0]][0] if names[0] in self.net.where else None
            if s is not None and self.net.steps[s].members == names:
                return self._cached(s, ("#all", device), lambda: self._move(self.outs[s], device))
        return join([self.on(n, device) for n in names])

    def drop(self, s: int) -> None:
        self.outs.pop(s, None)
        self.copies.pop(s, None)


def weight_tensor(plan: WeightPlan, tensors: dict[str, torch.Tensor],
                  device: torch.device) -> torch.Tensor:
    """A weight plan to a tensor on ``device``: a name, or a concatenation of plans."""
    if isinstance(plan, str):
        t = tensors[plan]
        return t if t.device == device else t.to(device)
    _, dim, parts = plan
    return torch.cat([weight_tensor(p, tensors, device) for p in parts], dim=dim)


def make_run_plan(steps: list[ForwardStep], where: dict, targets: list[str]) -> RunPlan:
    """The steps that ``targets`` need (in step order) and when each output can go."""
    needed: set[int] = set()
    stack = [where[t][0] for t in targets if t in where]
    while stack:
        s = stack.pop()
        if s in needed:
            continue
        needed.add(s)
        stack += [where[n][0] for group in steps[s].inputs for n in group if n in where]
    order = sorted(needed)
    keep = {where[t][0] for t in targets if t in where}
    last: dict[int, int] = {}
    for s in order:
        for group in steps[s].inputs:
            for n in group:
                if n in where:
                    last[where[n][0]] = s
    release: dict[int, list[int]] = {}
    for src, s in last.items():
        if src not in keep:
            release.setdefault(s, []).append(src)
    return RunPlan(order, release)
