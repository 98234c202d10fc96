"""Whole-net checks: inputs, devices, shapes, costs, transfers (docs/language-guide.md).

``check_net`` walks the layers in file order (which is topological order: inputs may name only
earlier layers), so cycles cannot form. It reports every problem it can step past, together
with the schema stage's (a layer that failed there is skipped, and so is whatever reads it),
then raises once. Its result, :class:`CheckedNet`, is what the compiler and ``netdef summary``
consume: every cuda-convnet rule (shapes, filter channels, weight shapes, padding, weight
sharing) is computed here, once, and builders read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Collector, Diagnostic, NetdefError, did_you_mean
from ..schema import NetSpec
from ..schema import layers as L
from ..schema.base import ALIASES
from ..schema.shapes import Inferred, InputWeights, Shape, layer_kind, numel
from .rules import (
    check_costs,
    check_init_funcs,
    check_unused,
    check_weight_sources,
    class_count,
    labels_hint,
    says_classes,
)

BYTES_PER_VALUE = 4  # float32 activations
DEFAULT_INPUT_SIZE = 224
_FIELD_OF = {v: k for k, v in ALIASES.items()}


@dataclass(kw_only=True)
class LayerInfo:
    """One checked layer: where it runs and what it produces, per image.

    ``views``: each input as the layer reads it, (C, S, S) for image layers; ``weights``: per
    input of a weight layer, the weight tensor's rules (shape, filter channels, padding,
    resolved ``weightSource``)."""

    name: str
    type: str
    device: int | None  # logical device; None for data layers
    replicas: int
    shape: Shape
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    params: int = 0
    macs: int = 0
    views: tuple[Shape, ...] = ()
    weights: tuple[InputWeights, ...] = ()

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


@dataclass(kw_only=True)
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
    """Check the whole net at an image side (default 224) with ``classes`` classes (None: not
    known yet); raise every problem at once, the schema stage's included."""
    out = Collector(strict=strict)
    out.extend(spec.diagnostics)
    size = DEFAULT_INPUT_SIZE if input_size is None else input_size
    if size < 1 or input_channels < 1:
        raise NetdefError.at(None, f"the input side must be a positive number of pixels "
                                   f"(got {size})")
    order = spec.order or tuple(spec.layers)
    wiring = _check_inputs(spec, order, out)
    sound = _sound(spec, order, wiring)
    devices = _assign_devices(spec, sound, out)
    infos = _infer_all(spec, sound, devices, size, input_channels, classes, out)
    check_costs(spec, infos, classes, out)
    check_weight_sources(spec, infos, out)
    check_init_funcs(spec, allow_init_funcs, out)
    if not wiring:  # a misnamed input leaves its intended layer unread: one cause, one message
        check_unused(spec, order, out)
    out.raise_if_errors()
    num_devices = 1 + max((d for d in devices.values() if d is not None), default=0)
    return CheckedNet(spec=spec, input_size=size, input_size_default=input_size is None,
                      input_channels=input_channels, layers=infos,
                      transfers=_transfers(infos), num_devices=num_devices,
                      diagnostics=out.sorted())


def _inputs_of(spec: NetSpec, name: str) -> tuple[str, ...]:
    layer = spec.layers.get(name)
    return layer.inputs if layer is not None else spec.broken.get(name, ())


def _check_inputs(spec: NetSpec, order: tuple[str, ...], out: Collector) -> set[str]:
    """Arity and wiring of every layer (broken ones too); the names with a wiring error."""
    position = {name: i for i, name in enumerate(order)}
    bad = set()
    for name in order:
        layer, inputs = spec.layers.get(name), _inputs_of(spec, name)
        span = spec.span(name, "inputs")
        if layer is not None:
            lo, hi = type(layer).arity
            n = len(inputs)
            if layer.type == "data" and n:
                out.error(span, f"layer '{name}': a data layer takes no 'inputs'")
                bad.add(name)
            elif n < lo or (hi is not None and n > hi):
                want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo}..{hi}")
                out.error(span, f"layer '{name}': {layer_kind(layer.type)} takes {want} "
                                f"input(s) (got {n})")
                bad.add(name)
        for src in inputs:
            if src == name:
                out.error(span, f"layer '{name}': lists itself as an input (a cycle)")
            elif not src:
                out.error(span, f"layer '{name}': empty name in 'inputs'")
            elif src not in position:
                out.error(span, f"layer '{name}': unknown input '{src}'"
                                f"{did_you_mean(src, _readable(spec, order, name))}")
            elif position[src] > position[name]:
                out.error(span, f"layer '{name}': input '{src}' is defined later (line "
                                f"{spec.span(src).line}); inputs must name earlier layers")
            elif src in spec.layers and spec.layers[src].cost:
                out.error(span, f"layer '{name}': input '{src}' is a cost, which gives one "
                                "number per batch, not values per image: no layer reads a cost")
            else:
                continue
            bad.add(name)
    return bad


