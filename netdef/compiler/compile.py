"""``compile_net``: a checked net to a :class:`~netdef.compiler.net.Net` on real devices."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..check import CheckedNet
from ..errors import NetdefError
from ..schema import SCORED_COSTS
from ..schema.shapes import numel
from . import costs, ops, ops_image, ops_norm, ops_pool, ops_simple  # noqa: F401 (they register builders)
from .fold import Group, group_inputs, merged_layer, plan_groups, weight_plans
from .graph import ForwardStep, LayerOp
from .net import Net
from .ops import StackedFcOp
from .ops_simple import neuron_op
from .registry import Built, builder_for
from .vecmath import settle_vector_math


def device_names(devices: str | Sequence[str], logical: int) -> list[str]:
    """The ``devices`` key or ``--devices``: ``auto`` (one GPU per logical device when there
    are enough, folded onto fewer, else MPS or the CPU), one device for all, or a comma list
    (docs/language-guide.md "Devices"); a sequence is taken as given."""
    if not isinstance(devices, str):
        return [str(d) for d in devices]
    if devices.strip().lower() != "auto":
        return [d.strip() for d in devices.split(",") if d.strip()]
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus >= logical:
        return [f"cuda:{k}" for k in range(logical)]
    if gpus:  # fewer GPUs than towers: fold them evenly
        return [f"cuda:{k * gpus // logical}" for k in range(logical)]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return ["mps"]
    return ["cpu"]


def resolve_devices(checked: CheckedNet, devices) -> list[torch.device]:
    """One real device per logical device: a list of that length, or one device for all."""
    n = checked.num_devices
    given = [devices] if isinstance(devices, (str, torch.device)) else list(devices)
    # one device for all: a single entry, repeated entries up to n, or the ("cpu", "cpu") default
    if len(set(map(str, given))) == 1 and (len(given) <= n or len(given) <= 2):
        given = given[:1] * n
    if len(given) != n:
        raise NetdefError(
            f"{checked.spec.path}: the net uses {n} logical device(s) "
            f"(gpu=0..{n - 1}); got {len(given)} devices ({', '.join(map(str, given))}); "
            f"give one per logical device, or a single device for all"
        )
    out = []
    for d in given:
        try:
            dev = torch.device(d)
        except RuntimeError as exc:
            raise NetdefError(f"'{d}' is not a device ({exc})") from None
        if dev.type == "cuda":
            if not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count():
                raise NetdefError(f"device '{d}' does not exist on this machine")
            dev = torch.device(
                "cuda", dev.index if dev.index is not None else torch.cuda.current_device()
            )
        out.append(dev)
    return out


def _draw(spec, generator: torch.Generator) -> torch.Tensor:
    if spec.kind == "weight":
        return torch.randn(spec.shape, generator=generator) * spec.std  # initW · N(0, 1)
    if spec.kind == "bias":
        return torch.full(spec.shape, float(spec.const))
    channels, n = int(spec.const), spec.shape[0]
    count = -(-n // channels)
    perms = [torch.randperm(channels, generator=generator) for _ in range(count)]
    return torch.cat(perms)[:n]


def init_tensors(checked: CheckedNet, built: dict[str, Built], place: list[torch.device],
                 seed: int) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Draw every owned tensor in file order from one seeded generator; returns the tensors
    and the aliases of shared ones (weightSource) to their owners' names."""
    generator = torch.Generator().manual_seed(seed)
    tensors, alias = {}, {}
    for name, b in built.items():
        device = place[checked.layers[name].device or 0]
        for spec in b.tensors:
            key = f"{name}.{spec.suffix}"
            if spec.source:
                alias[key] = spec.source
                continue
            t = _draw(spec, generator).to(device)
            tensors[key] = nn.Parameter(t) if spec.kind != "perm" else t
    for key in list(alias):
        owner = alias[key]
        while owner in alias:
            owner = alias[owner]
        alias[key] = owner
    return tensors, alias


def _depths(checked: CheckedNet) -> dict[str, int]:
    depth: dict[str, int] = {}
    for name, info in checked.layers.items():
        depth[name] = 1 + max((depth[s] for s in info.inputs), default=-1)
    return depth


def output_layer(checked: CheckedNet) -> str:
    """The layer feeding the softmax read by the first logreg/crossent cost, else the last
    non-cost layer."""
    for layer in checked.spec.layers.values():
        if layer.type in SCORED_COSTS:
            probs = checked.layer(layer.inputs[1])
            return probs.inputs[0]
    return [n for n, i in checked.layers.items() if not i.type.startswith("cost.")][-1]


