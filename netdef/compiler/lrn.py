"""A fast cross-map response normalisation (cmrnorm) with a hand-derived backward.

Forward, for x (N, C, H, W) and channel f (cuda-convnet's ``kFCNorm``, ``cudaconv2/conv_util.cu``):

    s_f = Σ_{j ∈ W(f)} x_j²,   d_f = k + α·s_f,   y_f = x_f · d_f^(−β)

with α = scale/size and W(f) = [f − size//2, f − size//2 + size) ∩ [0, C) (C division, so an
even size reaches one channel further back), or with ``blocked`` the fixed block
[⌊f/size⌋·size, +size). Unblocked, this is exactly ``torch.nn.LocalResponseNorm(size,
alpha=scale, beta=pow, k=minDiv)``, whose average pool divides alpha by size.

Backward, with u = dy · d^(−β) (the direct term):

    dx_j = u_j − 2αβ · x_j · Σ_{f : j ∈ W(f)} u_f · x_f / d_f

and j ∈ W(f) ⇔ f ∈ [j − (size − 1 − size//2), j + size//2]: the same window mirrored
(blocks are their own mirror). Window sums are size − 1 adds of channel-shifted views (the
first out of place, the rest in place), exact in every dtype (no cumsum cancellation);
β = 0.75 is computed as rsqrt·sqrt(rsqrt) rather than pow. Fresh large tensors cost page
faults (the kernel zero-fills them), so the forward allocates only d, d^(−β) and y and keeps
its temporaries in y; on the CPU both directions work through the batch in chunks of images
(:func:`chunks`). Saved for backward: x (kept anyway by the in-place ReLU before it), d
and d^(−β). torch's LocalResponseNorm runs pad + avg_pool3d + pow + div forward and autograd
through all of them backward, about ten times slower on the CPU (docs/performance.md
"Cross-map normalisation"). Under ``torch.compile`` the same function is written in plain
ops (:func:`_traceable`), which inductor fuses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def window_sum(v: torch.Tensor, before: int, after: int, out: torch.Tensor | None = None
               ) -> torch.Tensor:
    """s_f = Σ_{j=f−before}^{f+after} v_j over dim 1, clipped at the ends: (N, C, …) -> same
    (into ``out`` when given; it must not overlap ``v``)."""
    c = v.shape[1]
    shifts = [o for o in range(-before, after + 1) if o != 0 and abs(o) < c]
    s = torch.empty_like(v) if out is None else out
    if not shifts:
        return s.copy_(v)
    _shifted_add(v, v, shifts[0], out=s)  # the first pair out of place: no copy of v
    for o in shifts[1:]:
        _shifted_add(s, v, o)
    return s


def _shifted_add(s: torch.Tensor, v: torch.Tensor, o: int, out=None) -> None:
    """out_f = s_f + v_{f+o} where f + o lies in [0, C); elsewhere out_f = s_f."""
    c = v.shape[1]
    lo, hi = max(0, -o), min(c, c - o)  # channels f with f + o in range
    if out is None:
        s[:, lo:hi].add_(v[:, lo + o:hi + o])
        return
    torch.add(s[:, lo:hi], v[:, lo + o:hi + o], out=out[:, lo:hi])
    out[:, :lo] = s[:, :lo]
    out[:, hi:] = s[:, hi:]


def block_sum(v: torch.Tensor, size: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """s_f = Σ over f's block [⌊f/size⌋·size, +size) ∩ [0, C) of v: (N, C, …) -> same."""
    n, c = v.shape[:2]
    rest = v.shape[2:]
    full = c - c % size
    out = torch.empty_like(v) if out is None else out
    if full:
        blocks = v[:, :full].reshape(n, full // size, size, *rest).sum(2, keepdim=True)
        out[:, :full] = blocks.expand(n, full // size, size, *rest).reshape(n, full, *rest)
    if full < c:  # the last, partial block
        out[:, full:] = v[:, full:].sum(1, keepdim=True)
    return out


def _sums(v: torch.Tensor, size: int, blocked: bool, mirrored: bool,
          out: torch.Tensor | None = None) -> torch.Tensor:
    if blocked:
        return block_sum(v, size, out)
    before, after = size // 2, size - 1 - size // 2
    return window_sum(v, after, before, out) if mirrored else window_sum(v, before, after, out)


def chunks(x: torch.Tensor) -> list[slice]:
    """Image ranges to work through one at a time: on the CPU about 4 M elements (16 MiB of
    fp32) per temporary, on a GPU the whole batch at once (fewer kernel launches). Each of the
    dozen passes over a chunk is a parallel region; with sleeping threads (OMP_WAIT_POLICY=
    PASSIVE, the command line's default) every region pays a wake-up, and 2 MiB chunks, which
    kept the passes in cache for spinning threads, made AlexNet's rnorm1 twice as slow; the
    whole batch at once is slower again (docs/performance.md "Cross-map normalisation")."""
    n = x.shape[0]
    per_image = max(1, x[:1].numel())
    step = n if x.device.type != "cpu" else max(1, CHUNK_ELEMENTS // per_image)
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


CHUNK_ELEMENTS = 1 << 22


def _forward(x, size, alpha, beta, k, blocked):
    """(d, d^(−β), y) of x (N, C, …), chunk by chunk (see :func:`chunks`)."""
    d, scale, y = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    for part in chunks(x):
        _forward_into(x[part], size, alpha, beta, k, blocked,
                      d=d[part], scale=scale[part], y=y[part])
    return d, scale, y


def _forward_into(x, size, alpha, beta, k, blocked, *, d, scale, y) -> None:
    """Writes d = k + α·Σ_window x², scale = d^(−β) and y = x·scale; ``y`` holds the
    temporaries until y itself is written (no other scratch tensor)."""
    torch.mul(x, x, out=y)  # scratch: x²
    _sums(y, size, blocked, mirrored=False, out=d)  # Σ_window x²
    torch.add(d.new_tensor(k), d, alpha=alpha, out=d)  # k + α·s in one pass, in place
    if beta == 0.75:  # d^(−3/4) = rsqrt(d)·sqrt(rsqrt(d)): two cheap vector ops, no pow
        torch.rsqrt(d, out=scale)
        scale.mul_(torch.sqrt(scale, out=y))
    else:
        torch.pow(d, -beta, out=scale)
    torch.mul(x, scale, out=y)


def _backward(dy, x, d, scale, *, conf: tuple):
    """dx = u − 2αβ·x·Σ_mirror(u·x/d), with u = dy·d^(−β) the direct term; chunk by chunk."""
    dx = torch.empty_like(x)
    for part in chunks(x):
        _backward_part(dy[part], x[part], d[part], scale[part], conf=conf, out=dx[part])
    return dx


def _backward_part(dy, x, d, scale, *, conf: tuple, out) -> None:
    size, alpha, beta, blocked = conf  # (size, α, β, blocked) as ctx.conf keeps them
    u = dy * scale
    t = (u * x).div_(d)  # u_f · x_f / d_f
    g = _sums(t, size, blocked, mirrored=True)  # Σ_{f ∋ j} t_f
    torch.addcmul(u, g, x, value=-2.0 * alpha * beta, out=out)  # one pass: u − 2αβ·x·g


class CrossMapNorm(torch.autograd.Function):
    """y = x · (k + α·Σ_window x²)^(−β) over dim 1 of (N, C, H, W), with its exact backward."""

    @staticmethod
    def forward(ctx, x, size: int, alpha: float, beta: float, k: float, blocked: bool):
        d, scale, y = _forward(x, size, alpha, beta, k, blocked)
        ctx.save_for_backward(x, d, scale)
        ctx.conf = (size, alpha, beta, blocked)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, d, scale = ctx.saved_tensors
        dx = _backward(dy, x, d, scale, conf=ctx.conf)
        return dx, None, None, None, None, None


def _traceable(x, size: int, alpha: float, beta: float, k: float, blocked: bool):
    """The same function in plain differentiable ops, for ``torch.compile`` (which fuses
    it into one kernel each way and cannot trace the out= writes of the eager form)."""
    n, c = x.shape[:2]
    sq = x * x
    if blocked:
        extra = -c % size
        padded = F.pad(sq, (0, 0) * (x.dim() - 2) + (0, extra))  # (N, B·size, …)
        sums = padded.unflatten(1, (-1, size)).sum(2, keepdim=True)  # (N, B, 1, …)
        s = sums.expand(-1, -1, size, *sums.shape[3:]).flatten(1, 2)[:, :c]
    else:
        before = size // 2
        padded = F.pad(sq, (0, 0) * (x.dim() - 2) + (before, size - 1 - before))
        s = sum(padded[:, o:o + c] for o in range(size))
    return x * (k + alpha * s).pow(-beta)


def cross_map_norm(x: torch.Tensor, size: int, scale: float, power: float, min_div: float,
                   blocked: bool = False) -> torch.Tensor:
    """cmrnorm of (N, C, H, W) x: ``scale`` as in the params file (divided by size here)."""
    if torch.compiler.is_compiling():
        return _traceable(x, size, scale / size, power, min_div, blocked)
    return CrossMapNorm.apply(x, size, scale / size, power, min_div, blocked)