def _readable(spec: NetSpec, order: tuple[str, ...], name: str) -> list[str]:
    """The layers ``name`` may read, for a "did you mean": those defined before it that are
    not costs (file order is computation order; docs/language-guide.md)."""
    before = order[:order.index(name)]
    return [n for n in before if n not in spec.layers or not spec.layers[n].cost]


def _sound(spec: NetSpec, order: tuple[str, ...], bad: set[str]) -> dict[str, L.LayerBase]:
    """The layers that validated, are wired right and read only such layers (file order)."""
    sound: dict[str, L.LayerBase] = {}
    for name in order:
        layer = spec.layers.get(name)
        if layer is not None and name not in bad and all(s in sound for s in layer.inputs):
            sound[name] = layer
    return sound


def _assign_devices(spec: NetSpec, sound: dict[str, L.LayerBase],
                    out: Collector) -> dict[str, int | None]:
    """``gpu=`` or the first non-data input's device; data layers have none (the guide's
    "Devices")."""
    stated = {d for layer in spec.layers.values() if layer.gpu for d in layer.gpu}
    multi = len(stated) > 1 or any(d > 0 for d in stated)
    devices: dict[str, int | None] = {}
    for name, layer in sound.items():
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


def _infer_all(spec: NetSpec, sound: dict[str, L.LayerBase], devices: dict, size: int,
               channels: int, classes: int | None, out: Collector) -> dict[str, LayerInfo]:
    """Every sound layer's shape in file order. One-hot label layers (dataIdx=2) are as wide as
    the number of classes; when that is not given, it is read off the costs (:func:`class_count`)
    after everything not depending on those layers is known."""
    infos: dict[str, LayerInfo] = {}
    waiting: list[str] = []
    for name, layer in sound.items():
        if layer.type == "data" and layer.shape_at(size, channels, classes) is None:
            waiting.append(name)
        elif any(src in waiting for src in layer.inputs):
            waiting.append(name)
        else:
            _infer_layer(spec, layer, infos, devices, size=size, channels=channels,
                         classes=classes, out=out)
    if waiting:
        width = class_count(spec, infos, waiting)
        for name in waiting:
            layer = sound[name]
            if width is None and says_classes(spec, waiting):
                continue  # the costs' predictions failed: their diagnostics stand
            if layer.type == "data" and width is None:
                out.error(spec.span(name, "data_idx"),
                          f"layer '{name}': dataIdx=2 delivers the labels one-hot, one column per "
                          "class, and nothing here says how many classes there are: feed it to "
                          "a cost.bce or cost.crossent beside the predictions, or check the "
                          "experiment (its data has the classes)")
                continue
            _infer_layer(spec, layer, infos, devices, size=size, channels=channels,
                         classes=width, out=out)
    return infos


def _infer_layer(spec: NetSpec, layer: L.LayerBase, infos: dict[str, LayerInfo],
                 devices: dict, *, size: int, channels: int, classes: int | None,
                 out: Collector) -> None:
    name = layer.name
    hint = labels_hint(spec, layer)

    def report(key: str, message: str) -> None:
        out.error(spec.span(name, _FIELD_OF.get(key, key)), f"layer '{name}': {message}{hint}")

    if layer.type == "data":
        shape = layer.shape_at(size, channels, classes)
        if layer.data_idx == 2 and classes is not None and (layer.end or 0) > classes:
            report("end", f"'end' {layer.end} is beyond the {classes} classes of the data")
            return
        if shape[0] < 1:
            report("start", f"'start' {layer.start} leaves no columns of the {classes} classes")
            return
        inferred = Inferred(shape=shape)
    else:
        if any(src not in infos for src in layer.inputs):
            return  # an input already failed; its diagnostic stands
        inferred = layer.infer([infos[s].shape for s in layer.inputs], report)
        if inferred is None:
            return
    replicas = len(layer.gpu) if layer.gpu else 1
    infos[name] = LayerInfo(name=name, type=layer.type, device=devices[name], replicas=replicas,
                            shape=inferred.shape, inputs=layer.inputs,
                            in_shapes=tuple(infos[s].shape for s in layer.inputs),
                            params=inferred.params, macs=inferred.macs, views=inferred.views,
                            weights=inferred.weights)


def _transfers(infos: dict[str, LayerInfo]) -> list[Transfer]:
    edges = []
    for info in infos.values():
        for src in dict.fromkeys(info.inputs):
            s = infos[src]
            if s.device is not None and info.device is not None and s.device != info.device:
                edges.append(Transfer(src, info.name, s.device, info.device,
                                      numel(s.shape) * BYTES_PER_VALUE))
    return edges