def _cost_wiring(checked: CheckedNet, name: str, op) -> list[tuple[str, ...]]:
    """Cost inputs; logreg/crossent read the softmax's input scores when the softmax is plain."""
    layer = checked.layer(name)
    inputs = [(s,) for s in layer.inputs]
    if layer.type in SCORED_COSTS:
        probs = checked.layer(layer.inputs[1])
        if probs.neuron is None or probs.neuron.kind == "ident":
            op.from_scores = True
            inputs[1] = (probs.inputs[0],)
    return inputs


def compile_net(checked: CheckedNet, devices: Sequence | str = ("cpu", "cpu"), fold: bool = True,
                seed: int = 0) -> Net:
    """Compile a checked net: logical device k runs on ``devices[k]``; towers that share a
    device are folded into grouped ops when ``fold``; weights drawn from ``seed``."""
    if not isinstance(checked, CheckedNet):
        raise NetdefError(
            f"compile_net takes a checked net (netdef.load(...)); got {type(checked).__name__}"
        )
    settle_vector_math()  # before any layer runs a VML function on several threads
    real = resolve_devices(checked, devices)
    built = {n: builder_for(info.type)(checked.layer(n), info)
             for n, info in checked.layers.items()}
    data = {n: b.op for n, b in built.items() if checked.layers[n].type == "data"}
    weighted = {n: b for n, b in built.items() if n not in data}
    tensors, alias = init_tensors(checked, weighted, real, seed)
    depth = _depths(checked)
    logical = {n: info.device for n, info in checked.layers.items()}
    place = {n: (str(real[logical[n]]), depth[n]) for n in weighted}
    groups = (plan_groups(checked, place) if fold
              else [Group("single", [n]) for n in weighted])
    position = {n: i for i, n in enumerate(checked.layers)}
    groups.sort(key=lambda g: (depth[g.members[0]], logical[g.members[0]], position[g.members[0]]))

    def name_of(layer: str, suffix: str) -> str:
        key = f"{layer}.{suffix}"
        return alias.get(key, key)

    steps, op_list, where, cost_inputs = [], [], {}, {}
    for g in groups:
        step = _make_step(checked, g, weighted, name_of, real, len(op_list), op_list)
        for m, sl in zip(step.members, step.slices, strict=True):
            where[m] = (len(steps), sl)
        if step.is_cost and checked.layer(g.members[0]).type == "cost.logreg":
            cost_inputs[g.members[0]] = (step.inputs[0][0], step.inputs[1][0])
        steps.append(step)
    return Net(checked=checked, ops=op_list, steps=steps, where=where, data_ops=data,
               tensors=tensors, output=output_layer(checked), cost_inputs=cost_inputs)


def _make_step(checked, g: Group, built, name_of, real, index: int, op_list: list) -> ForwardStep:
    first = g.members[0]
    layer, info = checked.layer(first), checked.layers[first]
    device = real[info.device]
    if g.kind == "stacked" and layer.type == "fc":
        widths = [numel(checked.layers[src].shape) for src in g.inputs]
        b = Built(StackedFcOp(widths, len(g.members)), inplace_neuron=True)
        weights = weight_plans(g, checked, name_of)
    elif g.kind in ("stacked", "grouped"):
        merged, merged_info = merged_layer(g, checked)
        b = builder_for(layer.type)(merged, merged_info)
        weights = weight_plans(g, checked, name_of)
    else:
        b = built[first]
        weights = [name_of(first, t.suffix) for t in b.tensors]
    op_list.append(LayerOp(b.op, neuron_op(layer, b.inplace_neuron)).to(device))
    is_cost = layer.type.startswith("cost.")
    inputs = _cost_wiring(checked, first, b.op) if is_cost else group_inputs(g, checked)
    if g.kind == "single":
        slices = [(0, None)]
    else:
        width = info.shape[0]
        slices = [(i * width, width) for i in range(len(g.members))]
    return ForwardStep(members=tuple(g.members), op_index=index, inputs=inputs, weights=weights,
                       device=device, slices=slices, is_cost=is_cost,
                       batch_fold=len(g.members) if g.kind == "batch" else 1,
                       towers_unfolded=type(layer).towers_unfolded if g.kind == "batch" else None)
