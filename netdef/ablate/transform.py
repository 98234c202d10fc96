"""Each claim's variant as a transformation of the user's parsed files (torch-free).

A transformation reads the checked base net and edits the definition and params text with
:class:`~netdef.ablate.edit.TextEditor`, so the variant is the user's own file with a few lines
changed, and it then goes through the normal read → schema → check like any file. A claim that
cannot apply to the net (no normalisation to remove, no overlapping pool…) raises NetdefError
saying why, before anything is trained.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from ..check import CheckedNet, pool_out_side
from ..errors import Diagnostic, NetdefError, Span
from ..schema import DROPOUT_TYPES, Experiment
from ..schema.layers import LAYER_TYPES, LRN_TYPES, alias_of, field_extra
from ..syntax import Document, split_list
from .edit import TextEditor


@dataclass(kw_only=True)
class Sources:
    """The user's experiment as read: its documents and the checked base net."""

    experiment_path: str
    exp: Experiment
    definition: Document
    params: Document | None
    checked: CheckedNet
    inline: bool  # one-file form: the layer sections sit in the experiment file
    notes: list[str] = field(default_factory=list)  # what a claim left out, and why

    @property
    def spec(self):
        return self.checked.spec


@dataclass(kw_only=True)
class Variant:
    """One side of a comparison: texts to train (or, ``trains=False``, an evaluation only)."""

    claim: str
    name: str
    description: str
    definition: str
    params: str | None
    overrides: dict[str, str] = field(default_factory=dict)  # experiment keys
    changes: list[str] = field(default_factory=list)  # one line per edit, for the report
    trains: bool = True


class Edits:
    """Edits of the definition and params files of one variant."""

    def __init__(self, src: Sources):
        self.src = src
        self.definition = TextEditor(src.definition)
        self.params = TextEditor(src.params) if src.params is not None else None
        self.changes: list[str] = []
        if src.inline:
            self.definition.remove_section("train")  # the variant's experiment is its own file

    def editors(self) -> list[TextEditor]:
        return [e for e in (self.params, self.definition) if e is not None]

    def raw(self, layer: str, key: str) -> str | None:
        """The text of ``key`` for ``layer`` (the params file wins, as in the reader)."""
        for editor in self.editors():
            value = editor.value(layer, key)
            if value is not None:
                return value
        return None

    def set_key(self, layer: str, key: str, value: str) -> None:
        """Change ``key`` where it is written; a key not written goes into the definition."""
        holders = [e for e in self.editors() if e.value(layer, key) is not None]
        for editor in holders or [self.definition]:
            editor.set(layer, key, value)

    def remove_layer(self, layer: str) -> None:
        for editor in self.editors():
            editor.remove_section(layer)

    def variant(self, claim: str, name: str, description: str, **kw) -> Variant:
        return Variant(claim=claim, name=name, description=description,
                       definition=self.definition.text(),
                       params=self.params.text() if self.params is not None else None,
                       changes=list(self.changes), **kw)


def not_applicable(src: Sources, claim: str, message: str, span: Span | None = None
                   ) -> NetdefError:
    """A claim that cannot apply to this net, located at the layer concerned when there is one."""
    where = "" if span is not None else f"{os.path.normpath(src.spec.path)}: "
    return NetdefError([Diagnostic(span, f"{where}claim '{claim}': {message}")])


def base_variant(src: Sources) -> Variant:
    """The user's net unchanged (the reference every variant is compared with)."""
    return Edits(src).variant("base", "base", "the experiment as written")


def relu_to_tanh(src: Sources) -> Variant:
    """Every ``relu`` neuron becomes ``tanh`` (f(x) = tanh(x), the paper's saturating unit)."""
    edits = Edits(src)
    for name, layer in src.spec.layers.items():
        if layer.neuron is not None and layer.neuron.kind == "relu":
            edits.set_key(name, "neuron", "tanh")
            edits.changes.append(f"{name}: neuron relu → tanh")
    if not edits.changes:
        raise not_applicable(src, "relu", "the net has no relu neuron to replace")
    return edits.variant("relu", "tanh", "every relu neuron replaced by tanh")


def remove_layers(src: Sources, claim: str, kinds: frozenset[str], what: str) -> Edits:
    """Remove every layer of ``kinds`` and rewire its readers to its own input."""
    spec, edits = src.spec, Edits(src)
    removed = {n: layer for n, layer in spec.layers.items() if layer.type in kinds}
    if not removed:
        raise not_applicable(src, claim, f"the net has no {what} to remove "
                                         f"(no layer of type {' or '.join(sorted(kinds))})")
    problems = [Diagnostic(spec.span(n, "neuron"), f"layer '{n}': claim '{claim}': it applies "
                           f"neuron={layer.neuron}; removing the layer would remove that too")
                for n, layer in removed.items() if layer.neuron is not None]
    if problems:
        raise NetdefError(problems)

    def source(name: str) -> str:
        while name in removed:
            name = removed[name].inputs[0]
        return name

    for name, layer in spec.layers.items():
        if name in removed or not any(i in removed for i in layer.inputs):
            continue
        items = split_list(edits.raw(name, "inputs") or "")
        edits.set_key(name, "inputs", ",".join(source(i) for i in items))
    for name in removed:
        edits.remove_layer(name)
        readers = [n for n, other in spec.layers.items()
                   if name in other.inputs and n not in removed]
        verb = "reads" if len(readers) == 1 else "read"
        edits.changes.append(f"{name} ({spec.layers[name].type}) removed; "
                             f"{', '.join(readers) or 'nothing'} now {verb} {source(name)}")
    return edits


