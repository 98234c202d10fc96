"""netdef: train convolutional networks the way AlexNet was trained, from cuda-convnet files.

``import netdef`` stays torch-free: the names that need torch load on first use (PEP 562).

    spec = netdef.load("layers/alexnet-2gpu.cfg")            # read, validate, check (S=224)
    net = netdef.compile_net(spec, devices=("cpu", "cpu"))   # an nn.Module across devices
    small = netdef.load("layers/quickstart.cfg", input_size=56)  # the side S the net reads
"""

from __future__ import annotations

from typing import Any

from .check import CheckedNet, check_net, load
from .errors import Diagnostic, NetdefError, Span

__version__ = "0.1.0"
__all__ = ["load", "compile_net", "load_model", "check_net", "CheckedNet", "NetdefError",
           "Diagnostic", "Span", "__version__"]

_LAZY = {"compile_net": ("netdef.compiler", "compile_net"),
         "load_model": ("netdef.evaluate", "load_model")}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'netdef' has no attribute {name!r}")
