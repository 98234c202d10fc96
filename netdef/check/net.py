"""Whole-net checks: inputs, devices, shapes, costs, transfers (LANGUAGE.md §1–4).

``check_net`` walks the layers in file order (which is topological order: inputs may name only
earlier layers), so cycles cannot form; it reports every problem it can step past, then raises
once. Its result, :class:`CheckedNet`, is what the compiler and ``netdef summary`` consume.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import Collector, Diagnostic, NetdefError, did_you_mean
from ..schema.build import layer_kind
from ..schema import COST_TYPES, NetSpec
from ..schema import layers as L
from .shapes import ARITY, INFER, Inferred, Shape, numel

BYTES_PER_VALUE = 4  # float32 activations
DEFAULT_INPUT_SIZE = 224
_SOURCE = re.compile(r"([^\[\]]+)(?:\[(\d+)\])?")


@dataclass
class LayerInfo:
    """One checked layer: where it runs and what it produces, per image."""

    name: str
    type: str
    device: int | None  # logical device; None for data layers
    replicas: int
    shape: Shape
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    params: int = 0
    macs: int = 0
    in_sides: tuple[int, ...] = ()

    @property
    def neurons(self) -> int:
        return 0 if self.type.startswith("cost.") else numel(self.shape)


@dataclass(frozen=True)
class Transfer:
    """A cross-device edge: ``src`` (on device ``src_device``) read by ``dst``."""

    src: str
    dst: str
    src_device: int
    dst_device: int
    bytes_per_image: int


@dataclass
class CheckedNet:
    """A net that passed every check: the spec plus shapes, devices and transfers."""

    spec: NetSpec
    input_size: int
    input_size_default: bool
    input_channels: int
    layers: dict[str, LayerInfo]
    transfers: list[Transfer]
    num_devices: int
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def params(self) -> int:
        return sum(i.params for i in self.layers.values())

    def layer(self, name: str) -> L.LayerBase:
        return self.spec.layers[name]

    def device_memory(self) -> dict[int, dict[str, int]]:
        """Per logical device: parameter bytes and activation bytes per image (float32)."""
        mem: dict[int, dict[str, int]] = {d: {"params_bytes": 0, "activation_bytes_per_image": 0}
                                          for d in range(self.num_devices)}
        for info in self.layers.values():
            if info.device is None:
                continue
            mem[info.device]["params_bytes"] += info.params * BYTES_PER_VALUE
            mem[info.device]["activation_bytes_per_image"] += info.neurons * BYTES_PER_VALUE
        return mem


def check_net(spec: NetSpec, input_size: int | None = None, input_channels: int = 3,
              classes: int | None = None, allow_init_funcs: bool = False,
              strict: bool = False) -> CheckedNet:
    """Check the whole net at an image side (default 224); raise every problem at once."""
    out = Collector(strict=strict)
    out.extend(spec.diagnostics)
    size = DEFAULT_INPUT_SIZE if input_size is None else input_size
    if size < 1 or input_channels < 1:
        raise NetdefError.at(None, f"the input side must be a positive number of pixels "
                                   f"(got {size})")
    order = list(spec.layers)
    position = {name: i for i, name in enumerate(order)}
    _check_inputs(spec, position, out)
    if out.has_errors:
        out.raise_if_errors()
    devices = _assign_devices(spec, out)
    infos: dict[str, LayerInfo] = {}
    for name, layer in spec.layers.items():
        info = _infer_layer(spec, layer, infos, devices, size, input_channels, out)
        if info is not None:
            infos[name] = info
    if not out.has_errors:
        _check_costs(spec, infos, classes, out)
        _check_weight_sources(spec, infos, out)
        _check_init_funcs(spec, allow_init_funcs, out)
        _check_unused(spec, out)
    out.raise_if_errors()
    num_devices = 1 + max((d for d in devices.values() if d is not None), default=0)
    return CheckedNet(spec, size, input_size is None, input_channels, infos,
                      _transfers(infos), num_devices, out.sorted())


def _check_inputs(spec: NetSpec, position: dict[str, int], out: Collector) -> None:
    for name, layer in spec.layers.items():
        span = spec.span(name, "inputs")
        lo, hi = ARITY.get(layer.type, (0, 0) if layer.type == "data" else (1, 1))
        n = len(layer.inputs)
        if layer.type == "data" and n:
            out.error(span, f"layer '{name}': a data layer takes no 'inputs'")
        elif n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo}..{hi}")
            out.error(span, f"layer '{name}': {layer_kind(layer.type)} takes {want} input(s) "
                            f"(got {n})")
        for src in layer.inputs:
            if src == name:
                out.error(span, f"layer '{name}': lists itself as an input (a cycle)")
            elif not src:
                out.error(span, f"layer '{name}': empty name in 'inputs'")
            elif src not in position:
                out.error(span, f"layer '{name}': unknown input '{src}'"
                                f"{did_you_mean(src, position)}")
            elif position[src] > position[name]:
                out.error(span, f"layer '{name}': input '{src}' is defined later (line "
                                f"{spec.span(src).line}); inputs must name earlier layers")


def _assign_devices(spec: NetSpec, out: Collector) -> dict[str, int | None]:
    """LANGUAGE.md §4: ``gpu=`` or the first non-data input's device; data layers have none."""
    stated = {d for layer in spec.layers.values() if layer.gpu for d in layer.gpu}
    multi = len(stated) > 1 or any(d > 0 for d in stated)
    devices: dict[str, int | None] = {}
    for name, layer in spec.layers.items():
        if layer.type == "data":
            devices[name] = None
            continue
        if layer.gpu:
            devices[name] = layer.gpu[0]
            continue
        inherited = [devices[s] for s in layer.inputs if devices.get(s) is not None]
        if inherited:
            devices[name] = inherited[0]
        elif multi:
            out.error(spec.span(name), f"layer '{name}' reads only data layers and must state "
                                       f"'gpu=' (the file places layers on device(s) "
                                       f"{', '.join(map(str, sorted(stated)))})")
            devices[name] = 0
        else:
            devices[name] = 0
    return devices


