"""Hand-written PyTorch equivalents of netdef's example nets, for bench/compiled_vs_reference.py:
eager and idiomatic (nn.Conv2d, nn.Linear, F.max_pool2d / F.avg_pool2d, nn.LocalResponseNorm,
the straightforward formula for same-map rnorm, F.cross_entropy), in PyTorch's default NCHW
layout, computing the same function as the compiled net.

Each entry of ``NETS``: the definition file, input side, classes and the builder. The compiled
net's weights go into the hand-written one by layer name (:func:`copy_weights`; a two-tower
layer's halves ``conv1a``/``conv1b`` become one ``conv1``), which the benchmark does and then
checks (:func:`check_same_loss`), and tests/test_compiler_reference.py checks that the two give
the same outputs and gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


class AlexNet(nn.Module):
    """The paper's two-tower AlexNet by hand, towers as groups, layers as in alexnet-2gpu.cfg:
    conv→relu→LRN→pool twice, conv3–5, pool, fc6/fc7 with dropout, fc8 (written the way
    torchvision writes AlexNet: in-place ReLU, nn.LocalResponseNorm). Each tower normalises
    across its own maps only (its 48 or 128), as each GPU did in the paper (§3.3, §3.5)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.fc6, self.fc7 = nn.Linear(9216, 4096), nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, 1000)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)

    def tower_lrn(self, x):
        """LRN within each tower's half of the maps: (N, C, H, W) -> (N, C, H, W)."""
        return torch.cat([self.lrn(half) for half in x.chunk(2, 1)], 1)

    def forward(self, x):
        x = F.relu(self.conv1(F.pad(x, (0, 3, 0, 3))), inplace=True)  # (N, 96, 55, 55)
        x = F.max_pool2d(self.tower_lrn(x), 3, 2)  # (N, 96, 27, 27)
        x = F.relu(self.conv2(x), inplace=True)
        x = F.max_pool2d(self.tower_lrn(x), 3, 2)  # (N, 256, 13, 13)
        x = F.relu(self.conv3(x), inplace=True)
        x = F.relu(self.conv4(x), inplace=True)
        x = F.relu(self.conv5(x), inplace=True)
        x = F.max_pool2d(x, 3, 2).flatten(1)  # (N, 9216)
        x = F.dropout(F.relu(self.fc6(x), inplace=True), 0.5, self.training)
        x = F.dropout(F.relu(self.fc7(x), inplace=True), 0.5, self.training)
        return self.fc8(x)


def response_norm(x, size: int, scale: float, power: float, k: float):
    """cuda-convnet's same-map rnorm by its formula: x·(k + scale/size²·Σ_window x²)^(−pow),
    the size×size window centred (odd size) and zero outside the image."""
    window_mean = F.avg_pool2d(x * x, size, 1, size // 2, count_include_pad=True)  # Σ / size²
    return x * (k + scale * window_mean).pow(-power)


class Cifar18pct(nn.Module):
    """layers/cifar10-18pct.cfg by hand: three 5×5 convs (32, 32, 64 maps) with 3/2 pooling
    (max, then average; cuda-convnet's last window overhangs: ``ceil_mode``), rnorm after
    the first two stages (scale 5e-5, pow 0.75, minDiv 1), one linear classifier."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc10 = nn.Linear(1024, 10)

    def forward(self, x):  # (N, 3, 32, 32)
        x = F.relu(F.max_pool2d(self.conv1(x), 3, 2, ceil_mode=True))  # (N, 32, 16, 16)
        x = response_norm(x, 3, 5e-5, 0.75, 1.0)
        x = F.relu(self.conv2(x))
        x = F.avg_pool2d(x, 3, 2, ceil_mode=True, count_include_pad=False)  # (N, 32, 8, 8)
        x = response_norm(x, 3, 5e-5, 0.75, 1.0)
        x = F.relu(self.conv3(x))
        x = F.avg_pool2d(x, 3, 2, ceil_mode=True, count_include_pad=False)  # (N, 64, 4, 4)
        return self.fc10(x.flatten(1))


class Quickstart(nn.Module):
    """layers/quickstart.cfg by hand: conv 5×5/2 (the last window overhangs: one row and column
    of zeros), max pool 3/2, LRN across 5 maps, conv 3×3, max pool, fc 128, dropout, fc 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, stride=2)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc128, self.fc10 = nn.Linear(2304, 128), nn.Linear(128, 10)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)

    def forward(self, x):  # (N, 3, 56, 56)
        x = F.relu(self.conv1(F.pad(x, (0, 1, 0, 1))), inplace=True)  # (N, 32, 27, 27)
        x = self.lrn(F.max_pool2d(x, 3, 2))  # (N, 32, 13, 13)
        x = F.max_pool2d(F.relu(self.conv2(x), inplace=True), 3, 2)  # (N, 64, 6, 6)
        x = F.dropout(F.relu(self.fc128(x.flatten(1)), inplace=True), 0.5, self.training)
        return self.fc10(x)


@dataclass(frozen=True)
class NetCase:
    cfg: Path
    side: int
    classes: int
    build: Callable[[], nn.Module]


NETS = {
    "alexnet": NetCase(ROOT / "layers" / "alexnet-2gpu.cfg", 224, 1000, AlexNet),
    "18pct": NetCase(ROOT / "layers" / "cifar10-18pct.cfg", 32, 10, Cifar18pct),
    "quickstart": NetCase(ROOT / "layers" / "quickstart.cfg", 56, 10, Quickstart),
}


def as_reference(tensors: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """The compiled net's tensors (its parameters, or their gradients) for the hand-written
    parameter ``name`` ("conv3.weight", "fc6.bias"): a layer split into towers ("conv3a",
    "conv3b") is stacked along the outputs, tower a first; a layer reading several inputs
    ("conv3a.weight" reads pool2a, "conv3a.weight.1" pool2b) joins its per-input weights along
    the inputs, in input order, which is how the hand-written layer sees its concatenated input
    ((C, H, W) order, tower a's maps first)."""
    layer, kind = name.rsplit(".", 1)
    parts = [p for p in (f"{layer}a", f"{layer}b") if f"{p}.{kind}" in tensors] or [layer]

    def part(p: str) -> torch.Tensor:
        if kind == "bias":
            return tensors[f"{p}.bias"]
        count = 1 + sum(1 for k in tensors if k.startswith(f"{p}.weight."))
        keys = [f"{p}.weight"] + [f"{p}.weight.{i}" for i in range(1, count)]
        return torch.cat([tensors[k] for k in keys], 1)

    return torch.cat([part(p) for p in parts], 0)


def copy_weights(reference: nn.Module, compiled) -> None:
    """The compiled net's parameters into the hand-written one, by layer name
    (:func:`as_reference`)."""
    theirs = compiled.named_layer_parameters()
    with torch.no_grad():
        for name, p in reference.named_parameters():
            p.copy_(as_reference(theirs, name).reshape(p.shape))


def check_same_loss(reference: nn.Module, compiled, images, labels) -> float:
    """The relative difference of the two nets' losses on one batch (eval mode: no dropout)."""
    was = reference.training, compiled.training
    reference.eval(), compiled.eval()
    with torch.no_grad():
        ours = sum(compiled.costs(images, labels).values()).item()
        theirs = F.cross_entropy(reference(images), labels).item()
    reference.train(was[0]), compiled.train(was[1])
    return abs(ours - theirs) / max(abs(theirs), 1e-12)
