"""The language's layer types as pydantic models: one per type, a ``Literal`` tag, no unknown keys.

LANGUAGE.md §2 (definition keys) and §3 (params keys). A key in a file and a field relate through
the one table :data:`ALIASES` (cuda-convnet's camelCase; matching is case-insensitive). Fields
marked ``per_input`` take one value per input (a single value is broadcast, LANGUAGE.md §1);
fields marked ``params`` belong to the params file but may also sit in the definition (one-file
form). Cross-key rules that need the whole net (shapes, devices) live in ``netdef.check``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer,
                      ValidationInfo, field_validator)

from ..errors import NetdefError
from ..schedules import Schedule, format_schedule, parse_schedule
from .values import Bool, Float, Int, NeuronValue

# field name -> the key as cuda-convnet spells it. Fields not listed are spelled as named.
ALIASES: dict[str, str] = {
    "data_idx": "dataIdx", "filter_size": "filterSize", "init_w": "initW", "init_b": "initB",
    "filter_channels": "filterChannels", "rand_sparse": "randSparse",
    "weight_source": "weightSource", "shared_biases": "sharedBiases", "modules_x": "modulesX",
    "init_w_func": "initWFunc", "init_b_func": "initBFunc", "init_c_func": "initCFunc",
    "partial_sum": "partialSum", "sum_width": "sumWidth", "size_x": "sizeX",
    "outputs_x": "outputsX", "start_x": "startX", "start_y": "startY", "min_div": "minDiv",
    "eps_w": "epsW", "eps_b": "epsB", "mom_w": "momW", "mom_b": "momB",
    "sched_w": "schedW", "sched_b": "schedB", "pos_weight": "posWeight",
    "update_period": "updatePeriod", "wc_norm_min": "wcNormMin", "wc_norm_max": "wcNormMax",
    "super_eps": "superEps", "super_mom": "superMom", "quant_f": "quantF", "quant_b": "quantB",
    "filter_size_x": "filterSizeX",
}


def alias_of(field: str) -> str:
    """The key as written in files for a model field."""
    return ALIASES.get(field, field)


def _schedule(value: object) -> Any:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            return parse_schedule(str(value))
        except NetdefError as exc:
            raise ValueError(exc.diagnostics[0].message) from None
    return value


ScheduleValue = Annotated[Schedule, BeforeValidator(_schedule),
                          PlainSerializer(format_schedule, return_type=str)]
PosInt = Annotated[Int, Field(gt=0)]
NonNegInt = Annotated[Int, Field(ge=0)]
NonNegFloat = Annotated[Float, Field(ge=0)]
Probability = Annotated[Float, Field(gt=0, le=1)]

PER_INPUT = {"per_input": True}
PARAMS = {"params": True}
NOTE = {"note": "tunes cuda-convnet's CUDA kernels only; accepted and ignored"}
IGNORED = {"params": True, "ignored": True}


def per_input(default: Any = ..., **kw: Any) -> Any:
    """A key with one value per input (or one value for all)."""
    return Field(default, json_schema_extra=PER_INPUT, **kw)


def param(default: Any = None, *, per_input_: bool = False, **kw: Any) -> Any:
    """A params-file key (may also be written in the definition, one-file form)."""
    extra = dict(PARAMS, per_input=True) if per_input_ else PARAMS
    return Field(default, json_schema_extra=extra, **kw)


class LayerBase(BaseModel):
    """Keys every layer takes. ``name`` is the section name, not a key."""

    # defer_build: a model's validator is built when first used, so `netdef check` pays only
    # for the layer types its file uses (start-up time; bench/cli_startup.py).
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=alias_of,
                              populate_by_name=True, defer_build=True)
    name: str
    inputs: tuple[str, ...] = ()
    neuron: NeuronValue | None = None
    gpu: tuple[NonNegInt, ...] | None = Field(
        None, description="logical device; a list (V2) declares replicas")

    @classmethod
    def type_name(cls) -> str:
        return cls.model_fields["type"].default


class WeightParams(BaseModel):
    """LANGUAGE.md §3: learning rates, momentum and decay of layers with weights."""

    eps_w: tuple[ScheduleValue, ...] | None = param(per_input_=True)
    eps_b: ScheduleValue | None = param()
    mom_w: tuple[NonNegFloat, ...] | None = param(per_input_=True)
    mom_b: NonNegFloat | None = param()
    wc: tuple[NonNegFloat, ...] | None = param(per_input_=True)
    wball: tuple[NonNegFloat, ...] | None = param(per_input_=True)
    sched_w: ScheduleValue | None = param()
    sched_b: ScheduleValue | None = param()
    update_period: PosInt | None = Field(None, json_schema_extra=IGNORED)
    wc_norm_min: tuple[NonNegFloat, ...] | None = Field(None, json_schema_extra=dict(IGNORED, per_input=True))
    wc_norm_max: tuple[NonNegFloat, ...] | None = Field(None, json_schema_extra=dict(IGNORED, per_input=True))
    super_eps: NonNegFloat | None = Field(None, json_schema_extra=IGNORED)
    super_mom: NonNegFloat | None = Field(None, json_schema_extra=IGNORED)
    quant_f: NonNegInt | None = Field(None, json_schema_extra=IGNORED)
    quant_b: NonNegInt | None = Field(None, json_schema_extra=IGNORED)


class InitFuncs(BaseModel):
    """Python initialisers by name (cuda-convnet's initWFunc): refused unless allowed."""

    init_w_func: str | None = None
    init_b_func: str | None = None
    init_c_func: str | None = None


class Data(LayerBase):
    type: Literal["data"] = "data"
    data_idx: NonNegInt = Field(0, description="0 images, 1 label index, 2 one-hot labels")
    start: NonNegInt | None = Field(None, description="V2: first row of the data taken")
    end: PosInt | None = Field(None, description="V2: one past the last row taken")

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: int | None, info: ValidationInfo) -> int | None:
        start = info.data.get("start") or 0
        if end is not None and end <= start:
            raise ValueError(f"must be greater than 'start' ({start})")
        return end


