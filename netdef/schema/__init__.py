"""The schema stage: pydantic models of the language, and documents to a validated NetSpec."""

from .build import NetSpec, build_spec
from .experiment import EXPERIMENT_KEYS, Experiment, is_experiment_file, read_experiment
from .layers import (
    BATCH_TYPES,
    COST_TYPES,
    DROPOUT_TYPES,
    LAYER_MODELS,
    LAYER_TYPES,
    NEEDS_PARAMS,
    REJECTED,
    SCORED_COSTS,
    SPATIAL_TYPES,
    WEIGHT_TYPES,
    Layer,
    LayerBase,
    alias_of,
)
from .values import Neuron, known_neurons, parse_neuron

__all__ = [
    "NetSpec", "build_spec", "Experiment", "EXPERIMENT_KEYS", "is_experiment_file",
    "read_experiment", "BATCH_TYPES", "COST_TYPES", "DROPOUT_TYPES", "LAYER_MODELS",
    "LAYER_TYPES", "NEEDS_PARAMS", "REJECTED", "SCORED_COSTS", "SPATIAL_TYPES", "WEIGHT_TYPES",
    "Layer", "LayerBase", "alias_of", "Neuron", "known_neurons", "parse_neuron",
]
