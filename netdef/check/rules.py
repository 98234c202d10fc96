"""Cross-layer rules of the check stage: what costs read, what data layers deliver, weight
sharing, init functions and unused layers (docs/language-guide.md "Layer types")."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from ..errors import Collector, did_you_mean
from ..schema import NetSpec
from ..schema import layers as L
from ..schema.shapes import layer_kind, numel

if TYPE_CHECKING:
    from .net import LayerInfo

# The code of the note "more outputs than classes": training repeats it as a Message.
OUTPUTS_BEYOND_CLASSES = "outputs-beyond-classes"
_SOURCE = re.compile(r"([^\[\]]+)(?:\[(\d+)\])?")
WHAT_COSTS_READ = ("cost.logreg reads the index, dataIdx=1; cost.bce and cost.crossent read it "
                   "one-hot, dataIdx=2; cost.sum2 reads any layer")


def _data_idx(spec: NetSpec, name: str) -> int | None:
    layer = spec.layers.get(name)
    return layer.data_idx if isinstance(layer, L.Data) else None


def labels_hint(spec: NetSpec, layer: L.LayerBase) -> str:
    """For a shape problem in a layer that reads labels: what netdef's labels are (one class
    index per image, not regression targets) and what the costs read."""
    if layer.cost:
        return ""
    for src in layer.inputs:
        idx = _data_idx(spec, src)
        if idx in (1, 2):
            what = "one class index per image" if idx == 1 else "the labels one-hot"
            return (f"; '{src}' (dataIdx={idx}) is {what}: netdef's labels are class "
                    f"indices, not regression targets ({WHAT_COSTS_READ})")
    return ""


def class_count(spec: NetSpec, infos: dict[str, LayerInfo], waiting: list[str]) -> int | None:
    """The number of classes when the data has not said: the width of the predictions a
    cost.bce/cost.crossent reads beside a one-hot label layer, else of a cost.logreg's softmax;
    None when no such cost has its predictions checked."""
    for src in _class_sources(spec, waiting):
        if src in infos:
            return numel(infos[src].shape)
    return None


def _class_sources(spec: NetSpec, waiting: list[str]) -> list[str]:
    """The layers whose width is the number of classes, by what the costs read."""
    return [layer.inputs[1] for layer in spec.layers.values()
            if len(layer.inputs) == 2 and ((layer.type in ("cost.bce", "cost.crossent")
                                            and layer.inputs[0] in waiting)
                                           or layer.type == "cost.logreg")]


def says_classes(spec: NetSpec, waiting: list[str]) -> bool:
    """Whether a cost could have said how many classes there are, had its predictions not
    failed their own check (which is then the one problem to report). Predictions computed
    from the one-hot labels themselves cannot say."""
    return any(src not in waiting for src in _class_sources(spec, waiting))


def check_costs(spec: NetSpec, infos: dict[str, LayerInfo], classes: int | None,
                out: Collector) -> None:
    """What each cost reads: labels as the cost takes them, and a softmax where it needs one."""
    for name, layer in spec.layers.items():
        if not layer.cost or len(layer.inputs) != 2 or any(s not in infos for s in layer.inputs):
            continue
        labels, probs = layer.inputs
        span = spec.span(name, "inputs")
        idx, width = _data_idx(spec, labels), numel(infos[probs].shape)
        if layer.type == "cost.logreg":
            if idx == 2:
                out.error(span, f"layer '{name}': input 1 ('{labels}') is dataIdx=2, the labels "
                                "one-hot; cost.logreg reads the label index (dataIdx=1). netdef "
                                "supplies one set of labels per image: dataIdx=1 their index, "
                                "dataIdx=2 the same labels one-hot (for cost.bce and "
                                "cost.crossent)")
                continue
            if numel(infos[labels].shape) != 1:
                out.error(span, f"layer '{name}': input 1 ('{labels}') must be the labels (one "
                                f"value per image, a data layer with dataIdx=1; got "
                                f"{_fmt(infos[labels].shape)})")
        elif numel(infos[labels].shape) != width:
            want = ("the labels one-hot, a dataIdx=2 layer" if idx != 2
                    else f"as wide as '{probs}'")
            out.error(span, f"layer '{name}': input 1 ('{labels}') has "
                            f"{numel(infos[labels].shape)} value(s) per image and '{probs}' has "
                            f"{width}; {layer_kind(layer.type)} reads {want}"
                            + (f" (the data has {classes} classes)" if classes and idx == 2
                               else ""))
        if layer.scored and spec.layers[probs].type != "softmax":
            out.error(span, f"layer '{name}': input 2 ('{probs}') must be a softmax layer "
                            f"(got {layer_kind(spec.layers[probs].type)})")
            continue
        if layer.type == "cost.logreg":
            _check_classes(spec, name, layer, probs, width, classes, out)


def _check_classes(spec: NetSpec, name: str, layer: L.LogReg, probs: str, width: int,
                   classes: int | None, out: Collector) -> None:
    span = spec.span(name, "inputs")
    if layer.topk > width:
        out.error(spec.span(name, "topk"), f"layer '{name}': 'topk' {layer.topk} exceeds the "
                                           f"{width} classes of '{probs}'")
    if classes is not None:
        if width < classes:
            out.error(span, f"layer '{name}': '{probs}' has {width} outputs but the data has "
                            f"{classes} classes")
        elif width > classes:
            out.note(span, f"layer '{name}': '{probs}' has {width} outputs for {classes} "
                           "classes; labels index the first outputs",
                     code=OUTPUTS_BEYOND_CLASSES)


def check_weight_sources(spec: NetSpec, infos: dict[str, LayerInfo], out: Collector) -> None:
    """``weightSource=other`` or ``other[k]``: same type, same weight shape. Resolved sources go
    into the layer's ``weights`` (builders read them from there)."""
    for name, layer in spec.layers.items():
        if name not in infos:
            continue
        for i, src in enumerate(getattr(layer, "weight_source", ()) or ()):
            if not src:
                continue
            source = _resolve(spec, infos, name, layer, i, src, out)
            if source is not None:
                info = infos[name]
                weights = list(info.weights)
                weights[i] = dataclasses.replace(weights[i], source=source)
                info.weights = tuple(weights)