class ConvLike(WeightParams, InitFuncs, LayerBase):
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
    modules_x: PosInt | None = None
    partial_sum: Int | None = Field(None, json_schema_extra=NOTE)
    sum_width: Int | None = Field(None, json_schema_extra=NOTE)


class Conv(ConvLike):
    type: Literal["conv"] = "conv"


class Local(ConvLike):
    type: Literal["local"] = "local"


class Fc(WeightParams, InitFuncs, LayerBase):
    type: Literal["fc"] = "fc"
    outputs: PosInt
    init_w: tuple[NonNegFloat, ...] = per_input((0.01,))
    init_b: Float = 0.0
    weight_source: tuple[str, ...] = per_input(("",))


class Sfc(WeightParams, LayerBase):
    """Block-diagonal fc: the input split into ``parts``, each to ``outputs`` units."""

    type: Literal["sfc"] = "sfc"
    parts: PosInt
    outputs: PosInt = Field(description="outputs per part")
    init_w: tuple[NonNegFloat, ...] = per_input((0.01,))
    init_b: Float = 0.0


class Softmax(LayerBase):
    type: Literal["softmax"] = "softmax"


class NeuronLayer(LayerBase):
    type: Literal["neuron"] = "neuron"
    neuron: NeuronValue


class Pool(LayerBase):
    type: Literal["pool"] = "pool"
    pool: Literal["max", "avg", "maxabs"]
    channels: PosInt
    size_x: PosInt
    stride: PosInt = 1
    start: Int = 0
    outputs_x: NonNegInt = 0
    sum: Bool = False


class CmPool(LayerBase):
    type: Literal["cmpool"] = "cmpool"
    pool: Literal["max"] = "max"
    channels: PosInt
    size: PosInt
    stride: PosInt = 1
    start: Int = 0
    outputs: NonNegInt = 0


class NormBase(LayerBase):
    channels: PosInt
    size: PosInt
    scale: NonNegFloat | None = param()
    pow: NonNegFloat | None = param()
    min_div: Annotated[Float, Field(gt=0)] = param(1.0)


class CmrNorm(NormBase):
    """The AlexNet LRN across maps: x / (minDiv + scale/size · Σ x²)^pow."""

    type: Literal["cmrnorm"] = "cmrnorm"
    blocked: Bool = False


class RNorm(NormBase):
    type: Literal["rnorm"] = "rnorm"


class CNorm(NormBase):
    type: Literal["cnorm"] = "cnorm"


class EltSum(LayerBase):
    type: Literal["eltsum"] = "eltsum"
    coeffs: tuple[Float, ...] | None = param(per_input_=True)


class EltMax(LayerBase):
    type: Literal["eltmax"] = "eltmax"


class Concat(LayerBase):
    type: Literal["concat"] = "concat"


class Pass(LayerBase):
    """cuda-convnet2's ``pass``: a concatenation."""

    type: Literal["pass"] = "pass"


