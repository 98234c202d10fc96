"""The builder registry: one ``build_*`` function per layer type.

A builder takes the layer's model and its :class:`~netdef.check.net.LayerInfo` (where the check
stage left every cuda-convnet rule it computed: views, weight shapes, padding, shared weights)
and returns a :class:`Built`: an op module plus the tensors (parameters and buffers) the op
reads, in the order it reads them. Builders recompute none of those rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from ..check import LayerInfo
from ..errors import NetdefError
from ..schema import LayerBase


@dataclass(frozen=True)
class TensorSpec:
    """A parameter or buffer of a layer: named ``<layer>.<suffix>`` in the state dict.

    Weights are drawn as ``std · N(0, 1)``; biases are the constant ``const``; ``perm`` buffers
    (randSparse channel subsets) are ``count`` concatenated permutations of ``range(channels)``.
    ``source`` names the owner's tensor when it is shared (``weightSource``).
    """

    suffix: str
    shape: tuple[int, ...]
    kind: str = "weight"  # "weight", "bias" or "perm"
    std: float = 0.0
    const: float = 0.0
    source: str | None = None


@dataclass
class Built:
    """What a builder returns: the op, and the tensors it takes (op(xs, ws), ws in this order)."""

    op: nn.Module
    tensors: list[TensorSpec] = field(default_factory=list)
    inplace_neuron: bool = False  # the op returns a fresh tensor nothing else saved


Builder = Callable[[LayerBase, LayerInfo], Built]
_BUILDERS: dict[str, Builder] = {}


def register(layer_type: str) -> Callable[[Builder], Builder]:
    """Decorator: ``@register("conv")`` above ``def build_conv(layer, info) -> Built``."""

    def add(fn: Builder) -> Builder:
        if layer_type in _BUILDERS:
            raise ValueError(f"a builder for layer type '{layer_type}' is already registered "
                             f"({_BUILDERS[layer_type].__name__})")
        _BUILDERS[layer_type] = fn
        return fn

    return add


def builder_for(layer_type: str) -> Builder:
    """The builder of a type; an unknown type raises NetdefError listing the known ones."""
    try:
        return _BUILDERS[layer_type]
    except KeyError:
        raise NetdefError(f"no builder for layer type '{layer_type}' (known: "
                          f"{', '.join(sorted(known_builders()))})") from None


def known_builders() -> list[str]:
    """Every layer type that has a builder, in registration order."""
    return list(_BUILDERS)
