"""Timing a compiled net, in the spirit of ``caffe time``: per-layer forward and backward
times, images/s of a whole training step, and the share of the machine's FMA peak.

FLOPs per image: 2·MACs forward plus 4·MACs backward (gradients of the weights and of the
input) for every layer with weights (conv, local, fc, sfc), using the checked net's MAC
counts; a layer that reads only the data layer has no input gradient, so 2·MACs backward.
For the two-tower AlexNet at 224 that is 4.14 GFLOP per image per training step.

The peak (GFLOP/s) is estimated as CPUs × GHz × FLOP per cycle per CPU: the CPUs this process
may run on; the clock from ``lscpu``'s "CPU max MHz" where the machine reports it, else the
largest "cpu MHz" in /proc/cpuinfo; FLOP per cycle from the vector flags, with two FMA units
per core: AVX-512 2 × 16 lanes × 2 = 64, AVX2+FMA 2 × 8 × 2 = 32, else SSE 2 × 4 = 8. Turbo
clocks above what the machine reports make the true peak higher; pass ``peak_gflops`` when
it is known.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from .schema import WEIGHT_TYPES as WEIGHTED  # declared on the layer models


@dataclass(frozen=True)
class Peak:
    """The estimated fp32 FMA peak and how it was found."""

    gflops: float
    how: str


def _cpu_flags_and_mhz() -> tuple[set[str], float]:
    flags, mhz = set(), 0.0
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return flags, mhz
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags |= set(value.split())
        elif key.strip() == "cpu MHz":
            mhz = max(mhz, float(value))
    return flags, mhz


def _lscpu_max_mhz() -> float:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return 0.0
    m = re.search(r"CPU max MHz:\s*([\d.]+)", out)
    return float(m.group(1)) if m else 0.0


def estimate_peak(override: float | None = None) -> Peak:
    """fp32 FMA peak in GFLOP/s of the CPUs this process may use (or ``override``)."""
    if override:
        return Peak(override, "given")
    flags, mhz = _cpu_flags_and_mhz()
    max_mhz = _lscpu_max_mhz()
    clock, source = (max_mhz, "lscpu max MHz") if max_mhz else (mhz, "cpuinfo MHz")
    if "avx512f" in flags:
        per_cycle, isa = 64, "AVX-512"
    elif "avx2" in flags and "fma" in flags:
        per_cycle, isa = 32, "AVX2+FMA"
    else:
        per_cycle, isa = 8, "SSE"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gflops = cpus * clock / 1000 * per_cycle
    return Peak(gflops, f"{cpus} CPUs × {clock / 1000:.2f} GHz ({source}) × {per_cycle} "
                        f"FLOP/cycle ({isa}, 2 FMA units)")


def step_flops(checked) -> float:
    """FLOPs of one training step per image (see the module docstring)."""
    total = 0
    for name, info in checked.layers.items():
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
