"""What every layer model shares: key spellings, value types, the keys every layer takes, and
the facts each type declares (docs/language-guide.md "Layer types", "The params file").

A key in a file and a field relate through the one table :data:`ALIASES` (cuda-convnet's
camelCase; matching is case-insensitive). Fields marked ``per_input`` take one value per input
(a single value is broadcast); fields marked ``params`` belong to the params file but may also
sit in the definition (one-file form).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from ..errors import NetdefError
from ..schedules import A12Schedule, Schedule, format_schedule, parse_a12, parse_schedule
from .values import Float, Int, NeuronValue

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


def _a12_schedule(value: object) -> Any:
    if isinstance(value, str):
        try:
            return parse_a12(value)
        except NetdefError as exc:
            raise ValueError(exc.diagnostics[0].message) from None
    return value


ScheduleValue = Annotated[Schedule, BeforeValidator(_schedule),
                          PlainSerializer(format_schedule, return_type=str)]
A12Value = Annotated[A12Schedule, BeforeValidator(_a12_schedule),
                     PlainSerializer(format_schedule, return_type=str)]
PosInt = Annotated[Int, Field(gt=0)]
NonNegInt = Annotated[Int, Field(ge=0)]
NonNegFloat = Annotated[Float, Field(ge=0)]
Probability = Annotated[Float, Field(gt=0, le=1)]

PER_INPUT = {"per_input": True}
PARAMS = {"params": True}
NOTE = {"note": "tunes cuda-convnet's CUDA kernels only; accepted and ignored"}
IGNORED = {"params": True, "ignored": True}
LEGACY = {"params": True, "legacy": "ignored (the 2012 parser never read it)"}
WEIGHT_PARAMS = ("eps_w", "eps_b", "mom_w", "mom_b", "wc")


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

    # The type's facts (see the module docstring); each model overrides what differs.
    arity: ClassVar[tuple[int, int | None]] = (1, 1)  # (min, max) inputs; None: no maximum
    needs_params: ClassVar[bool] = False  # must have a params section
    required_params: ClassVar[tuple[str, ...]] = ()  # fields that section must give
    weighted: ClassVar[bool] = False  # has weights and biases that learn
    folds: ClassVar[frozenset[str]] = frozenset()  # tower folds: "stacked", "grouped", "batch"
    # How a "batch" fold's towers (N, k·C, H, W) reach the one op without a copy, where they
    # can (netdef/compiler/net.py): "channels" when each output channel reads only its own
    # input channel (the op takes the towers' channels as they are), "pixels" when each pixel's
    # channels are worked on alone (a channels-last batch's towers are then rows of pixels, a
    # view); None: towers become extra images (a copy when channels-last).
    towers_unfolded: ClassVar[str | None] = None
    spatial: ClassVar[bool] = False  # its filters are pictures (show-filters)
    cost: ClassVar[bool] = False
    scored: ClassVar[bool] = False  # a cost that reads a softmax (its scores, when plain)
    keeps_channels: ClassVar[bool] = False  # its output has its (first) input's channels
    normalizes: ClassVar[str | None] = None  # "response" (the paper's LRN) or "contrast"
    infer: ClassVar[Any]  # the shape rule: infer(layer, input shapes, report) -> Inferred

    name: str
    inputs: tuple[str, ...] = ()
    neuron: NeuronValue | None = None
    gpu: tuple[NonNegInt, ...] | None = Field(
        None, description="logical device; a list (V2) declares replicas")
    # The 2012 parser read quantF/quantB for every layer; real files set them on pool and hs.
    quant_f: NonNegInt | None = Field(None, json_schema_extra=IGNORED)
    quant_b: NonNegInt | None = Field(None, json_schema_extra=IGNORED)
    # Keys real 2012 params files carry that the 2012 parser never read.
    wcnorm: str | None = Field(None, json_schema_extra=LEGACY)
    sched: str | None = Field(None, json_schema_extra=LEGACY)

    @classmethod
    def type_name(cls) -> str:
        return cls.model_fields["type"].default


class PerImage(LayerBase):
    """A layer that works on each image alone and keeps its channels: towers fold into the
    batch dimension (each tower's images one more slice of the batch)."""

    folds: ClassVar[frozenset[str]] = frozenset({"batch"})
    keeps_channels: ClassVar[bool] = True


class WeightParams(BaseModel):
    """Learning rates, momentum and decay of layers with weights (docs/language-guide.md
    "The params file")."""

    eps_w: tuple[ScheduleValue, ...] | None = param(per_input_=True)
    eps_b: ScheduleValue | None = param()
    mom_w: tuple[NonNegFloat, ...] | None = param(per_input_=True)
    mom_b: NonNegFloat | None = param()
    wc: tuple[NonNegFloat, ...] | None = param(per_input_=True)
    wball: tuple[NonNegFloat, ...] | None = param(per_input_=True)
    sched_w: A12Value | None = param(description="A12: a multiplier of epsW")
    sched_b: A12Value | None = param(description="A12: a multiplier of epsB")
    update_period: PosInt | None = Field(None, json_schema_extra=IGNORED)
    wc_norm_min: tuple[NonNegFloat, ...] | None = Field(
        None, json_schema_extra=dict(IGNORED, per_input=True)
    )
    wc_norm_max: tuple[NonNegFloat, ...] | None = Field(
        None, json_schema_extra=dict(IGNORED, per_input=True)
    )
    super_eps: NonNegFloat | None = Field(None, json_schema_extra=IGNORED)
    super_mom: NonNegFloat | None = Field(None, json_schema_extra=IGNORED)


class InitFuncs(BaseModel):
    """Python initialisers by name (cuda-convnet's initWFunc): refused unless allowed."""

    init_w_func: str | None = None
    init_b_func: str | None = None
    init_c_func: str | None = None


def field_extra(model: type[BaseModel], field: str) -> dict:
    extra = model.model_fields[field].json_schema_extra
    return extra if isinstance(extra, dict) else {}
