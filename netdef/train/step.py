"""One training step of a compiled net: zero_grad, forward under autocast, backward, update.

    step = make_train_step(net, optimizer, precision="bf16", compile=True, on_event=print)
    result = step(images, labels, step=1)   # a StepResult: loss, costs by name, nll, top-1 err

The update is :meth:`TrainStep.update`, the whole of it on one screen, as in nanoGPT's loop:
``torch.autocast(enabled=…)`` and ``torch.amp.GradScaler(enabled=…)`` make fp32, bf16 and
fp16 one code path.

- ``precision``: ``"fp32"`` (autocast off), ``"bf16"`` (autocast to bfloat16 on every device
  type the net uses, CPU included; parameters, gradients and the update stay fp32) or
  ``"fp16"`` (autocast float16 and a GradScaler that scales the loss and skips steps whose
  gradients overflowed; CUDA only: on any other device it raises
  :class:`~netdef.errors.NetdefError`).
- ``compile``: run the forward through ``torch.compile``. The first call compiles; its wall
  time is reported once as :class:`Compiled`. If compiling (or the compiled first step) fails,
  a :class:`CompileFailed` event says why and the step, this one included, runs eagerly.
- ``channels_last``: ``"auto"`` (default), ``"on"`` or ``"off"``: keep the 4-D weights and
  the images in channels-last (NHWC) memory order, so every conv's activations follow. ``auto``
  means on for a net wholly on the CPU, and for one wholly on CUDA in bf16/fp16 (cuDNN's
  tensor-core kernels read NHWC and PyTorch's AMP guide recommends it); off otherwise. On the
  CPU, pooling and the normalisations run vectorised over channels in NHWC and per pixel in
  NCHW (docs/performance.md "Channels-last activations" has the measurements). The layout
  never changes results beyond float rounding; :func:`use_channels_last` decides.
- ``forward(net, images, labels) -> StepResult``: what runs under autocast; the default,
  :func:`~netdef.train.metrics.cost_forward`, sums the net's costs and scores its classifier.
- ``streams`` and ``first_image``: the dropout masks of step s are keyed by
  ``streams.dropout_key(s)`` (:mod:`netdef.train.streams`); ``first_image`` is this process's
  offset in the global batch under torchrun.
- ``on_event``: a callback taking the events below (the library never prints).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..compiler.layout import as_nhwc, to_channels_last
from ..errors import NetdefError
from .metrics import StepResult, cost_forward
from .streams import Streams

PRECISIONS = ("fp32", "bf16", "fp16")
CHANNELS_LAST = ("auto", "on", "off")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Compiled:
    """``torch.compile`` finished: the first (compiling) step took ``seconds``."""

    seconds: float

    @property
    def text(self) -> str:
        return f"torch.compile: first step (compilation included) took {self.seconds:.1f} s"

    severity = "info"


@dataclass(frozen=True)
class CompileFailed:
    """``torch.compile`` failed; training goes on eagerly."""

    reason: str

    @property
    def text(self) -> str:
        return f"torch.compile failed, running eagerly instead: {self.reason}"

    severity = "warning"


def device_types(net) -> list[str]:
    """The device types (``cpu``, ``cuda``) the net's parameters live on, sorted."""
    return sorted({p.device.type for p in net.parameters()} or {"cpu"})


def check_precision(precision: str, types: list[str] | None = None) -> None:
    """NetdefError unless ``precision`` is one of fp32, bf16, fp16 (and, given the net's
    device ``types``, fp16 only on CUDA)."""
    if precision not in PRECISIONS:
        raise NetdefError(f"precision must be one of {', '.join(PRECISIONS)} (got '{precision}')")
    if precision == "fp16" and types is not None and types != ["cuda"]:
        raise NetdefError(f"precision fp16 needs every layer on a CUDA device (this net uses "
                          f"{', '.join(types)}); use bf16 on the CPU")


def use_channels_last(setting: str, precision: str, types: list[str]) -> bool:
    """Whether a step runs channels-last: ``on``/``off`` as said; ``auto`` on for a CPU-only
    net, and for a CUDA-only net in bf16 or fp16 (see the module docstring)."""
    if setting not in CHANNELS_LAST:
        raise NetdefError(f"channels-last must be one of {', '.join(CHANNELS_LAST)} "
                          f"(got '{setting}')")
    if setting != "auto":
        return setting == "on"
    return types == ["cpu"] or (types == ["cuda"] and precision in ("bf16", "fp16"))