def _infer_layer(spec: NetSpec, layer: L.LayerBase, infos: dict[str, LayerInfo],
                 devices: dict, size: int, channels: int, out: Collector) -> LayerInfo | None:
    name = layer.name

    def report(key: str, message: str) -> None:
        out.error(spec.span(name, _field_of(key)), f"layer '{name}': {message}")

    if layer.type == "data":
        inferred = Inferred(_data_shape(layer, size, channels))
    else:
        if any(src not in infos for src in layer.inputs):
            return None  # an input already failed; its diagnostic stands
        shapes = [infos[s].shape for s in layer.inputs]
        inferred = INFER[layer.type](layer, shapes, report)
        if inferred is None:
            return None
    replicas = len(layer.gpu) if layer.gpu else 1
    return LayerInfo(name, layer.type, devices[name], replicas, inferred.shape,
                     layer.inputs, tuple(infos[s].shape for s in layer.inputs),
                     inferred.params, inferred.macs, inferred.in_sides)


def _field_of(key: str) -> str:
    from ..schema.layers import ALIASES

    reverse = {v: k for k, v in ALIASES.items()}
    return reverse.get(key, key)


def _data_shape(layer: L.Data, size: int, channels: int) -> Shape:
    if layer.data_idx == 0:
        return (channels, size, size)
    if layer.end is not None:
        return (layer.end - (layer.start or 0), 1, 1)
    return (1, 1, 1)


def _check_costs(spec: NetSpec, infos: dict[str, LayerInfo], classes: int | None,
                 out: Collector) -> None:
    for name, layer in spec.layers.items():
        if layer.type not in ("cost.logreg", "cost.crossent", "cost.bce"):
            continue
        labels, probs = layer.inputs
        span = spec.span(name, "inputs")
        if layer.type == "cost.logreg" and numel(infos[labels].shape) != 1:
            out.error(span, f"layer '{name}': input 1 ('{labels}') must be the labels (one value "
                            f"per image, a data layer with dataIdx=1; got {_fmt(infos[labels].shape)})")
        if layer.type in ("cost.logreg", "cost.crossent") and spec.layers[probs].type != "softmax":
            out.error(span, f"layer '{name}': input 2 ('{probs}') must be a softmax layer "
                            f"(got {layer_kind(spec.layers[probs].type)})")
            continue
        width = numel(infos[probs].shape)
        if layer.type == "cost.logreg" and layer.topk > width:
            out.error(spec.span(name, "topk"), f"layer '{name}': 'topk' {layer.topk} exceeds the "
                                               f"{width} classes of '{probs}'")
        if classes is not None and layer.type == "cost.logreg":
            if width < classes:
                out.error(span, f"layer '{name}': '{probs}' has {width} outputs but the data has "
                                f"{classes} classes")
            elif width > classes:
                out.note(span, f"layer '{name}': '{probs}' has {width} outputs for {classes} "
                               "classes; labels index the first outputs")


