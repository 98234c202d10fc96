"""The paper's update rule as a ``torch.optim.Optimizer`` (docs/language-guide.md "The params
file", "Schedules").

Per parameter (one group per layer-input weight and one per bias)::

    v <- mom·v − eps·(g + wc·w)        (cuda-convnet Weights::update)
    w <- w + v

with g the minibatch-mean gradient (the cost's ``coeff`` is already in the loss) and eps the
value of the parameter's schedule (× A12's ``schedW``/``schedB`` multiplier) at training
progress p = (batches done − 1) / (epochs × batches per epoch). The learning rate sits inside
the momentum sum, so this equals ``torch.optim.SGD`` only while eps is constant. After the
update, V2's ``wball`` rescales each filter / output unit of fc and conv to norm exactly
``wball`` (local: at most ``wball``). Parameters whose eps base is 0 are frozen: they get
``requires_grad=False`` and no gradient is computed for them.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .errors import Collector
from .schedules import A12Schedule, Schedule, lr_at, schedule_base
from .schema import WEIGHT_TYPES

_NAME = re.compile(r"(?P<layer>.+)\.(?P<kind>weight|bias)(?:\.(?P<index>\d+))?")


@dataclass(frozen=True, kw_only=True)
class Rule:
    """How one parameter learns: its schedule, A12 multiplier, momentum, decay and wball."""

    name: str  # state-dict name, e.g. "conv3a.weight.1"
    layer: str
    layer_type: str
    kind: str  # "weight" or "bias"
    index: int  # which input of the layer (0 for biases)
    eps: Schedule
    mult: A12Schedule | None  # A12 schedW / schedB, a multiplier of eps
    mom: float
    wc: float
    wball: float

    @property
    def frozen(self) -> bool:
        return schedule_base(self.eps) == 0.0

    @property
    def noisy(self) -> bool:
        """Its A12 multiplier draws noise (noiseStdev > 0)."""
        return getattr(self.mult, "noise_stdev", 0.0) > 0

    def rate(self, progress: float, val_errors: Sequence[float], noise: float = 0.0) -> float:
        """eps at this progress (× the A12 multiplier, which alone takes ``noise``)."""
        eps = lr_at(self.eps, progress, val_errors)
        if self.mult is not None:
            eps *= lr_at(self.mult, progress, val_errors, noise)
        return eps


def progress_at(step: int, total_steps: int) -> float:
    """p = (batches done − 1) / (epochs × batches per epoch) (docs/language-guide.md
    "Schedules"); ``step`` counts
    the batch being trained (1 for the first)."""
    return (step - 1) / max(total_steps, 1)


def _pick(values: tuple | None, i: int, default: float = 0.0) -> float:
    if not values:
        return default
    return values[i] if i < len(values) else values[0]


def _param_rules(name: str, layer) -> Rule:
    m = _NAME.fullmatch(name)
    kind, i = m["kind"], int(m["index"] or 0)
    if kind == "bias":
        return Rule(name=name, layer=layer.name, layer_type=layer.type, kind=kind, index=0,
                    eps=layer.eps_b, mult=layer.sched_b, mom=float(layer.mom_b or 0.0), wc=0.0,
                    wball=0.0)
    eps = layer.eps_w[i] if i < len(layer.eps_w) else layer.eps_w[0]
    return Rule(name=name, layer=layer.name, layer_type=layer.type, kind=kind, index=i, eps=eps,
                mult=layer.sched_w, mom=_pick(layer.mom_w, i), wc=_pick(layer.wc, i),
                wball=_pick(layer.wball, i))


def make_rules(checked, parameter_names: Iterable[str]) -> list[Rule]:
    """One :class:`Rule` per parameter of a compiled net, read from the checked spec; raises
    one NetdefError naming every weight layer that lacks learning parameters."""
    out = Collector()
    rules = []
    spec = checked.spec
    for name in parameter_names:
        m = _NAME.fullmatch(name)
        layer = spec.layers.get(m["layer"]) if m else None
        if layer is None or layer.type not in WEIGHT_TYPES:
            out.error(None, f"parameter '{name}' belongs to no weight layer of {spec.path}")
            continue
        if layer.eps_w is None or layer.eps_b is None:
            out.error(spec.span(layer.name),
                      f"layer '{layer.name}': no 'epsW'/'epsB' (training needs the layer's "
                      "learning parameters; give a params file)")
            continue
        rules.append(_param_rules(name, layer))
    out.raise_if_errors()
    return rules


def schedule_noise(seed: int, step: int, rule: str) -> float:
    """z ~ N(0, 1) for one update of one parameter: drawn from a generator keyed by (seed,
    step, the parameter's name), so it depends on nothing else (not the other parameters, not
    the number of draws before it)."""
    key = [seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF, step, zlib.crc32(rule.encode())]
    return float(np.random.default_rng(np.random.SeedSequence(key)).standard_normal())


def _norm_dims(rule: Rule, ndim: int) -> tuple[int, ...]:
    """The dims one filter / output unit spans: conv (F, fch, f, f) and fc (out, in) rows;
    local (P, F, fch, f, f) and sfc (parts, out, k) per position / part."""
    if rule.layer_type in ("local", "sfc"):
        return tuple(range(2, ndim))
    return tuple(range(1, ndim))


class NetdefSGD(torch.optim.Optimizer):
    """cuda-convnet's momentum rule with scheduled rates, one group per parameter.

    Call :meth:`set_rates` before each :meth:`step` (the training loop does).
    """

    def __init__(self, named_params: dict[str, torch.nn.Parameter], rules: list[Rule],
                 seed: int = 0):
        self.rules = rules
        self.seed = seed
        groups = []
        for rule in rules:
            p = named_params[rule.name]
            if rule.frozen:
                p.requires_grad_(False)  # frozen: autograd skips it (and what only feeds it)
            groups.append({"params": [p], "lr": rule.rate(0.0, ()), "momentum": rule.mom,
                           "weight_decay": rule.wc, "wball": rule.wball, "name": rule.name})
        super().__init__(groups, {"lr": 0.0})

    # torch.optim.Optimizer's add_param_group and zero_grad carry torch._disable_dynamo, whose
    # first call imports torch._dynamo: 2.1 s of every training run's start on the 2-core
    # development machine (docs/performance.md "Start-up: no TorchDynamo for the optimizer").
    # These two do the same for netdef's groups without it; nothing here compiles the update.

    def add_param_group(self, param_group: dict) -> None:
        """Add a group (a dict with ``params`` and its settings; unset ones from the defaults);
        raises ValueError if one of its parameters is in another group already."""
        params = param_group["params"]
        group = {**self.defaults, **param_group,
                 "params": [params] if isinstance(params, torch.Tensor) else list(params)}
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none``, the default) or zero it."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if p.grad.grad_fn is not None:
                    p.grad.detach_()
                else:
                    p.grad.requires_grad_(False)
                p.grad.zero_()

    def set_rates(self, step: int, total_steps: int, val_errors: Sequence[float] = ()) -> None:
        """Set every group's eps for training batch ``step`` (1-based) of ``total_steps``.

        An A12 multiplier with noiseStdev s > 0 scales the rate by (1 + |z|·s), with
        z = :func:`schedule_noise` (seed, step, rule): no global generator state, so a resumed
        run draws the same numbers."""
        p = progress_at(step, total_steps)
        for group, rule in zip(self.param_groups, self.rules, strict=True):
            z = schedule_noise(self.seed, step, rule.name) if rule.noisy else 0.0
            group["lr"] = rule.rate(p, val_errors, z)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        buckets: dict[tuple, list] = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                key = (p.device, p.dtype)
                buckets.setdefault(key, []).append((p, state["momentum_buffer"], group))
        for items in buckets.values():
            _update(items)
        self._constrain()
        return loss

    def _constrain(self) -> None:
        """V2 wball after the update (cuda-convnet2 ``_constrainWeights``), owners only."""
        for group, rule in zip(self.param_groups, self.rules, strict=True):
            if rule.wball <= 0 or rule.kind != "weight" or rule.frozen:
                continue
            for p in group["params"]:
                dims = _norm_dims(rule, p.ndim)
                norms = torch.linalg.vector_norm(p, dim=dims, keepdim=True).clamp_min(1e-30)
                scale = rule.wball / norms
                if rule.layer_type == "local":  # kNormalizeLCWeights: a max-norm
                    scale = scale.clamp(max=1.0)
                p.mul_(scale)

    def momentum_buffers(self) -> dict[str, torch.Tensor]:
        """``{parameter name: momentum buffer}`` (for checkpoints)."""
        out = {}
        for group in self.param_groups:
            buf = self.state[group["params"][0]].get("momentum_buffer")
            if buf is not None:
                out[group["name"]] = buf
        return out

    def load_momentum_buffers(self, buffers: dict[str, torch.Tensor]) -> list[str]:
        """Restore buffers by parameter name; returns the names that had none."""
        missing = []
        for group in self.param_groups:
            p = group["params"][0]
            buf = buffers.get(group["name"])
            if buf is None or buf.shape != p.shape:
                missing.append(group["name"])
                continue
            self.state[p]["momentum_buffer"] = buf.to(device=p.device, dtype=p.dtype).clone()
        return missing

    def rates(self) -> dict[str, float]:
        """The current eps of every parameter."""
        return {g["name"]: g["lr"] for g in self.param_groups}


def _update(items: list) -> None:
    """v <- mom·v − eps·(g + wc·w); w <- w + v, with multi-tensor (foreach) ops."""
    params = [p for p, _, _ in items]
    bufs = [b for _, b, _ in items]
    grads = [p.grad for p in params]
    wcs = [g["weight_decay"] for _, _, g in items]
    # 1. d = g + wc·w
    step = torch._foreach_mul(params, wcs)
    torch._foreach_add_(step, grads)
    # 2. d <- eps·d ; v <- mom·v − d
    torch._foreach_mul_(step, [g["lr"] for _, _, g in items])
    torch._foreach_mul_(bufs, [g["momentum"] for _, _, g in items])
    torch._foreach_sub_(bufs, step)
    # 3. w <- w + v
    torch._foreach_add_(params, bufs)


def build_optimizer(net, seed: int = 0) -> NetdefSGD:
    """The optimizer for a compiled net: parameters and their rules, shared weights once."""
    named = dict(net.named_layer_parameters())
    rules = make_rules(net.checked, named)
    return NetdefSGD(named, rules, seed)