@dataclass(kw_only=True)
class StepOptions:
    """How :class:`TrainStep` runs (see the module docstring)."""

    precision: str = "fp32"
    compile: bool = False
    channels_last: str = "auto"
    forward: Callable[..., StepResult] = cost_forward
    after_backward: Callable[[], None] = lambda: None
    streams: Streams = Streams(seed=0)
    first_image: int = 0
    on_event: Callable[[object], None] = lambda event: None


class TrainStep:
    """The callable that :func:`make_train_step` returns (see the module docstring)."""

    def __init__(self, net, optimizer, options: StepOptions):
        self.net, self.optimizer, self.o = net, optimizer, options
        self.types = device_types(net)
        check_precision(options.precision, self.types)
        self.dtype = _DTYPES[options.precision]
        reduced = options.precision != "fp32"
        self.autocasts = [torch.autocast(kind, dtype=self.dtype, enabled=reduced)
                          for kind in self.types]
        self.scaler = torch.amp.GradScaler("cuda", enabled=options.precision == "fp16")
        self.channels_last = use_channels_last(options.channels_last, options.precision,
                                               self.types)
        if self.channels_last:
            to_channels_last(net)
        self.set_noise = getattr(net, "set_noise", lambda key, first_image: None)
        self.eager = lambda images, labels: options.forward(net, images, labels)
        self.forward = torch.compile(self.eager, dynamic=False) if options.compile else self.eager
        self.compiling = bool(options.compile)
        self.steps_done = 0

    def update(self, images: torch.Tensor, labels: torch.Tensor, step: int) -> StepResult:
        """One update on a batch; returns the step's numbers, detached, on the device."""
        opt, scaler = self.optimizer, self.scaler
        if self.channels_last and images.dim() == 4:  # (N, C, H, W) stored as N, H, W, C
            images = as_nhwc(images)
        self.set_noise(self.o.streams.dropout_key(step), self.o.first_image)  # dropout masks
        opt.zero_grad(set_to_none=True)
        with contextlib.ExitStack() as stack:  # bf16/fp16 autocast on each device type, or off
            for autocast in self.autocasts:
                stack.enter_context(autocast)
            result = self.forward(images, labels)
        if result.loss.requires_grad:
            scaler.scale(result.loss).backward()  # fp16: the loss scaled up; else as it is
            self.o.after_backward()               # torchrun: the gradients averaged over ranks
            scaler.step(opt)                      # fp16: skipped if a gradient overflowed
            scaler.update()
        else:  # every layer frozen: nothing to learn, nothing to compute
            opt.step()
        return result.detached()

    def _first_compiled(self, images, labels, step: int) -> StepResult:
        self.compiling = False
        start = time.perf_counter()
        try:
            out = self.update(images, labels, step)
        except Exception as exc:  # dynamo/inductor raise many types; any means "no compile"
            first = (str(exc).strip().splitlines() or [""])[0]
            self.o.on_event(CompileFailed(f"{type(exc).__name__}: {first}"[:300]))
            self.forward = self.eager
            return self.update(images, labels, step)
        self.o.on_event(Compiled(time.perf_counter() - start))
        return out

    def __call__(self, images: torch.Tensor, labels: torch.Tensor,
                 step: int | None = None) -> StepResult:
        """One update; ``step`` (1-based, keys the dropout masks) defaults to the one after
        the last this object ran."""
        step = self.steps_done + 1 if step is None else step
        self.steps_done = step
        if self.compiling:
            return self._first_compiled(images, labels, step)
        return self.update(images, labels, step)


def make_train_step(net, optimizer, precision: str = "fp32", compile: bool = False,
                    on_event: Callable[[object], None] | None = None,
                    forward: Callable[..., StepResult] | None = None,
                    after_backward: Callable[[], None] | None = None,
                    channels_last: str = "auto", streams: Streams | None = None,
                    first_image: int = 0) -> TrainStep:
    """A callable ``step(images, labels, step=None) -> StepResult``: see the module
    docstring. ``after_backward`` runs between backward and the update (data parallelism
    averages the gradients there)."""
    defaults = StepOptions()
    return TrainStep(net, optimizer, StepOptions(
        precision=precision, compile=compile, channels_last=channels_last,
        forward=forward or defaults.forward,
        after_backward=after_backward or defaults.after_backward,
        streams=streams or defaults.streams, first_image=first_image,
        on_event=on_event or defaults.on_event))