class Dropout(LayerBase):
    """Inverted dropout: scales by 1/keep in training, identity at test."""

    type: Literal["dropout"] = "dropout"
    keep: Probability = param(0.5)
    enable: Bool = param(True)


class Dropout2(LayerBase):
    """Non-inverted dropout (the paper's): mask in training, × keep at test."""

    type: Literal["dropout2"] = "dropout2"
    keep: Probability = param(0.5)
    enable: Bool = param(True)


class Hs(LayerBase):
    """A12's name for dropout2; ``keep`` lives in the definition file."""

    type: Literal["hs"] = "hs"
    keep: Probability = 0.5
    enable: Bool = param(True)


class Crop(LayerBase):
    type: Literal["crop"] = "crop"
    channels: PosInt
    start_x: NonNegInt = 0
    start_y: NonNegInt | None = Field(None, description="defaults to startX (cuda-convnet2)")
    size_x: PosInt


class Href(LayerBase):
    """Horizontal reflection of the image."""

    type: Literal["href"] = "href"
    channels: PosInt = 3


def _odd_blur_size(value: int) -> int:
    if value not in (3, 5, 7, 9):
        raise ValueError("must be one of 3, 5, 7, 9")
    return value


class Blur(LayerBase):
    """Separable Gaussian blur with zero padding, one filter for all channels (cuda-convnet2)."""

    type: Literal["blur"] = "blur"
    channels: PosInt = 3
    filter_size: Annotated[Int, AfterValidator(_odd_blur_size)] = 5
    stdev: Annotated[Float, Field(gt=0)]


class Nailbed(LayerBase):
    """Keeps every ``stride``-th pixel, centred (cuda-convnet2 NailbedLayer)."""

    type: Literal["nailbed"] = "nailbed"
    channels: PosInt = 3
    stride: Annotated[Int, Field(gt=1)]


class Resize(LayerBase):
    """Bilinear resize to floor(side / scale) (cuda-convnet2 ResizeLayer)."""

    type: Literal["resize"] = "resize"
    channels: PosInt = 3
    scale: Annotated[Float, Field(gt=0)]


class Rgb2Yuv(LayerBase):
    type: Literal["rgb2yuv"] = "rgb2yuv"
    channels: PosInt = 3


class Rgb2Lab(LayerBase):
    type: Literal["rgb2lab"] = "rgb2lab"
    channels: PosInt = 3
    center: Bool = False


class CostBase(LayerBase):
    coeff: Float = param(1.0)


class LogReg(CostBase):
    """Multinomial logistic regression: inputs labels, softmax. Reports nll, top-1, top-k."""

    type: Literal["cost.logreg"] = "cost.logreg"
    topk: PosInt = param(1)


class Sum2(CostBase):
    type: Literal["cost.sum2"] = "cost.sum2"


class CrossEnt(CostBase):
    type: Literal["cost.crossent"] = "cost.crossent"


class Bce(CostBase):
    type: Literal["cost.bce"] = "cost.bce"
    pos_weight: NonNegFloat = param(1.0)


LAYER_MODELS: tuple[type[LayerBase], ...] = (
    Data, Conv, Local, Fc, Sfc, Softmax, NeuronLayer, Pool, CmPool, CmrNorm, RNorm, CNorm,
    EltSum, EltMax, Concat, Pass, Dropout, Dropout2, Hs, Crop, Href, Blur, Nailbed, Resize,
    Rgb2Yuv, Rgb2Lab, LogReg, Sum2, CrossEnt, Bce,
)
LAYER_TYPES: dict[str, type[LayerBase]] = {m.type_name(): m for m in LAYER_MODELS}
Layer = Annotated[Union[LAYER_MODELS], Field(discriminator="type")]  # type: ignore[valid-type]

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

WEIGHT_TYPES = frozenset({"conv", "local", "fc", "sfc"})
NORM_TYPES = frozenset({"cmrnorm", "rnorm", "cnorm"})
COST_TYPES = frozenset(t for t in LAYER_TYPES if t.startswith("cost."))
DROPOUT_TYPES = frozenset({"dropout", "dropout2", "hs"})


def known_layer_types() -> list[str]:
    """Every supported layer type, in declaration order."""
    return list(LAYER_TYPES)


def field_extra(model: type[BaseModel], field: str) -> dict:
    extra = model.model_fields[field].json_schema_extra
    return extra if isinstance(extra, dict) else {}
