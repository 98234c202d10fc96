"""Shape inference with cuda-convnet's rules (LANGUAGE.md §2 "Shape rules"), per layer type.

Each ``infer_*`` takes the layer, its inputs' shapes ``(C, H, W)`` and a report function, and
returns the layer's output shape, parameter count and multiply-adds per image. Shapes are
``(C, H, W)``; an fc output is ``(outputs, 1, 1)``; a cost is ``(1, 1, 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from ..schema import layers as L
from ..schema.build import layer_kind

Shape = tuple[int, int, int]
Report = Callable[[str, str], None]  # (key, message)


@dataclass
class Inferred:
    """What shape inference learns about one layer."""

    shape: Shape
    params: int = 0
    macs: int = 0
    in_sides: tuple[int, ...] = ()  # the image side each input is read at (conv/local)


def numel(shape: Shape) -> int:
    return shape[0] * shape[1] * shape[2]


def conv_out_side(size: int, filter_size: int, padding: int, stride: int) -> int:
    """cuda-convnet's ceil rule: 1 + ceil((2·padding + S − filterSize) / stride)."""
    return 1 + math.ceil((2 * padding + size - filter_size) / stride)


def pool_out_side(size: int, size_x: int, start: int, stride: int) -> int:
    """cuda-convnet's pool rule: ceil((S − start − sizeX) / stride) + 1; windows are clipped."""
    return math.ceil((size - start - size_x) / stride) + 1