def without_lrn(src: Sources) -> Variant:
    edits = remove_layers(src, "lrn", LRN_TYPES, "response normalisation")
    return edits.variant("lrn", "no-lrn", "every cmrnorm/rnorm layer removed")


def without_dropout(src: Sources) -> Variant:
    edits = remove_layers(src, "dropout", DROPOUT_TYPES, "dropout")
    return edits.variant("dropout", "no-dropout", "every dropout layer removed")


def non_overlapping_pools(src: Sources) -> Variant:
    """Every overlapping pool (sizeX > stride, the paper's 3/2) becomes sizeX = stride (2/2),
    with ``outputsX`` keeping the output side where the smaller window would give more."""
    spec, edits, problems = src.spec, Edits(src), []
    for name, layer in spec.layers.items():
        if layer.type != "pool" or layer.size_x <= layer.stride:
            continue
        if layer.stride == 1:
            problems.append(Diagnostic(spec.span(name, "stride"), (
                f"layer '{name}': claim 'overlap-pool': the pool has stride 1, so a "
                f"non-overlapping pool of the same output size would be 1×1 (no pooling); "
                f"the claim compares pools of stride ≥ 2")))
            continue
        info = src.checked.layers[name]
        side, out = _pool_side(info.in_shapes[0], layer.channels), info.shape[1]
        natural = pool_out_side(side, layer.stride, layer.start, layer.stride)
        edits.set_key(name, "sizeX", str(layer.stride))
        change = f"{name}: sizeX {layer.size_x} → {layer.stride} (stride {layer.stride})"
        if natural != out and not layer.outputs_x:
            edits.set_key(name, "outputsX", str(out))
            change += f", outputsX={out} keeps the {out}×{out} output ({natural} without it)"
        edits.changes.append(change)
    if problems:
        raise NetdefError(problems)
    if not edits.changes:
        raise not_applicable(src, "overlap-pool", "the net has no overlapping pool "
                                                  "(a pool layer with sizeX > stride)")
    return edits.variant("overlap-pool", "no-overlap", "overlapping pools (sizeX > stride) made "
                                                       "non-overlapping, same output size")


def _pool_side(shape: tuple[int, int, int], channels: int) -> int:
    """The side a pool reads its input at (an fc output C·S·S reads as a C×S×S image)."""
    c, h, w = shape
    if c == channels and h == w:
        return h
    return math.isqrt(c * h * w // channels)


def augment_variants(src: Sources) -> list[Variant]:
    """Crops and mirrors off (every training image is its centre crop); lighting off."""
    edits = Edits(src)
    out = [edits.variant("augment", "no-crops-mirrors", "training on the centre crop, unmirrored",
                         overrides={"random-crops": "off", "mirrors": "off"})]
    if src.checked.input_channels != 3:
        src.notes.append(f"augment: the images have {src.checked.input_channels} channel(s), "
                         f"and PCA lighting applies to RGB only: no 'no-lighting' variant")
    elif src.exp.color_noise == 0:
        src.notes.append("augment: color-noise is 0 already: no 'no-lighting' variant")
    else:
        out.append(edits.variant("augment", "no-lighting", "no PCA lighting noise",
                                 overrides={"color-noise": "0"}))
    return out


def one_view(src: Sources) -> Variant:
    """The base checkpoints scored on their centre crop only (no training of a variant)."""
    exp = src.exp
    if exp.inner_size >= exp.image_size:
        raise not_applicable(src, "ten-view", (
            f"inner-size {exp.inner_size} equals image-size {exp.image_size}: the four corner "
            f"crops and the centre crop are the same patch, so the ten views would be one image "
            f"and its mirror"), src.exp.span_of("inner-size"))
    return Edits(src).variant("ten-view", "one-view", "the same checkpoints, centre crop only "
                              "(the base uses the ten views)", trains=False)


def per_input_keys(layer_type: str) -> dict[str, str]:
    """Lower-cased key as written -> field, for the keys of a type that take one value per
    input (and ``inputs`` itself)."""
    model = LAYER_TYPES[layer_type]
    return {alias_of(f).lower(): f for f in model.model_fields
            if f == "inputs" or field_extra(model, f).get("per_input")}
