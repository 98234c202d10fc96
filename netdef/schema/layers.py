"""The language's layer types as pydantic models: one per type, a ``Literal`` tag, no unknown keys.

docs/language-guide.md ("Layer types", "The params file"). Everything netdef knows about a type
is declared once, on its model, as class variables (in the manner of Caffe's per-layer
``ExactNumBottomBlobs``): how many inputs it takes, whether it needs a params section and which
keys there, whether it has weights, how its towers fold, whether its filters are pictures,
whether it is a cost read from softmax scores, and its shape rule (``infer``, Caffe's
``Reshape()``). The type lists used elsewhere are derived from these, at the end of this file.
Cross-layer rules (wiring, devices, costs) live in ``netdef.check``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from . import shapes as rules
from .base import (
    ALIASES,
    NOTE,
    WEIGHT_PARAMS,
    InitFuncs,
    LayerBase,
    NonNegFloat,
    NonNegInt,
    PerImage,
    PosInt,
    Probability,
    WeightParams,
    alias_of,
    field_extra,
    param,
    per_input,
)
from .layers_image import Blur, Crop, Href, Nailbed, Resize, Rgb2Lab, Rgb2Yuv
from .shapes import Shape
from .values import Bool, Float, Int, NeuronValue

__all__ = ["ALIASES", "alias_of", "field_extra", "LayerBase", "WeightParams", "InitFuncs",
           "LAYER_MODELS", "LAYER_TYPES", "Layer", "REJECTED", "WEIGHT_TYPES", "COST_TYPES",
           "SCORED_COSTS", "NEEDS_PARAMS", "SPATIAL_TYPES", "BATCH_TYPES", "DROPOUT_TYPES",
           "LRN_TYPES", "CHANNELS_KEPT", "CHANNELS_STATED"]

DATA_INDICES = {0: "the images", 1: "the label index", 2: "the labels one-hot"}


def _data_idx(value: int) -> int:
    if value not in DATA_INDICES:
        supplied = ", ".join(f"{k} {v}" for k, v in DATA_INDICES.items())
        raise ValueError(f"must be 0, 1 or 2: netdef supplies {supplied}")
    return value


class Data(LayerBase):
    """Images (N, C, S, S), label indices (N,), or the labels one-hot (N, classes).

    One-hot labels are what cuda-convnet2's binomial cross-entropy cost reads."""

    type: Literal["data"] = "data"
    arity: ClassVar[tuple[int, int | None]] = (0, 0)
    data_idx: Annotated[Int, AfterValidator(_data_idx)] = Field(
        0, description="0 images, 1 label index, 2 one-hot labels")
    start: NonNegInt | None = Field(None, description="V2, dataIdx=2: first class column taken")
    end: PosInt | None = Field(None, description="V2, dataIdx=2: one past the last column taken")

    @field_validator("start", "end")
    @classmethod
    def _columns_of_one_hot(cls, value: int | None, info: ValidationInfo) -> int | None:
        idx = info.data.get("data_idx")
        if value is not None and idx is not None and idx != 2:
            raise ValueError(f"selects columns of the one-hot labels (dataIdx=2); a "
                             f"dataIdx={idx} layer delivers {DATA_INDICES[idx]} whole")
        start = info.data.get("start") or 0
        if info.field_name == "end" and value is not None and value <= start:
            raise ValueError(f"must be greater than 'start' ({start})")
        return value

    def shape_at(self, side: int, channels: int, classes: int | None) -> Shape | None:
        """Its shape rule: (channels, side, side) images, (1, 1, 1) a label index, or
        (classes, 1, 1) one-hot labels (``end − start`` columns of them); None when the
        number of classes is not known."""
        if self.data_idx == 0:
            return (channels, side, side)
        if self.data_idx == 1:
            return (1, 1, 1)
        if self.end is not None:
            return (self.end - (self.start or 0), 1, 1)
        return None if classes is None else (classes - (self.start or 0), 1, 1)


class ConvLike(WeightParams, InitFuncs, LayerBase):
    arity: ClassVar[tuple[int, int | None]] = (1, None)
    needs_params: ClassVar[bool] = True
    required_params: ClassVar[tuple[str, ...]] = WEIGHT_PARAMS
    weighted: ClassVar[bool] = True
    spatial: ClassVar[bool] = True
    infer = rules.infer_conv

    channels: tuple[PosInt, ...] = per_input()
    filters: tuple[PosInt, ...] = per_input(description="filters per group")
    filter_size: tuple[PosInt, ...] = per_input()
    padding: tuple[NonNegInt, ...] = per_input((0,))
    stride: tuple[PosInt, ...] = per_input((1,))
    init_w: tuple[NonNegFloat, ...] = per_input((0.01,), description="weight std")
    filter_channels: tuple[PosInt, ...] | None = per_input(None)
    rand_sparse: tuple[Bool, ...] = per_input((False,))
    weight_source: tuple[str, ...] = per_input(("",))
    groups: tuple[PosInt, ...] = per_input((1,))
    init_b: Float = 0.0
    shared_biases: Bool = True
    modules_x: PosInt | None = Field(None, description="V2: the output side, overriding the "
                                                         "ceil rule; the right padding follows")
    partial_sum: Int | None = Field(None, json_schema_extra=NOTE)
    sum_width: Int | None = Field(None, json_schema_extra=NOTE)


