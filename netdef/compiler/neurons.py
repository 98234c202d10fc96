"""Neurons (docs/language-guide.md "Neurons"): elementwise activations, cuda-convnet
``neuron.cuh``."""

from __future__ import annotations

import torch
from torch import nn

from ..schema import Neuron


def _softrelu(x: torch.Tensor) -> torch.Tensor:
    # cuda-convnet: x > 4 ? x : log(1 + e^x) (piecewise, a tiny jump at 4)
    return torch.where(x > 4, x, torch.log1p(torch.exp(torch.clamp(x, max=4.0))))


def _abs(x: torch.Tensor) -> torch.Tensor:
    # grad is sign(x) with sign(0) = -1 (cuda-convnet AbsNeuron); forward is |x|
    sign = torch.where(x > 0, 1.0, -1.0).to(x.dtype)
    return x * sign


class NeuronOp(nn.Module):
    """Applies one neuron; ``inplace`` only for relu on a tensor nothing else saved."""

    def __init__(self, neuron: Neuron, inplace: bool = False):
        super().__init__()
        self.kind = neuron.kind
        self.params = tuple(float(p) for p in neuron.params)
        self.inplace = inplace and self.kind == "relu"

    def extra_repr(self) -> str:
        return f"{self.kind}{list(self.params) if self.params else ''}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, p = self.kind, self.params
        if k == "ident":
            return x
        if k == "relu":
            return torch.relu_(x) if self.inplace else torch.relu(x)
        if k == "brelu":
            return torch.clamp(x, 0.0, p[0])
        if k == "softrelu":
            return _softrelu(x)
        if k == "logistic":
            return torch.sigmoid(x)
        if k == "tanh":
            return p[0] * torch.tanh(p[1] * x)
        if k == "abs":
            return _abs(x)
        if k == "square":
            return x * x
        if k == "sqrt":
            return torch.sqrt(x)
        if k == "linear":
            return p[0] * x + p[1]
        if k == "drelu":
            return x - p[0] * torch.tanh(x / p[0])
        if k == "log":
            return torch.log(p[0] + x)
        raise ValueError(f"unknown neuron '{k}'")