def _resolve(spec: NetSpec, infos: dict[str, LayerInfo], name: str, layer, i: int, src: str,
             out: Collector) -> tuple[str, int] | None:
    span = spec.span(name, "weight_source")
    m = _SOURCE.fullmatch(src)
    if m is None:
        out.error(span, f"layer '{name}': malformed 'weightSource' '{src}' (expected a layer name "
                        "or layer[k])")
        return None
    other, k = m.group(1), int(m.group(2) or 0)
    if other == name:
        out.error(span, f"layer '{name}': 'weightSource' names the layer itself")
        return None
    if other not in spec.layers:
        if other not in spec.broken:
            out.error(span, f"layer '{name}': 'weightSource' names unknown layer '{other}'"
                            f"{did_you_mean(other, _same_type(spec, layer.type, name))}")
        return None
    target = spec.layers[other]
    if target.type != layer.type:
        out.error(span, f"layer '{name}': 'weightSource' '{src}' is {layer_kind(target.type)}; "
                        f"it must be {layer_kind(layer.type)}")
        return None
    if k >= len(target.inputs):
        out.error(span, f"layer '{name}': 'weightSource' '{src}': '{other}' has only "
                        f"{len(target.inputs)} input(s)")
        return None
    if other not in infos:
        return None  # its own problem is reported
    mine, theirs = infos[name].weights[i].shape, infos[other].weights[k].shape
    if mine != theirs:
        out.error(span, f"layer '{name}': 'weightSource' '{src}' has weights {theirs}, input "
                        f"{i + 1} needs {mine}")
        return None
    return other, k


def _same_type(spec: NetSpec, kind: str, name: str) -> list[str]:
    """The layers a weightSource of layer ``name`` may name: the others of its type."""
    return [n for n, other in spec.layers.items() if other.type == kind and n != name]


def check_init_funcs(spec: NetSpec, allowed: bool, out: Collector) -> None:
    if allowed:
        return
    for name, layer in spec.layers.items():
        for key in ("init_w_func", "init_b_func", "init_c_func"):
            if getattr(layer, key, None):
                out.error(spec.span(name, key),
                          f"layer '{name}': '{L.alias_of(key)}' names Python code to run at "
                          "initialisation; netdef refuses to execute code named in a definition "
                          "file unless you pass --allow-init-funcs")


def check_unused(spec: NetSpec, order: tuple[str, ...], out: Collector) -> None:
    """Every layer must feed another or be a cost, data layers included: every cuda-convnet
    parser refused the net otherwise ("layer is unused")."""
    used = {src for name in order
            for src in (spec.layers[name].inputs if name in spec.layers
                        else spec.broken.get(name, ()))}
    for name, layer in spec.layers.items():
        if name in used or layer.cost:
            continue
        out.error(spec.span(name), f"layer '{name}' is unused: no layer reads it and it is not "
                                   "a cost (cuda-convnet refused such a net too; remove it or "
                                   "read it)")


def _fmt(shape) -> str:
    return "×".join(map(str, shape))
