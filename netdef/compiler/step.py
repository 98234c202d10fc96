"""One training step of a compiled net with a precision, a memory layout and an optional
``torch.compile``.

    step = make_train_step(net, optimizer, precision="bf16", compile=True, on_event=print)
    loss, aux = step(images, labels)  # zero_grad, forward + costs, backward, optimizer.step

``make_train_step(net, optimizer, precision="fp32", compile=False, on_event=None,
forward=None)`` returns a callable ``step(images, labels) -> (loss, aux)``:

- ``precision``: ``"fp32"`` (plain), ``"bf16"`` (``torch.autocast`` with bfloat16 on every
  device type the net uses, CPU included; parameters, gradients and the update stay fp32) or
  ``"fp16"`` (autocast float16 with a ``torch.amp.GradScaler``; CUDA only: on a CPU net it
  raises :class:`~netdef.errors.NetdefError`).
- ``compile``: run the forward through ``torch.compile``. The first call compiles; its wall
  time is reported once as :class:`Compiled`. If compiling (or the compiled first step) fails,
  a :class:`CompileFailed` event says why and the step, this one included, runs eagerly.
- ``channels_last``: ``"auto"`` (default), ``"on"`` or ``"off"``: keep the 4-D weights and
  the images in channels-last (NHWC) memory order, so every conv's activations follow. ``auto``
  means on for a net wholly on CUDA in bf16/fp16 (cuDNN's tensor-core kernels read NHWC and
  PyTorch's AMP guide recommends it) and off otherwise: on this CPU (oneDNN, 2 cores) the
  AlexNet fp32 step measured 1.08–1.10× slower in NHWC. The layout never changes results
  beyond float rounding; :func:`use_channels_last` decides.
- ``forward(net, images, labels) -> (loss, aux)``: what to run under autocast; the default
  sums ``net.costs`` and returns the detached per-cost values as ``aux``. The training loop
  passes its own (e.g. one that also returns the shown cost's errors).
- ``on_event``: a callback taking the events below (the library never prints).

The returned ``loss`` is detached. Gradients are set to None before each forward.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import NetdefError

PRECISIONS = ("fp32", "bf16", "fp16")
CHANNELS_LAST = ("auto", "on", "off")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


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


def default_forward(net, images: torch.Tensor, labels: torch.Tensor):
    """The summed costs (the training loss) and ``{cost: detached value}``."""
    costs = net.costs(images, labels)
    return sum(costs.values()), {k: v.detach() for k, v in costs.items()}


def device_types(net) -> list[str]:
    """The device types (``cpu``, ``cuda``) the net's parameters live on, sorted."""
    return sorted({p.device.type for p in net.parameters()} or {"cpu"})


def check_precision(precision: str) -> None:
    """NetdefError unless ``precision`` is one of fp32, bf16, fp16."""
    if precision not in PRECISIONS:
        raise NetdefError(f"precision must be one of {', '.join(PRECISIONS)} (got '{precision}')")


@contextlib.contextmanager
def autocast_context(precision: str, types: list[str]):
    """Autocast to ``precision`` on every device type in ``types`` (nothing for fp32)."""
    check_precision(precision)
    with contextlib.ExitStack() as stack:
        if precision != "fp32":
            for kind in types:
                stack.enter_context(torch.autocast(device_type=kind, dtype=_DTYPES[precision]))
        yield


def make_scaler(precision: str, types: list[str]):
    """A GradScaler for fp16 on CUDA; None otherwise; NetdefError for fp16 off CUDA."""
    if precision != "fp16":
        return None
    if types != ["cuda"]:
        raise NetdefError(f"precision fp16 needs every layer on a CUDA device (this net uses "
                          f"{', '.join(types)}); use bf16 on the CPU")
    return torch.amp.GradScaler("cuda")