class Conv(ConvLike):
    type: Literal["conv"] = "conv"
    folds: ClassVar[frozenset[str]] = frozenset({"stacked", "grouped"})


class Local(ConvLike):
    type: Literal["local"] = "local"


class Fc(WeightParams, InitFuncs, LayerBase):
    type: Literal["fc"] = "fc"
    arity: ClassVar[tuple[int, int | None]] = (1, None)
    needs_params: ClassVar[bool] = True
    required_params: ClassVar[tuple[str, ...]] = WEIGHT_PARAMS
    weighted: ClassVar[bool] = True
    folds: ClassVar[frozenset[str]] = frozenset({"stacked"})
    infer = rules.infer_fc
    outputs: PosInt
    init_w: tuple[NonNegFloat, ...] = per_input((0.01,))
    init_b: Float = 0.0
    weight_source: tuple[str, ...] = per_input(("",))


class Sfc(WeightParams, LayerBase):
    """Block-diagonal fc: the input split into ``parts``, each to ``outputs`` units."""

    type: Literal["sfc"] = "sfc"
    needs_params: ClassVar[bool] = True
    required_params: ClassVar[tuple[str, ...]] = WEIGHT_PARAMS
    weighted: ClassVar[bool] = True
    infer = rules.infer_sfc
    parts: PosInt
    outputs: PosInt = Field(description="outputs per part")
    init_w: tuple[NonNegFloat, ...] = per_input((0.01,))
    init_b: Float = 0.0


class Softmax(PerImage):
    type: Literal["softmax"] = "softmax"
    infer = rules.infer_same


class NeuronLayer(PerImage):
    type: Literal["neuron"] = "neuron"
    towers_unfolded: ClassVar[str | None] = "channels"
    infer = rules.infer_same
    neuron: NeuronValue


class Pool(PerImage):
    type: Literal["pool"] = "pool"
    towers_unfolded: ClassVar[str | None] = "channels"  # each map pooled alone
    infer = rules.infer_pool
    pool: Literal["max", "avg", "maxabs"]
    channels: PosInt
    size_x: PosInt
    stride: PosInt = 1
    start: Int = 0
    outputs_x: NonNegInt = 0
    sum: Bool = False

    @field_validator("stride")
    @classmethod
    def _stride_within_size(cls, stride: int, info: ValidationInfo) -> int:
        size = info.data.get("size_x")
        if size is not None and stride > size:  # every cuda-convnet parser refused it
            raise ValueError(f"must be in the range 1-sizeX (1-{size}), as every cuda-convnet "
                             "parser required")
        return stride


class CmPool(LayerBase):
    type: Literal["cmpool"] = "cmpool"
    infer = rules.infer_cmpool
    pool: Literal["max"] = "max"
    channels: PosInt
    size: PosInt
    stride: PosInt = 1
    start: Int = 0
    outputs: NonNegInt = 0


class NormBase(PerImage):
    needs_params: ClassVar[bool] = True
    required_params: ClassVar[tuple[str, ...]] = ("scale", "pow")
    normalizes: ClassVar[str | None] = "response"
    infer = rules.infer_channels_same
    channels: PosInt
    size: PosInt
    scale: NonNegFloat | None = param()
    pow: NonNegFloat | None = param()
    min_div: Annotated[Float, Field(gt=0)] = param(1.0)


class CmrNorm(NormBase):
    """The AlexNet LRN across maps: x / (minDiv + scale/size · Σ x²)^pow."""

    type: Literal["cmrnorm"] = "cmrnorm"
    towers_unfolded: ClassVar[str | None] = "pixels"  # a window across one pixel's maps
    blocked: Bool = False


class RNorm(NormBase):
    type: Literal["rnorm"] = "rnorm"
    towers_unfolded: ClassVar[str | None] = "channels"  # a window within one map


class CNorm(NormBase):
    type: Literal["cnorm"] = "cnorm"
    towers_unfolded: ClassVar[str | None] = "channels"  # a window within one map
    normalizes: ClassVar[str | None] = "contrast"


class EltSum(LayerBase):
    type: Literal["eltsum"] = "eltsum"
    arity: ClassVar[tuple[int, int | None]] = (1, None)
    keeps_channels: ClassVar[bool] = True
    infer = rules.infer_elementwise
    coeffs: tuple[Float, ...] | None = param(per_input_=True)


class EltMax(LayerBase):
    type: Literal["eltmax"] = "eltmax"
    arity: ClassVar[tuple[int, int | None]] = (2, None)
    keeps_channels: ClassVar[bool] = True
    infer = rules.infer_elementwise


