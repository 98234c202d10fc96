"""Each layer type's shape rule, with cuda-convnet's arithmetic (docs/language-guide.md
"Shape rules"). The models in :mod:`.layers` declare their rule (``infer = infer_conv``), so a
type's shape rule sits with its other facts; the check stage calls them in file order.

A rule takes the layer, its inputs' shapes ``(C, H, W)`` and a report function, and returns an
:class:`Inferred`: the output shape, parameter count and multiply-adds per image, the view
``(C, S, S)`` each input is read as, and for weight layers the per-input rules cuda-convnet's
``layer.py`` derives (filter channels, weight shape, padding). Builders read these; they never
recompute them. An fc output is ``(outputs, 1, 1)``; a cost is ``(1, 1, 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

Shape = tuple[int, int, int]
Report = Callable[[str, str], None]  # (key as written, message)


@dataclass(frozen=True, kw_only=True)
class InputWeights:
    """The weight tensor of one input of a weight layer, as cuda-convnet derives it.

    ``shape`` is torch's layout: conv (F, fch, f, f), local (out², F, fch, f, f), fc
    (outputs, D), sfc (parts, outputs, D/parts). ``padding`` is (left/top, right/bottom): the
    right side may exceed ``padding`` (the last window overhangs) or be negative (pixels never
    read). ``source`` is the resolved ``weightSource``: (owner layer, owner's input index).
    """

    shape: tuple[int, ...]
    filter_channels: int = 0
    padding: tuple[int, int] = (0, 0)
    source: tuple[str, int] | None = None


@dataclass(frozen=True, kw_only=True)
class Inferred:
    """What a shape rule learns about one layer."""

    shape: Shape
    params: int = 0
    macs: int = 0
    views: tuple[Shape, ...] = ()  # each input as the layer reads it
    weights: tuple[InputWeights, ...] = ()  # weight layers: one per input (sfc: one)


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


def layer_kind(kind: str) -> str:
    """'a conv layer', 'an fc layer' (the article follows how the name is said)."""
    an = kind[0] in "aeiou" or kind.split(".")[0] in ("fc", "sfc", "rnorm", "href", "hs",
                                                      "rgb2yuv", "rgb2lab", "eltsum", "eltmax")
    return f"{'an' if an else 'a'} {kind} layer"


def _kind(layer) -> str:
    return layer_kind(layer.type)


def infer_conv(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """conv/local: one correlation per input, summed, plus one bias (cuda-convnet). The output
    side is cuda-convnet's ceil rule, or cuda-convnet2's ``modulesX`` when given."""
    local = layer.type == "local"
    sides, computed = [], set()
    for i, shape in enumerate(shapes):
        side = as_image(shape, layer.channels[i], i, report)
        if side is None:
            return None
        f, pad = layer.filter_size[i], layer.padding[i]
        if f > side + 2 * pad:
            report("filterSize", f"input {i + 1}: 'filterSize' {f} is larger than the padded "
                                 f"input ({side} + 2·{pad})")
            return None
        sides.append(side)
        computed.add(conv_out_side(side, f, pad, layer.stride[i]))
    filters = {layer.filters[i] * layer.groups[i] for i in range(len(shapes))}
    if (len(computed) > 1 and layer.modules_x is None) or len(filters) > 1:
        report("filters", "inputs give different outputs (sides "
                          f"{sorted(computed)}, filters×groups {sorted(filters)}); "
                          "a multi-input layer sums one result per input, so they must agree")
        return None
    out, nf = layer.modules_x or computed.pop(), filters.pop()
    weights, params, macs = [], 0, 0
    for i, side in enumerate(sides):
        fch = _filter_channels(layer, i, report)
        if fch is None or not _modules_fit(layer, i, side, out, report):
            return None
        f, pad = layer.filter_size[i], layer.padding[i]
        shape = (out * out, nf, fch, f, f) if local else (nf, fch, f, f)
        right = (out - 1) * layer.stride[i] + f - side - pad
        weights.append(InputWeights(shape=shape, filter_channels=fch, padding=(pad, right)))
        if not layer.weight_source[i]:
            params += math.prod(shape)
        macs += nf * out * out * fch * f * f
    shared = layer.shared_biases and not local  # local: one bias per filter per position
    params += nf if shared else nf * out * out
    views = tuple((layer.channels[i], s, s) for i, s in enumerate(sides))
    return Inferred(shape=(nf, out, out), params=params, macs=macs, views=views,
                    weights=tuple(weights))


def _modules_fit(layer, i: int, side: int, out: int, report: Report) -> bool:
    """With ``modulesX`` (cuda-convnet2's override of the output side) every window must still
    read a pixel of the image: window m starts at m·stride − padding."""
    last = (out - 1) * layer.stride[i] - layer.padding[i]
    if layer.modules_x is not None and last >= side:
        report("modulesX", f"input {i + 1}: 'modulesX' {out} puts the last window at pixel "
                           f"{last}, outside the {side}×{side} input (at most "
                           f"{(side - 1 + layer.padding[i]) // layer.stride[i] + 1} windows fit)")
        return False
    return True


def _filter_channels(layer, i: int, report: Report) -> int | None:
    """Channels one filter of input i sees: channels/groups, or ``filterChannels`` with
    ``randSparse`` (cuda-convnet's layer.py)."""
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


def infer_fc(layer, shapes: list[Shape], report: Report) -> Inferred:
    """fc: Σ xᵢWᵢ + b over flattened inputs; Wᵢ is (outputs, Dᵢ)."""
    ins = [numel(s) for s in shapes]
    own = sum(n for n, src in zip(ins, layer.weight_source, strict=False) if not src)
    weights = tuple(InputWeights(shape=(layer.outputs, n)) for n in ins)
    return Inferred(shape=(layer.outputs, 1, 1), params=own * layer.outputs + layer.outputs,
                    macs=sum(ins) * layer.outputs, views=tuple(shapes), weights=weights)


def infer_sfc(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """sfc: the input split into ``parts`` blocks, each to ``outputs`` units."""
    n = numel(shapes[0])
    if n % layer.parts:
        report("parts", f"input size {n} is not divisible by 'parts' {layer.parts}")
        return None
    out = layer.parts * layer.outputs
    w = InputWeights(shape=(layer.parts, layer.outputs, n // layer.parts))
    return Inferred(shape=(out, 1, 1), params=n * layer.outputs + out, macs=n * layer.outputs,
                    views=tuple(shapes), weights=(w,))


def infer_same(layer, shapes: list[Shape], report: Report) -> Inferred:
    """softmax, neuron, dropout: the input's shape."""
    return Inferred(shape=shapes[0], views=tuple(shapes))


def infer_channels_same(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """Layers that keep the shape and state ``channels`` (norms, href, blur, rgb2*)."""
    side = as_image(shapes[0], layer.channels, 0, report)
    if side is None:
        return None
    shape = (layer.channels, side, side)
    if layer.type in ("rgb2yuv", "rgb2lab") and layer.channels != 3:
        report("channels", f"{_kind(layer)} needs 3 channels (got {layer.channels})")
        return None
    if layer.type == "cmrnorm" and layer.size > layer.channels:
        report("size", f"'size' {layer.size} exceeds 'channels' {layer.channels}")
        return None
    if layer.type == "blur" and layer.filter_size > side:
        report("filterSize", f"'filterSize' {layer.filter_size} exceeds the image side {side}")
        return None
    return Inferred(shape=shape, views=(shape,))


def infer_pool(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """pool: sizeX×sizeX windows every ``stride`` from ``start``, clipped at the border."""
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
    view = (layer.channels, side, side)
    return Inferred(
        shape=(layer.channels, out, out),
        macs=layer.channels * out * out * layer.size_x**2,
        views=(view,),
    )


def infer_cmpool(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """cmpool: max over windows of ``size`` channels."""
    c, h, w = shapes[0]
    if c != layer.channels:
        report("channels", f"input has {c} channels, 'channels' says {layer.channels}")
        return None
    out = layer.outputs or pool_out_side(c, layer.size, layer.start, layer.stride)
    if out < 1:
        report("outputs", f"cross-map pooling gives no output channels (got {out})")
        return None
    return Inferred(shape=(out, h, w), views=tuple(shapes))


def infer_elementwise(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """eltsum/eltmax: every input has the same number of values (read as the first's shape)."""
    if any(numel(s) != numel(shapes[0]) for s in shapes):
        shown = ", ".join("×".join(map(str, s)) for s in shapes)
        report("inputs", f"inputs must have the same shape (got {shown})")
        return None
    return Inferred(shape=shapes[0], views=tuple(shapes[:1]) * len(shapes))


def infer_concat(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """concat/pass: stacked along channels; sides must agree."""
    sides = {(s[1], s[2]) for s in shapes}
    if len(sides) > 1:
        shown = ", ".join("×".join(map(str, s)) for s in shapes)
        report("inputs", f"inputs to concatenate must have the same H×W (got {shown})")
        return None
    h, w = sides.pop()
    return Inferred(shape=(sum(s[0] for s in shapes), h, w), views=tuple(shapes))


def infer_crop(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """crop: the sizeX×sizeX square at (startX, startY)."""
    side = as_image(shapes[0], layer.channels, 0, report)
    if side is None:
        return None
    sy = layer.start_x if layer.start_y is None else layer.start_y
    if layer.start_x + layer.size_x > side or sy + layer.size_x > side:
        report("sizeX", f"the {layer.size_x}×{layer.size_x} crop at ({layer.start_x}, {sy}) "
                        f"does not fit the {side}×{side} input")
        return None
    return Inferred(shape=(layer.channels, layer.size_x, layer.size_x),
                    views=((layer.channels, side, side),))


def infer_nailbed(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """nailbed: every ``stride``-th pixel."""
    side = as_image(shapes[0], layer.channels, 0, report)
    if side is None:
        return None
    out = math.ceil(side / layer.stride)
    return Inferred(shape=(layer.channels, out, out), views=((layer.channels, side, side),))


def infer_resize(layer, shapes: list[Shape], report: Report) -> Inferred | None:
    """resize: floor(side / scale)."""
    side = as_image(shapes[0], layer.channels, 0, report)
    if side is None:
        return None
    out = math.floor(side / layer.scale)
    if out < 1:
        report("scale", f"'scale' {layer.scale} leaves no pixels of a {side}×{side} input")
        return None
    return Inferred(shape=(layer.channels, out, out), views=((layer.channels, side, side),))


def infer_cost(layer, shapes: list[Shape], report: Report) -> Inferred:
    """A cost: one value per batch."""
    return Inferred(shape=(1, 1, 1), views=tuple(shapes))
