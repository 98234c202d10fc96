"""Fast same-map response and contrast normalisation (rnorm, cnorm) with a hand-derived
backward.

Forward, for x (N, C, H, W) and pixel p of a map (cuda-convnet ``kRNormUndo``/``kCNorm``
family; ResponseNormLayer, ContrastNormLayer in ``layer.cu``):

    v = x (rnorm)   or   v = x − S(x)/n (cnorm: minus the mean of the clipped window)
    d = k + α·S(v²),   y = x · d^(−β)

where S sums the size×size window whose rows and columns start at p − size//2, clipped at the
border, and n counts its in-image pixels. α = scale/size², as cuda-convnet's Python side
divides it.

Backward, with u = dy·d^(−β) the direct term and Sᵀ the mirrored window sum (the windows that
contain a pixel: [p − (size − 1 − size//2), p + size//2]):

    g_v = −2αβ · v · Sᵀ(u·x/d)
    dx = u + g_v                        (rnorm)
    dx = u + g_v − Sᵀ(g_v / n)          (cnorm: the mean's share)

S runs as a depthwise convolution with a kernel of ones (one conv2d call, which oneDNN
vectorises in either memory layout), Sᵀ the same with the window's other offset. A reference
built from padding, ``avg_pool2d`` and autograd (the previous form of
:class:`~netdef.compiler.ops_norm.SpatialNormOp`) spent more of a cuda-convnet CIFAR-10 step
(layers-18pct, batch 128) in two rnorm layers than in the three convolutions. The
elementwise work writes into as few fresh tensors as it can, and β = 0.75 is computed as
rsqrt·sqrt(rsqrt), as :mod:`~netdef.compiler.lrn` does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_sum(v: torch.Tensor, size: int, mirrored: bool = False) -> torch.Tensor:
    """Σ over each pixel's size×size window of (N, C, H, W) ``v``, clipped at the border:
    rows and columns [p − size//2, +size), or with ``mirrored`` [p − (size − 1 − size//2),
    +size) (the windows that contain p); same shape and layout as ``v``."""
    c = v.shape[1]
    ones = torch.ones(c, 1, size, size, dtype=v.dtype, device=v.device)
    with torch.autocast(v.device.type, enabled=False):  # sums in v's own dtype
        s = F.conv2d(v, ones, padding=size // 2, groups=c)
    if size % 2 == 0:  # padding size//2 on both sides gives one row and column too many
        s = s[:, :, 1:, 1:] if mirrored else s[:, :, :-1, :-1]
    return s


def _scale(d: torch.Tensor, beta: float) -> torch.Tensor:
    """d^(−β) into a fresh tensor (β = 0.75: rsqrt(d)·sqrt(rsqrt(d)))."""
    if beta == 0.75:
        r = torch.rsqrt(d)
        return r.mul_(torch.sqrt(r))
    return torch.pow(d, -beta)


def _centred(x: torch.Tensor, size: int, counts: torch.Tensor) -> torch.Tensor:
    """v = x − (window mean), the mean over the clipped window's ``counts`` (H, W) pixels."""
    return torch.sub(x, box_sum(x, size).div_(counts))


class SpatialNorm(torch.autograd.Function):
    """y = x · (k + α·S(v²))^(−β) over (N, C, H, W), v = x or x − local mean; exact backward."""

    @staticmethod
    def forward(ctx, x, size: int, alpha: float, beta: float, k: float, counts):
        v = x if counts is None else _centred(x, size, counts)
        d = box_sum(v * v, size).mul_(alpha).add_(k)  # k + α·S(v²), in place
        scale = _scale(d, beta)
        ctx.save_for_backward(x, v if counts is not None else None, d, scale, counts)
        ctx.conf = (size, alpha, beta)
        return x * scale

    @staticmethod
    def backward(ctx, dy):
        x, v, d, scale, counts = ctx.saved_tensors
        size, alpha, beta = ctx.conf
        u = dy * scale
        t = (u * x).div_(d)  # dL/dd = −β·t
        g = box_sum(t, size, mirrored=True)
        if counts is None:  # u − 2αβ·x·Sᵀ(t) in one pass
            return u.addcmul_(g, x, value=-2.0 * alpha * beta), None, None, None, None, None
        g_v = g.mul_(v).mul_(-2.0 * alpha * beta)  # dL/dv
        g_mean = box_sum(g_v / counts, size, mirrored=True)
        return u.add_(g_v).sub_(g_mean), None, None, None, None, None


def _traceable(x, size: int, alpha: float, beta: float, k: float, counts):
    """The same function in differentiable ops, for ``torch.compile`` (and as a reference)."""
    v = x if counts is None else x - box_sum(x, size) / counts
    return x * (k + alpha * box_sum(v * v, size)).pow(-beta)


def spatial_norm(x: torch.Tensor, size: int, alpha: float, power: float, min_div: float,
                 counts: torch.Tensor | None = None) -> torch.Tensor:
    """rnorm (``counts`` None) or cnorm (``counts``: the clipped windows' pixel counts (H, W))
    of (N, C, H, W) ``x``; ``alpha`` already divided by size²."""
    if counts is not None:
        counts = counts.to(device=x.device, dtype=x.dtype)
    if torch.compiler.is_compiling():
        return _traceable(x, size, alpha, power, min_div, counts)
    return SpatialNorm.apply(x, size, alpha, power, min_div, counts)
