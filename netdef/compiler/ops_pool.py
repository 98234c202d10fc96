"""Builders of the pooling layers: pool (max/avg/maxabs) and cmpool (cuda-convnet ``pool``
kernels kLocalPool / kPoolCrossMap). Windows that overhang the image are clipped: max sees only
in-image pixels, avg divides by the in-image count, ``sum=1`` does not divide."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..check import LayerInfo
from ..schema import layers as L
from .registry import Built, register


def clipped_counts(side: int, out: int, size: int, start: int, stride: int) -> torch.Tensor:
    """Per output position, how many of the window's rows lie inside [0, side): (out,)."""
    pos = torch.arange(out) * stride + start
    return (torch.clamp(pos + size, max=side) - torch.clamp(pos, min=0)).double()


def window_pads(side: int, out: int, size: int, start: int, stride: int) -> tuple[int, int]:
    """(before, after) padding that turns clipped windows into plain ones; negative = crop."""
    return -start, start + (out - 1) * stride + size - side


def torch_pool_out(side: int, size: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """Outputs per side of ATen's pooling (``pooling_output_shape``): with ``ceil_mode`` a
    last window that starts inside the padded image counts."""
    span = side + 2 * pad - size
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= side + pad:
        out -= 1
    return out


def native_window(side: int, out: int, size: int, start: int, stride: int
                  ) -> tuple[int, bool] | None:
    """(padding, ceil_mode) with which ATen's pooling runs exactly our ``out`` clipped windows
    from ``start``, or None when no setting does (then the input is padded explicitly).

    ATen clips a window to the image for max (implicit −inf padding) and, with
    ``count_include_pad=False``, divides an average by its in-image count: the clipped windows
    of cuda-convnet, without the padded copy of the input (on a (128, 32, 32, 32) batch the
    copy cost more than the pooling)."""
    pad = -start
    if pad < 0 or 2 * pad > size:  # ATen allows padding up to half the window
        return None
    for ceil_mode in (False, True):
        if torch_pool_out(side, size, stride, pad, ceil_mode) == out:
            return pad, ceil_mode
    return None


class PoolOp(nn.Module):
    """Spatial pooling over (N, C, S, S) -> (N, C, out, out) with clipped windows."""

    def __init__(self, kind: str, view, size: int, stride: int, start: int, out: int,
                 total: bool):
        super().__init__()
        self.kind, self.view, self.size, self.stride = kind, tuple(view), size, stride
        self.total = total  # avg with sum=1: no division
        side = view[1]
        before, after = window_pads(side, out, size, start, stride)
        self.pads = (before, after, before, after)
        self.native = native_window(side, out, size, start, stride)
        rows = clipped_counts(side, out, size, start, stride)
        self.register_buffer("counts", torch.outer(rows, rows).float(), persistent=False)

    def extra_repr(self) -> str:
        return f"{self.kind}, size={self.size}, stride={self.stride}, pads={self.pads}"

    def _pad(self, x: torch.Tensor, value: float) -> torch.Tensor:
        return x if not any(self.pads) else F.pad(x, self.pads, value=value)

    def _max(self, x: torch.Tensor) -> torch.Tensor:
        if self.native is not None:
            pad, ceil_mode = self.native
            return F.max_pool2d(x, self.size, self.stride, pad, ceil_mode=ceil_mode)
        x = self._pad(x, float("-inf"))  # outside pixels never win
        return F.max_pool2d(x, self.size, self.stride)

    def _avg(self, x: torch.Tensor) -> torch.Tensor:
        if self.native is not None:
            pad, ceil_mode = self.native
            return F.avg_pool2d(x, self.size, self.stride, pad, ceil_mode=ceil_mode,
                                count_include_pad=False,
                                divisor_override=1 if self.total else None)
        sums = F.avg_pool2d(self._pad(x, 0.0), self.size, self.stride, divisor_override=1)
        return sums if self.total else sums / self.counts.to(sums.dtype)

    def forward(self, xs, ws):
        x = xs[0]  # (N, C, S, S), or towers' maps side by side (N, k·C, S, S): as they are
        if x.dim() != 4 or x.shape[2:] != self.view[1:]:
            x = x.reshape(-1, *self.view)  # (N, C·S·S) -> (N, C, S, S)
        if self.kind == "max":
            return self._max(x)
        if self.kind == "maxabs":
            hi, lo = self._max(x), -self._max(-x)
            return torch.where(hi.abs() >= lo.abs(), hi, lo)  # keeps the sign of max |x|
        return self._avg(x)


@register("pool")
def build_pool(layer: L.Pool, info: LayerInfo) -> Built:
    """pool: ``max``, ``avg`` or ``maxabs`` over sizeX×sizeX windows from ``start``."""
    return Built(PoolOp(layer.pool, info.views[0], layer.size_x, layer.stride, layer.start,
                        info.shape[1], layer.sum))


class CmPoolOp(nn.Module):
    """Max over channel windows [start + o·stride, +size) ∩ [0, C): (N, C, H, W) -> (N, O, H, W)."""

    def __init__(self, view, size: int, stride: int, start: int, out: int):
        super().__init__()
        self.view, self.size, self.stride = tuple(view), size, stride
        before, after = window_pads(view[0], out, size, start, stride)
        self.pads = (0, 0, 0, 0, before, after)

    def forward(self, xs, ws):
        x = xs[0].reshape(-1, *self.view).unsqueeze(1)  # (N, 1, C, H, W)
        x = F.pad(x, self.pads, value=float("-inf"))
        y = F.max_pool3d(x, (self.size, 1, 1), (self.stride, 1, 1))  # (N, 1, O, H, W)
        return y.squeeze(1)


@register("cmpool")
def build_cmpool(layer: L.CmPool, info: LayerInfo) -> Built:
    """cmpool: cross-map max pooling (cuda-convnet2 CrossMapPoolLayer)."""
    return Built(CmPoolOp(info.views[0], layer.size, layer.stride, layer.start, info.shape[0]))
