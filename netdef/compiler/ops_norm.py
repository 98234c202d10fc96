"""Builders of the normalisation layers: cmrnorm, rnorm, cnorm (cuda-convnet ``layer.cu``
ResponseNormLayer, CrossMapResponseNormLayer, ContrastNormLayer; docs/language-guide.md
"Shape rules").

With α the scale as divided by cuda-convnet's Python side (``scale/size`` for cmrnorm,
``scale/size²`` for rnorm/cnorm), every layer computes y = x · (minDiv + α·Σ_window v²)^(−pow),
where v = x, or for cnorm v = x − (local mean centred on that pixel). Windows start at
``p − size//2`` (C division, so even sizes reach further back) and are clipped at the border.
cmrnorm runs :func:`~netdef.compiler.lrn.cross_map_norm`, rnorm and cnorm
:func:`~netdef.compiler.spatial_norm.spatial_norm`: custom autograd functions with hand-derived
backwards, several times faster on the CPU than the plain formula under autograd and equal to
it to float rounding (tests/test_speed_lrn.py, tests/test_speed_spatial_norm.py).
"""

from __future__ import annotations

import torch
from torch import nn

from ..check import LayerInfo
from ..schema import layers as L
from .lrn import cross_map_norm
from .ops_pool import clipped_counts
from .registry import Built, register
from .spatial_norm import spatial_norm


class CrossMapNormOp(nn.Module):
    """cmrnorm over (N, C, H, W): window [f − size//2, +size) across channels, or the fixed
    block [⌊f/size⌋·size, +size) when ``blocked``. Unblocked equals LocalResponseNorm."""

    def __init__(self, view, size: int, scale: float, power: float, min_div: float,
                 blocked: bool):
        super().__init__()
        self.view, self.size, self.blocked = tuple(view), size, blocked
        self.scale, self.power, self.min_div = scale, power, min_div

    def extra_repr(self) -> str:
        return f"size={self.size}, scale={self.scale}, pow={self.power}, blocked={self.blocked}"

    def forward(self, xs, ws):
        x = xs[0]  # (N, C, H, W), or towers' pixels as rows (R, C, 1, 1): as they are
        if x.dim() != 4 or x.shape[1] != self.view[0]:
            x = x.reshape(-1, *self.view)  # (N, C·H·W) -> (N, C, H, W)
        return cross_map_norm(x, self.size, self.scale, self.power, self.min_div, self.blocked)


@register("cmrnorm")
def build_cmrnorm(layer: L.CmrNorm, info: LayerInfo) -> Built:
    """cmrnorm: the AlexNet local response normalisation across maps."""
    return Built(CrossMapNormOp(info.views[0], layer.size, layer.scale, layer.pow, layer.min_div,
                                layer.blocked))


class SpatialNormOp(nn.Module):
    """rnorm (``contrast=False``) and cnorm over a size×size window of the same map, by
    :func:`~netdef.compiler.spatial_norm.spatial_norm`."""

    def __init__(self, view, size: int, scale: float, power: float, min_div: float,
                 contrast: bool):
        super().__init__()
        self.view, self.size, self.contrast = tuple(view), size, contrast
        self.alpha, self.power, self.min_div = scale / size ** 2, power, min_div
        rows = clipped_counts(view[1], view[1], size, -(size // 2), 1)
        self.register_buffer("counts", torch.outer(rows, rows).float(), persistent=False)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, pow={self.power}, contrast={self.contrast}"

    def forward(self, xs, ws):
        x = xs[0]  # (N, C, S, S), or towers' maps side by side (N, k·C, S, S): as they are
        if x.dim() != 4 or x.shape[2:] != self.view[1:]:
            x = x.reshape(-1, *self.view)  # (N, C·S·S) -> (N, C, S, S)
        return spatial_norm(x, self.size, self.alpha, self.power, self.min_div,
                            self.counts if self.contrast else None)


@register("rnorm")
def build_rnorm(layer: L.RNorm, info: LayerInfo) -> Built:
    return Built(
        SpatialNormOp(info.views[0], layer.size, layer.scale, layer.pow, layer.min_div, False)
    )


@register("cnorm")
def build_cnorm(layer: L.CNorm, info: LayerInfo) -> Built:
    return Built(
        SpatialNormOp(info.views[0], layer.size, layer.scale, layer.pow, layer.min_div, True)
    )