class Concat(LayerBase):
    type: Literal["concat"] = "concat"
    arity: ClassVar[tuple[int, int | None]] = (1, None)
    infer = rules.infer_concat


class Pass(LayerBase):
    """cuda-convnet2's ``pass``: a concatenation."""

    type: Literal["pass"] = "pass"
    arity: ClassVar[tuple[int, int | None]] = (1, None)
    infer = rules.infer_concat


class DropoutBase(PerImage):
    needs_params: ClassVar[bool] = True  # cuda-convnet2 read keep/enable from the params file
    infer = rules.infer_same
    keep: Probability = param(0.5)
    enable: Bool = param(True)


class Dropout(DropoutBase):
    """Inverted dropout: scales by 1/keep in training, identity at test."""

    type: Literal["dropout"] = "dropout"


class Dropout2(DropoutBase):
    """Non-inverted dropout (the paper's): mask in training, × keep at test."""

    type: Literal["dropout2"] = "dropout2"


class Hs(DropoutBase):
    """A12's name for dropout2; ``keep`` lives in the definition file."""

    type: Literal["hs"] = "hs"
    keep: Probability = 0.5


class CostBase(LayerBase):
    needs_params: ClassVar[bool] = True
    cost: ClassVar[bool] = True
    infer = rules.infer_cost
    coeff: Float = param(1.0)


class LogReg(CostBase):
    """Multinomial logistic regression: inputs labels, softmax. Reports nll, top-1, top-k."""

    type: Literal["cost.logreg"] = "cost.logreg"
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    scored: ClassVar[bool] = True
    topk: PosInt = param(1)


class Sum2(CostBase):
    type: Literal["cost.sum2"] = "cost.sum2"


class CrossEnt(CostBase):
    """coeff · −Σ t·log y: t the labels one-hot (dataIdx=2), y a softmax."""

    type: Literal["cost.crossent"] = "cost.crossent"
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    scored: ClassVar[bool] = True


class Bce(CostBase):
    """Binomial cross-entropy: t the labels one-hot (dataIdx=2), y per-class probabilities."""

    type: Literal["cost.bce"] = "cost.bce"
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    pos_weight: NonNegFloat = param(1.0)


LAYER_MODELS: tuple[type[LayerBase], ...] = (
    Data, Conv, Local, Fc, Sfc, Softmax, NeuronLayer, Pool, CmPool, CmrNorm, RNorm, CNorm,
    EltSum, EltMax, Concat, Pass, Dropout, Dropout2, Hs, Crop, Href, Blur, Nailbed, Resize,
    Rgb2Yuv, Rgb2Lab, LogReg, Sum2, CrossEnt, Bce,
)
LAYER_TYPES: dict[str, type[LayerBase]] = {m.type_name(): m for m in LAYER_MODELS}
# Union over a tuple of models (`X | Y` has no form for that)
Layer = Annotated[Union[LAYER_MODELS], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007

# Types cuda-convnet had that netdef refuses, with the reason given to the user.
REJECTED: dict[str, str] = {
    "treefc": "tree-structured fc (cuda-convnet2 research code)",
    "rscale": "random-scale augmentation layer",
    "cost.dce": "a research cost",
    "cost.crossent2": "a research cost",
    "cost.gsum2": "a research cost",
    "cost.tica": "topographic ICA cost",
    "cost.msm": "a research cost",
    "cost.rflickr": "a research cost",
    "fcdropo": "dropout-fc research layer",
    "fcdropc": "dropconnect research layer",
    "fcdropcf": "dropconnect research layer",
}

# The type lists used elsewhere, derived from the models' facts.
WEIGHT_TYPES = frozenset(t for t, m in LAYER_TYPES.items() if m.weighted)
COST_TYPES = frozenset(t for t, m in LAYER_TYPES.items() if m.cost)
SCORED_COSTS = frozenset(t for t, m in LAYER_TYPES.items() if m.scored)
NEEDS_PARAMS = frozenset(t for t, m in LAYER_TYPES.items() if m.needs_params)
SPATIAL_TYPES = frozenset(t for t, m in LAYER_TYPES.items() if m.spatial)
BATCH_TYPES = frozenset(t for t, m in LAYER_TYPES.items() if "batch" in m.folds)
DROPOUT_TYPES = frozenset(t for t, m in LAYER_TYPES.items() if issubclass(m, DropoutBase))
LRN_TYPES = frozenset(t for t, m in LAYER_TYPES.items() if m.normalizes == "response")
# Layers whose output keeps the input's channels: some state them in a ``channels`` key.
CHANNELS_KEPT = frozenset(t for t, m in LAYER_TYPES.items() if m.keeps_channels)
CHANNELS_STATED = frozenset(t for t in CHANNELS_KEPT if "channels" in LAYER_TYPES[t].model_fields)