def use_channels_last(setting: str, precision: str, types: list[str]) -> bool:
    """Whether a step runs channels-last: ``on``/``off`` as said; ``auto`` on for a CUDA-only
    net in bf16 or fp16 (see the module docstring)."""
    if setting not in CHANNELS_LAST:
        raise NetdefError(f"channels-last must be one of {', '.join(CHANNELS_LAST)} "
                          f"(got '{setting}')")
    if setting != "auto":
        return setting == "on"
    return types == ["cuda"] and precision in ("bf16", "fp16")


def to_channels_last(net) -> int:
    """Re-lay the net's 4-D parameters (conv weights (F, C, f, f), per-position biases) in
    channels-last order, in place (``Module.to`` would refuse the 5-D ``local`` weights);
    returns how many were changed. Optimizer state follows the parameters it is made from."""
    changed = 0
    for p in net.parameters():
        if p.dim() == 4 and not p.is_contiguous(memory_format=torch.channels_last):
            p.data = p.data.contiguous(memory_format=torch.channels_last)
            changed += 1
    return changed


class TrainStep:
    """The callable that :func:`make_train_step` returns (see the module docstring)."""

    def __init__(self, net, optimizer, precision: str, compile: bool, on_event, forward,
                 after_backward=None, channels_last: str = "auto"):
        self.net, self.optimizer, self.precision = net, optimizer, precision
        self.after_backward = after_backward or (lambda: None)
        self.on_event = on_event or (lambda event: None)
        self.types = device_types(net)
        check_precision(precision)
        self.scaler = make_scaler(precision, self.types)
        self.channels_last = use_channels_last(channels_last, precision, self.types)
        if self.channels_last:
            to_channels_last(net)
        self.eager = lambda images, labels: forward(net, images, labels)
        self.forward = self.eager
        self.compiling = bool(compile)
        if compile:
            self.forward = torch.compile(self.eager, dynamic=False)

    def _run(self, images: torch.Tensor, labels: torch.Tensor):
        if self.channels_last and images.dim() == 4:  # (N, C, H, W) stored as N, H, W, C
            images = images.contiguous(memory_format=torch.channels_last)
        self.optimizer.zero_grad(set_to_none=True)
        with autocast_context(self.precision, self.types):
            loss, aux = self.forward(images, labels)
        if not loss.requires_grad:  # every layer frozen: nothing to learn, nothing to compute
            self.optimizer.step()
        elif self.scaler is None:
            loss.backward()
            self.after_backward()
            self.optimizer.step()
        else:  # fp16: scale the loss, skip steps whose gradients overflowed
            self.scaler.scale(loss).backward()
            self.after_backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        return loss.detach(), aux

    def _first_compiled(self, images, labels):
        self.compiling = False
        start = time.perf_counter()
        try:
            out = self._run(images, labels)
        except Exception as exc:  # dynamo/inductor raise many types; any means "no compile"
            first = (str(exc).strip().splitlines() or [""])[0]
            self.on_event(CompileFailed(f"{type(exc).__name__}: {first}"[:300]))
            self.forward = self.eager
            return self._run(images, labels)
        self.on_event(Compiled(time.perf_counter() - start))
        return out

    def __call__(self, images: torch.Tensor, labels: torch.Tensor):
        """One update on a batch; returns (detached loss, aux)."""
        if self.compiling:
            return self._first_compiled(images, labels)
        return self._run(images, labels)


def make_train_step(net, optimizer, precision: str = "fp32", compile: bool = False,
                    on_event: Callable[[object], None] | None = None,
                    forward: Callable | None = None,
                    after_backward: Callable[[], None] | None = None,
                    channels_last: str = "auto") -> TrainStep:
    """A callable ``step(images, labels) -> (loss, aux)``: see the module docstring.
    ``after_backward`` runs between backward and the update (data parallelism averages the
    gradients there)."""
    return TrainStep(net, optimizer, precision, compile, on_event, forward or default_forward,
                     after_backward, channels_last)