def as_image(shape: Shape, channels: int, i: int, report: Report) -> int | None:
    """The square side at which an input is read with ``channels`` channels (cuda-convnet
    flattens channel-major, so an fc output of C·S·S reads as a C×S×S image), or None."""
    c, h, w = shape
    if c == channels and h == w:
        return h
    total = numel(shape)
    side = math.isqrt(total // channels) if total % channels == 0 else 0
    if side and side * side * channels == total and (h, w) == (1, 1):
        return side
    report("channels", f"input {i + 1} has {c} channels ({c}×{h}×{w}), 'channels' says "
                       f"{channels}")
    return None


def infer_conv(layer: L.ConvLike, shapes: list[Shape], report: Report) -> Inferred | None:
    """conv/local: one correlation per input, summed, plus one bias (cuda-convnet)."""
    outs, total_filters, params, macs, sides = set(), set(), 0, 0, []
    local = layer.type == "local"
    for i, shape in enumerate(shapes):
        ch, f, pad, st = (layer.channels[i], layer.filter_size[i], layer.padding[i],
                          layer.stride[i])
        groups, filters = layer.groups[i], layer.filters[i]
        side = as_image(shape, ch, i, report)
        if side is None:
            return None
        fch = _filter_channels(layer, i, report)
        if fch is None:
            return None
        if f > side + 2 * pad:
            report("filterSize", f"input {i + 1}: 'filterSize' {f} is larger than the padded "
                                 f"input ({side} + 2·{pad})")
            return None
        out = conv_out_side(side, f, pad, st)
        nf = filters * groups
        outs.add(out)
        total_filters.add(nf)
        sides.append(side)
        positions = out * out
        if not layer.weight_source[i]:
            params += nf * fch * f * f * (positions if local else 1)
        macs += nf * positions * fch * f * f
    if len(outs) > 1 or len(total_filters) > 1:
        report("filters", "inputs give different outputs (sides "
                          f"{sorted(outs)}, filters×groups {sorted(total_filters)}); "
                          "a multi-input layer sums one result per input, so they must agree")
        return None
    out, nf = outs.pop(), total_filters.pop()
    if layer.modules_x is not None and layer.modules_x != out:
        report("modulesX", f"'modulesX' is {layer.modules_x} but the output side is {out}")
        return None
    shared = layer.shared_biases and not local  # local: one bias per filter per position
    params += nf if shared else nf * out * out
    return Inferred((nf, out, out), params, macs, tuple(sides))


def _filter_channels(layer: L.ConvLike, i: int, report: Report) -> int | None:
    ch, groups = layer.channels[i], layer.groups[i]
    given = layer.filter_channels[i] if layer.filter_channels else None
    if layer.rand_sparse[i]:
        fch = given or ch // groups
        if groups < 2:
            report("randSparse", f"input {i + 1}: 'randSparse' needs 'groups' > 1")
            return None
        if not 0 < fch <= ch:
            report("filterChannels", f"input {i + 1}: 'filterChannels' must be 1..{ch} (got {fch})")
            return None
        return fch
    if ch % groups:
        report("groups", f"input {i + 1}: 'channels' {ch} is not divisible by 'groups' {groups}")
        return None
    if given is not None and given != ch // groups:
        report("filterChannels", f"input {i + 1}: 'filterChannels' must be channels/groups = "
                                 f"{ch // groups} without 'randSparse' (got {given})")
        return None
    return ch // groups


def infer_fc(layer: L.Fc, shapes: list[Shape], report: Report) -> Inferred:
    """fc: Σ xᵢWᵢ + b over flattened inputs."""
    ins = [numel(s) for s in shapes]
    own = sum(n for n, src in zip(ins, layer.weight_source) if not src)
    return Inferred((layer.outputs, 1, 1), own * layer.outputs + layer.outputs,
                    sum(ins) * layer.outputs)


def infer_sfc(layer: L.Sfc, shapes: list[Shape], report: Report) -> Inferred | None:
    n = numel(shapes[0])
    if n % layer.parts:
        report("parts", f"input size {n} is not divisible by 'parts' {layer.parts}")
        return None
    out = layer.parts * layer.outputs
    return Inferred((out, 1, 1), n * layer.outputs + out, n * layer.outputs)


def infer_same(layer: L.LayerBase, shapes: list[Shape], report: Report) -> Inferred:
    return Inferred(shapes[0])


def infer_channels_same(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """Layers that keep the shape and state ``channels`` (norms, href, blur, rgb2*)."""
    side = as_image(shapes[0], layer.channels, 0, report)
    if side is None:
        return None
    shape = (layer.channels, side, side)
    if layer.type in ("rgb2yuv", "rgb2lab") and layer.channels != 3:
        report("channels", f"{layer_kind(layer.type)} needs 3 channels (got {layer.channels})")
        return None
    if layer.type == "cmrnorm" and layer.size > layer.channels:
        report("size", f"'size' {layer.size} exceeds 'channels' {layer.channels}")
        return None
    if layer.type == "blur" and layer.filter_size > side:
        report("filterSize", f"'filterSize' {layer.filter_size} exceeds the image side {side}")
        return None
    return Inferred(shape)


def infer_pool(layer: L.Pool, shapes: list[Shape], report: Report) -> Inferred | None:
    side = as_image(shapes[0], layer.channels, 0, report)
    if side is None:
        return None
    if layer.size_x > side:
        report("sizeX", f"'sizeX' {layer.size_x} exceeds the input side {side}")
        return None
    auto = pool_out_side(side, layer.size_x, layer.start, layer.stride)
    out = layer.outputs_x or auto
    if layer.outputs_x and out > auto:
        report("outputsX", f"'outputsX' {out} is more than the {auto} windows that fit the "
                           f"{side}×{side} input (start {layer.start}, sizeX {layer.size_x}, "
                           f"stride {layer.stride})")
        return None
    if out < 1 or layer.start + (out - 1) * layer.stride >= side or layer.start + layer.size_x <= 0:
        report("start", f"pool windows fall outside the {side}×{side} input "
                        f"(start {layer.start}, sizeX {layer.size_x}, stride {layer.stride})")
        return None
    return Inferred((layer.channels, out, out), 0, layer.channels * out * out * layer.size_x ** 2)


def infer_cmpool(layer: L.CmPool, shapes: list[Shape], report: Report) -> Inferred | None:
    c, h, w = shapes[0]
    if c != layer.channels:
        report("channels", f"input has {c} channels, 'channels' says {layer.channels}")
        return None
    out = layer.outputs or pool_out_side(c, layer.size, layer.start, layer.stride)
    if out < 1:
        report("outputs", f"cross-map pooling gives no output channels (got {out})")
        return None
    return Inferred((out, h, w))


def infer_elementwise(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """eltsum/eltmax: every input has the same shape."""
    if any(numel(s) != numel(shapes[0]) for s in shapes):
        shown = ", ".join("×".join(map(str, s)) for s in shapes)
        report("inputs", f"inputs must have the same shape (got {shown})")
        return None
    return Inferred(shapes[0])


def infer_concat(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """concat/pass: stacked along channels; sides must agree."""
    sides = {(s[1], s[2]) for s in shapes}
    if len(sides) > 1:
        shown = ", ".join("×".join(map(str, s)) for s in shapes)
        report("inputs", f"inputs to concatenate must have the same H×W (got {shown})")
        return None
    h, w = sides.pop()
    return Inferred((sum(s[0] for s in shapes), h, w))


def infer_crop(layer: L.Crop, shapes: list[Shape], report: Report) -> Inferred | None:
    side = as_image(shapes[0], layer.channels, 0, report)
    if side is None:
        return None
    sy = layer.start_x if layer.start_y is None else layer.start_y
    if layer.start_x + layer.size_x > side or sy + layer.size_x > side:
        report("sizeX", f"the {layer.size_x}×{layer.size_x} crop at ({layer.start_x}, {sy}) "
                        f"does not fit the {side}×{side} input")
        return None
    return Inferred((layer.channels, layer.size_x, layer.size_x))


def infer_nailbed(layer: L.Nailbed, shapes: list[Shape], report: Report) -> Inferred | None:
    side = as_image(shapes[0], layer.channels, 0, report)
    if side is None:
        return None
    out = math.ceil(side / layer.stride)
    return Inferred((layer.channels, out, out))


def infer_resize(layer: L.Resize, shapes: list[Shape], report: Report) -> Inferred | None:
    side = as_image(shapes[0], layer.channels, 0, report)
    if side is None:
        return None
    out = math.floor(side / layer.scale)
    if out < 1:
        report("scale", f"'scale' {layer.scale} leaves no pixels of a {side}×{side} input")
        return None
    return Inferred((layer.channels, out, out))


def infer_cost(layer, shapes: list[Shape], report: Report) -> Inferred:
    return Inferred((1, 1, 1))


INFER: dict[str, Callable] = {
    "conv": infer_conv, "local": infer_conv, "fc": infer_fc, "sfc": infer_sfc,
    "softmax": infer_same, "neuron": infer_same, "pool": infer_pool, "cmpool": infer_cmpool,
    "cmrnorm": infer_channels_same, "rnorm": infer_channels_same, "cnorm": infer_channels_same,
    "eltsum": infer_elementwise, "eltmax": infer_elementwise, "concat": infer_concat,
    "pass": infer_concat, "dropout": infer_same, "dropout2": infer_same, "hs": infer_same,
    "crop": infer_crop, "href": infer_channels_same, "blur": infer_channels_same,
    "nailbed": infer_nailbed, "resize": infer_resize, "rgb2yuv": infer_channels_same,
    "rgb2lab": infer_channels_same, "cost.logreg": infer_cost, "cost.sum2": infer_cost,
    "cost.crossent": infer_cost, "cost.bce": infer_cost,
}

# How many inputs each type takes: (min, max); None = no upper bound.
ARITY: dict[str, tuple[int, int | None]] = {
    "conv": (1, None), "local": (1, None), "fc": (1, None), "eltsum": (1, None),
    "eltmax": (2, None), "concat": (1, None), "pass": (1, None), "cost.logreg": (2, 2),
    "cost.crossent": (2, 2), "cost.bce": (2, 2),
}
