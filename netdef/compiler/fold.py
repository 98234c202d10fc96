"""Folding matching tower layers on one device into one op (docs/language-guide.md "Devices").

Three patterns (each type declares which it allows: its model's ``folds``), tried on layers of
one type, one real device, one wavefront depth and the same
hyperparameters (learning rates and init scales aside):

- ``stacked``: conv/fc layers reading the same set of inputs (conv1a/conv1b on the data,
  conv3a/conv3b on pool2a,pool2b, fc2048ba/fc2048bb in either order): one conv/matmul over the
  channel concatenation of the inputs; conv weights are concatenated (inputs along dim 1,
  members along dim 0), fc weights are used one by one (:class:`~.ops.StackedFcOp`: copying
  AlexNet's fc matrices every step costs more than it saves). A single multi-input layer
  folds alone.
- ``grouped``: conv layers each reading its own input (conv2a/conv2b): one grouped conv.
- ``batch``: weightless layers each reading its own input (pools, norms, neurons, dropout):
  the towers become extra images, (N, k·C, H, W) -> (N·k, C, H, W).

Parameters stay per layer; a folded op concatenates them each forward, so names, init and the
function computed are those of the split net. Anything else runs unfolded.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from ..schema.layers import InitFuncs, WeightParams, field_extra

_NOT_FORWARD = (set(WeightParams.model_fields) | set(InitFuncs.model_fields)
                | {"name", "inputs", "gpu", "init_w", "init_b", "weight_source", "partial_sum",
                   "sum_width"})


@dataclass
class Group:
    """Layers run as one op: ``kind`` is "single", "stacked", "grouped" or "batch"."""

    kind: str
    members: list[str]
    inputs: tuple[str, ...] = ()  # stacked: the canonical input order (the first member's)


def _config(layer, order: list[int] | None = None) -> str:
    """The forward-relevant hyperparameters as a string; per-input values permuted by ``order``."""
    dump = layer.model_dump(exclude=_NOT_FORWARD)
    if order is not None:
        for key, value in dump.items():
            if field_extra(type(layer), key).get("per_input") and isinstance(value, (list, tuple)):
                dump[key] = [value[j] for j in order]
    return json.dumps(dump, sort_keys=True, default=str)


def _stackable(layer, info) -> bool:
    if "stacked" not in layer.folds or len(set(layer.inputs)) != len(layer.inputs):
        return False  # an input read twice has two weights: keep the sum of ops
    if not layer.spatial:
        return True  # fc
    per_input = {(layer.filter_size[i], w.padding, layer.stride[i])
                 for i, w in enumerate(info.weights)}
    return (len(per_input) == 1 and len({v[1] for v in info.views}) == 1
            and all(g == 1 for g in layer.groups) and not any(layer.rand_sparse))


def _key(kind: str, layer, info, place) -> tuple:
    if kind == "stacked":
        order = sorted(range(len(layer.inputs)), key=lambda j: layer.inputs[j])
        return (kind, place, layer.type, _config(layer, order),
                tuple(layer.inputs[j] for j in order))
    return (kind, place, layer.type, _config(layer), info.in_shapes, info.shape)


def _bucket(names: list[str], kind: str, net, place: dict) -> dict[tuple, list[str]]:
    buckets: dict[tuple, list[str]] = {}
    for name in names:
        buckets.setdefault(_key(kind, net.layer(name), net.layers[name], place[name]), []).append(
            name
        )
    return buckets


def plan_groups(net, place: dict[str, tuple]) -> list[Group]:
    """Partition the non-data layers into groups; ``place[name]`` = (device, depth)."""
    names = [n for n, info in net.layers.items() if info.type != "data"]
    groups, left = [], []
    stack = [n for n in names if _stackable(net.layer(n), net.layers[n])]
    for members in _bucket(stack, "stacked", net, place).values():
        if len(members) > 1 or len(net.layer(members[0]).inputs) > 1:
            groups.append(Group("stacked", members, net.layer(members[0]).inputs))
        else:
            left += members
    left += [n for n in names if n not in stack]
    for kind in ("grouped", "batch"):
        pick = [n for n in left if kind in net.layer(n).folds and len(net.layer(n).inputs) == 1
                and not (kind == "grouped" and any(net.layer(n).rand_sparse))]
        for members in _bucket(pick, kind, net, place).values():
            if len(members) > 1:
                groups.append(Group(kind, members))
                left = [n for n in left if n not in members]
    groups += [Group("single", [n]) for n in left]
    return groups


def merged_layer(group: Group, net):
    """The layer model and LayerInfo of the one conv that computes a stacked or grouped group:
    the members' rules from the check stage, widened (k members: k times the filters)."""
    first, k = net.layer(group.members[0]), len(group.members)
    info = net.layers[group.members[0]]
    nf, rest = info.shape[0], info.shape[1:]
    w, s = info.weights[0], info.views[0][1]
    if group.kind == "grouped":
        c = first.channels[0]
        layer = first.model_copy(update=dict(channels=(k * c,), groups=(k * first.groups[0],)))
        weights = (dataclasses.replace(w, shape=(k * nf, *w.shape[1:]), source=None),)
        return layer, dataclasses.replace(info, shape=(k * nf, *rest), in_shapes=((k * c, s, s),),
                                          views=((k * c, s, s),), weights=weights)
    c = sum(first.channels)
    one = dict(filter_size=first.filter_size[:1], padding=first.padding[:1],
               stride=first.stride[:1], groups=(1,), rand_sparse=(False,), weight_source=("",),
               init_w=(0.0,), filter_channels=None, inputs=(first.inputs[0],))
    layer = first.model_copy(update=dict(channels=(c,), filters=(k * nf,), **one))
    weights = (dataclasses.replace(w, shape=(k * nf, c, *w.shape[2:]), filter_channels=c,
                                   source=None),)
    return layer, dataclasses.replace(info, shape=(k * nf, *rest), in_shapes=((c, s, s),),
                                      views=((c, s, s),), weights=weights)


def weight_plans(group: Group, net, name_of) -> list:
    """Weight and bias plans of a folded op; ``name_of(layer, suffix)`` gives a tensor name."""
    members = group.members
    if group.kind == "grouped":
        return [("cat", 0, [name_of(m, "weight") for m in members]),
                ("cat", 0, [name_of(m, "bias") for m in members])]
    if net.layer(members[0]).type == "fc":  # StackedFcOp: W_{m,j} one by one, then biases
        return ([name_of(m, _input_weight(net, m, src)) for m in members for src in group.inputs]
                + [name_of(m, "bias") for m in members])
    weights = []
    for m in members:
        own = list(net.layer(m).inputs)
        parts = [name_of(m, "weight" if own.index(src) == 0 else f"weight.{own.index(src)}")
                 for src in group.inputs]
        weights.append(parts[0] if len(parts) == 1 else ("cat", 1, parts))
    return [("cat", 0, weights) if len(weights) > 1 else weights[0],
            ("cat", 0, [name_of(m, "bias") for m in members])]


def _input_weight(net, layer: str, src: str) -> str:
    j = list(net.layer(layer).inputs).index(src)
    return "weight" if j == 0 else f"weight.{j}"


def group_inputs(group: Group, net) -> list[tuple[str, ...]]:
    """The op's inputs: one concatenation (stacked: the shared inputs; else each member's)."""
    if group.kind == "stacked":
        return [tuple(group.inputs)]
    if group.kind in ("grouped", "batch"):
        return [tuple(net.layer(m).inputs[0] for m in group.members)]
    return [(src,) for src in net.layer(group.members[0]).inputs]
