"""The compiler stage: a checked net to PyTorch modules across devices (docs/design.md §1,
§7)."""

from .compile import compile_net, resolve_devices
from .net import Net
from .registry import Built, TensorSpec, builder_for, known_builders, register

__all__ = ["compile_net", "resolve_devices", "Net", "register", "known_builders", "builder_for",
           "Built", "TensorSpec"]