def _check_weight_sources(spec: NetSpec, infos: dict[str, LayerInfo], out: Collector) -> None:
    """``weightSource=other`` or ``other[k]``: same type, same weight shape (LANGUAGE.md §2)."""
    for name, layer in spec.layers.items():
        for i, src in enumerate(getattr(layer, "weight_source", ()) or ()):
            if not src:
                continue
            span = spec.span(name, "weight_source")
            m = _SOURCE.fullmatch(src)
            if m is None:
                out.error(span, f"layer '{name}': malformed 'weightSource' '{src}' (expected a "
                                "layer name or layer[k])")
                continue
            other, k = m.group(1), int(m.group(2) or 0)
            if other == name:
                out.error(span, f"layer '{name}': 'weightSource' names the layer itself")
                continue
            if other not in spec.layers:
                out.error(span, f"layer '{name}': 'weightSource' names unknown layer '{other}'"
                                f"{did_you_mean(other, spec.layers)}")
                continue
            target = spec.layers[other]
            if target.type != layer.type:
                out.error(span, f"layer '{name}': 'weightSource' '{src}' is {layer_kind(target.type)}; "
                                f"it must be {layer_kind(layer.type)}")
            elif k >= len(target.inputs):
                out.error(span, f"layer '{name}': 'weightSource' '{src}': '{other}' has only "
                                f"{len(target.inputs)} input(s)")
            elif weight_shape(spec, infos, name, i) != weight_shape(spec, infos, other, k):
                out.error(span, f"layer '{name}': 'weightSource' '{src}' has weights "
                                f"{weight_shape(spec, infos, other, k)}, input {i + 1} needs "
                                f"{weight_shape(spec, infos, name, i)}")


def weight_shape(spec: NetSpec, infos: dict[str, LayerInfo], name: str, i: int) -> tuple:
    """The weight tensor shape of input ``i`` of a weight layer (torch layout)."""
    layer, info = spec.layers[name], infos[name]
    if layer.type == "fc":
        return (layer.outputs, numel(info.in_shapes[i]))
    fch = (layer.filter_channels[i] if layer.rand_sparse[i] and layer.filter_channels
           else layer.channels[i] // layer.groups[i])
    f = layer.filter_size[i]
    if layer.type == "local":
        return (info.shape[1] * info.shape[2], info.shape[0], fch, f, f)
    return (info.shape[0], fch, f, f)


def _check_init_funcs(spec: NetSpec, allowed: bool, out: Collector) -> None:
    if allowed:
        return
    for name, layer in spec.layers.items():
        for key in ("init_w_func", "init_b_func", "init_c_func"):
            if getattr(layer, key, None):
                out.error(spec.span(name, key),
                          f"layer '{name}': '{L.alias_of(key)}' names Python code to run at "
                          "initialisation; netdef refuses to execute code named in a definition "
                          "file unless you pass --allow-init-funcs")


def _check_unused(spec: NetSpec, out: Collector) -> None:
    used = {src for layer in spec.layers.values() for src in layer.inputs}
    non_cost = [n for n, layer in spec.layers.items() if layer.type not in COST_TYPES]
    last = non_cost[-1] if non_cost else None
    for name, layer in spec.layers.items():
        if name in used or layer.type in COST_TYPES or name == last:
            continue
        out.warning(spec.span(name), f"layer '{name}' is not used by any other layer")


def _transfers(infos: dict[str, LayerInfo]) -> list[Transfer]:
    edges = []
    for info in infos.values():
        for src in dict.fromkeys(info.inputs):
            s = infos[src]
            if s.device is not None and info.device is not None and s.device != info.device:
                edges.append(Transfer(src, info.name, s.device, info.device,
                                      numel(s.shape) * BYTES_PER_VALUE))
    return edges


def _fmt(shape: Shape) -> str:
    return "×".join(map(str, shape))
