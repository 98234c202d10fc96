"""Timing a compiled net, in the spirit of ``caffe time``: per-layer forward and backward
times, images/s of a whole training step, and its share of the machine's fp32 matrix-multiply
rate.

FLOPs per image: 2·MACs forward plus 4·MACs backward (gradients of the weights and of the
input) for every layer with weights (conv, local, fc, sfc), using the checked net's MAC
counts; a layer that reads only the data layer has no input gradient, so 2·MACs backward.
For the two-tower AlexNet at 224 that is 4.14 GFLOP per image per training step.

The reference rate is measured, not estimated (:func:`measure_peak`): the best of repeated
fp32 ``torch.mm`` products of square matrices (up to 2048², sized so that one product takes
10 ms or more) on the step's device and with its threads, for under a second.
A peak estimated from CPU flags (cores × clock × FLOP per cycle) is wrong on CPUs that run
AVX-512 as two 256-bit halves (AMD Zen 4) or whose clock under load differs from what they
report; the measured rate is what the machine delivers to a well-tuned kernel now, and is
about what convolutions can reach.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from .schema import WEIGHT_TYPES as WEIGHTED  # declared on the layer models


@dataclass(frozen=True)
class Peak:
    """The fp32 reference rate in GFLOP/s and how it was found."""

    gflops: float
    how: str


def _mm_seconds(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> float:
    _sync(a.device)
    t0 = time.perf_counter()
    torch.mm(a, b, out=out)
    _sync(a.device)
    return time.perf_counter() - t0


def measure_peak(device: str | torch.device = "cpu", budget_s: float = 0.6,
                 max_side: int = 2048, override: float | None = None) -> Peak:
    """The fp32 matrix-multiply rate of ``device`` in GFLOP/s (``override`` when given):
    square ``torch.mm`` products, the side doubled from 256 while one takes under 10 ms (up
    to ``max_side``), then repeated for ``budget_s`` seconds; the fastest product counts (on
    a busy machine, the one least disturbed)."""
    if override:
        return Peak(override, "given")
    device = torch.device(device)
    side = 256
    while True:
        a, b = (torch.randn(side, side, device=device) for _ in range(2))
        out = torch.empty(side, side, device=device)
        _mm_seconds(a, b, out)  # first call: the library's set-up
        if side >= max_side or _mm_seconds(a, b, out) > 0.01:
            break
        side *= 2
    best, runs, start = float("inf"), 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - start < budget_s:
        best = min(best, _mm_seconds(a, b, out))
        runs += 1
    gflops = 2 * side ** 3 / best / 1e9
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    return Peak(gflops, f"measured: fp32 torch.mm {side}×{side} on {device}{threads}, best of "
                        f"{runs}")


def step_flops(checked) -> float:
    """FLOPs of one training step per image (see the module docstring)."""
    total = 0
    for info in checked.layers.values():
        if info.type not in WEIGHTED:
            continue
        reads_data_only = all(checked.layers[s].type == "data" for s in info.inputs)
        total += info.macs * (4 if reads_data_only else 6)
    return float(total)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Mark(torch.autograd.Function):
    """Identity that calls ``note()`` when its gradient passes (backward timestamps)."""

    @staticmethod
    def forward(ctx, x, note):
        ctx.note = note
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        ctx.note()
        return grad, None


@dataclass
class LayerTimes:
    """Per op (named by its layers, ``conv1a+conv1b`` when folded): seconds per pass."""

    forward: dict[str, list[float]] = field(default_factory=dict)
    backward: dict[str, list[float]] = field(default_factory=dict)


class _TimedOp(nn.Module):
    """Wraps one LayerOp: times its forward; marks its output and inputs for backward."""

    def __init__(self, op: nn.Module, name: str, device: torch.device, times: LayerTimes):
        super().__init__()
        self.op, self.name, self.device, self.times = op, name, device, times
        self.bw_start = self.bw_end = 0.0

    def _start(self):
        _sync(self.device)
        self.bw_start = self.bw_end = time.perf_counter()

    def _end(self):
        _sync(self.device)
        self.bw_end = time.perf_counter()

    def forward(self, xs, ws):
        mark = lambda t: _Mark.apply(t, self._end) if t.requires_grad else t  # noqa: E731
        xs, ws = [mark(x) for x in xs], [mark(w) for w in ws]
        _sync(self.device)
        t0 = time.perf_counter()
        y = self.op(xs, ws)
        _sync(self.device)
        self.times.forward.setdefault(self.name, []).append(time.perf_counter() - t0)
        return _Mark.apply(y, self._start) if y.requires_grad else y

    def collect(self) -> None:
        """File the last backward's time (end of input grads − arrival of the output grad)."""
        if self.bw_end > self.bw_start:
            self.times.backward.setdefault(self.name, []).append(self.bw_end - self.bw_start)
        self.bw_start = self.bw_end = 0.0


def op_names(net) -> dict[int, str]:
    """Op index -> its layers' names joined by '+' (a folded op serves several)."""
    return {s.op_index: "+".join(s.members) for s in net.steps}


def time_layers(net, images, labels, iters: int, warmup: int = 1) -> dict[str, tuple[float, float]]:
    """Median forward and backward seconds per op that runs, over ``iters`` passes of the
    summed costs (fp32, eager; the net's ops are wrapped for the duration and restored)."""
    times, names = LayerTimes(), op_names(net)
    originals = list(net.ops)
    device = images.device
    wrapped = [_TimedOp(op, names[i], device, times) for i, op in enumerate(originals)]
    try:
        for i, w in enumerate(wrapped):
            net.ops[i] = w
        for k in range(warmup + iters):
            if k == warmup:
                times.forward.clear()
                times.backward.clear()
            net.zero_grad(set_to_none=True)
            sum(net.costs(images, labels).values()).backward()
            for w in wrapped:
                w.collect()
    finally:
        for i, op in enumerate(originals):
            net.ops[i] = op
    out = {}
    for i in sorted(names):
        name = names[i]
        if name not in times.forward:
            continue  # not run (a softmax whose cost reads its input scores)
        fw, bw = times.forward[name], times.backward.get(name, [0.0])
        out[name] = (statistics.median(fw), statistics.median(bw))
    return out


def time_steps(step, images, labels, iters: int, warmup: int = 1) -> list[float]:
    """Seconds of each of ``iters`` calls of ``step(images, labels)`` after ``warmup``."""
    out = []
    for k in range(warmup + iters):
        _sync(images.device)
        t0 = time.perf_counter()
        step(images, labels)
        _sync(images.device)
        if k >= warmup:
            out.append(time.perf_counter() - t0)
    return out
