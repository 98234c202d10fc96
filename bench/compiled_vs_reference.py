"""Hand-run benchmark: a training step of the compiled two-tower AlexNet vs a hand-written
PyTorch AlexNet with the same layers, and folded vs split towers (DESIGN.md §5).

    python bench/compiled_vs_reference.py [--batch 16] [--iters 5] [--device cpu]

Each step is forward, backward and an SGD-with-momentum update. Variants alternate
iteration by iteration in one run; the median time per step is reported as images/s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from netdef.check import load
from netdef.compiler import compile_net

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = [ROOT / "layers" / "alexnet-2gpu.cfg",
              ROOT.parent / "shared" / "compat" / "cuda-convnet" / "v2" / "layers-imagenet-2gpu-model.cfg"]


def spatial_norm(x: torch.Tensor, size=5, scale=1e-4, power=0.75, k=2.0) -> torch.Tensor:
    """cuda-convnet rnorm: x · (k + scale/size² · Σ_{size×size} x²)^(−pow)."""
    sums = F.avg_pool2d(F.pad(x * x, (2, 2, 2, 2)), size, 1, divisor_override=1)
    return x * (k + scale / size ** 2 * sums).pow(-power)


class AlexNet(nn.Module):
    """The two-tower AlexNet written by hand with the towers as groups (one device)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.fc6, self.fc7, self.fc8 = nn.Linear(9216, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 1000)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(F.pad(x, (0, 3, 0, 3)))  # (N, 96, 55, 55): cuda-convnet's overhang
        x = F.relu(F.max_pool2d(self.lrn(x), 3, 2))  # (N, 96, 27, 27)
        x = spatial_norm(self.lrn(F.relu(self.conv2(x))))
        x = F.max_pool2d(x, 3, 2)  # (N, 256, 13, 13)
        x = F.relu(self.conv4(F.relu(self.conv3(x))))
        x = F.relu(F.max_pool2d(self.conv5(x), 3, 2)).flatten(1)  # (N, 9216)
        x = F.dropout(F.relu(self.fc6(x)), 0.5, self.training)
        x = F.dropout(F.relu(self.fc7(x)), 0.5, self.training)
        return self.fc8(x)


def make_step(model: nn.Module, loss_fn, x, labels):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(x, labels).backward()
        opt.step()

    return step


def timed(step, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    path = next(p for p in CANDIDATES if p.is_file())
    checked = load(path)
    x = torch.randn(args.batch, 3, 224, 224, device=device)
    labels = torch.randint(0, 1000, (args.batch,), device=device)
    folded = compile_net(checked, devices=str(device), fold=True).train()
    split = compile_net(checked, devices=str(device), fold=False).train()
    ref = AlexNet().to(device).train()
    variants = {
        "reference": make_step(ref, lambda a, b: F.cross_entropy(ref(a), b), x, labels),
        "folded": make_step(folded, lambda a, b: sum(folded.costs(a, b).values()), x, labels),
        "split": make_step(split, lambda a, b: sum(split.costs(a, b).values()), x, labels),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    for i in range(args.warmup + args.iters):
        for name, step in variants.items():  # A/B/C interleaved, iteration by iteration
            t = timed(step, device)
            if i >= args.warmup:
                times[name].append(t)
    print(f"{path.name} on {device}, batch {args.batch}, {args.iters} timed steps (median)")
    rate = {k: args.batch / statistics.median(v) for k, v in times.items()}
    for name, r in rate.items():
        print(f"  {name:9s} {r:8.1f} images/s")
    print(f"  compiled (folded) / reference: {rate['folded'] / rate['reference']:.3f}")
    print(f"  folded / split:                {rate['folded'] / rate['split']:.3f}")


if __name__ == "__main__":
    main()
