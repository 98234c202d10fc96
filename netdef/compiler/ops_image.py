"""Builders of cuda-convnet2's image layers: crop, href, blur, nailbed, resize, rgb2yuv,
rgb2lab (cuda-convnet2 ``layer.cu`` and ``conv_util.cu``). All map (N, C, S, S) per image;
the view (C, S, S) each input is read as comes from the check stage (``info.views``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..check import LayerInfo
from ..schema import layers as L
from .registry import Built, register


class CropOp(nn.Module):
    """The sizeX×sizeX square at rows startY.., columns startX.."""

    def __init__(self, view, start_x: int, start_y: int, size: int):
        super().__init__()
        self.view, self.x, self.y, self.size = tuple(view), start_x, start_y, size

    def forward(self, xs, ws):
        x = xs[0].reshape(-1, *self.view)
        return x[:, :, self.y:self.y + self.size, self.x:self.x + self.size]


@register("crop")
def build_crop(layer: L.Crop, info: LayerInfo) -> Built:
    start_y = layer.start_x if layer.start_y is None else layer.start_y
    return Built(CropOp(info.views[0], layer.start_x, start_y, layer.size_x))


class HrefOp(nn.Module):
    """A deterministic horizontal flip of every image, every pass (cuda-convnet2
    HorizontalReflectionLayer)."""

    def __init__(self, view):
        super().__init__()
        self.view = tuple(view)

    def forward(self, xs, ws):
        return xs[0].reshape(-1, *self.view).flip(-1)


@register("href")
def build_href(layer: L.Href, info: LayerInfo) -> Built:
    return Built(HrefOp(info.views[0]))


def blur_taps(size: int, stdev: float) -> torch.Tensor:
    """gᵢ = exp(−(size//2 − i)² / (2σ²)), normalised to sum 1 (cuda-convnet2 GaussianBlurLayer)."""
    i = torch.arange(size, dtype=torch.float64)
    g = torch.exp(-((size // 2 - i) ** 2) / (2 * stdev ** 2))
    return g / g.sum()


class BlurOp(nn.Module):
    """Separable Gaussian blur, horizontal then vertical, zero padding, same-size output."""

    def __init__(self, view, size: int, stdev: float):
        super().__init__()
        self.view, self.size = tuple(view), size
        self.register_buffer("taps", blur_taps(size, stdev).float(), persistent=False)

    def forward(self, xs, ws):
        x = xs[0].reshape(-1, *self.view)  # (N, C, S, S)
        c, half = x.shape[1], self.size // 2
        g = self.taps.to(x.dtype)
        x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, self.size), padding=(0, half), groups=c)
        return F.conv2d(
            x, g.view(1, 1, -1, 1).expand(c, 1, self.size, 1), padding=(half, 0), groups=c
        )


@register("blur")
def build_blur(layer: L.Blur, info: LayerInfo) -> Built:
    return Built(BlurOp(info.views[0], layer.filter_size, layer.stdev))


class NailbedOp(nn.Module):
    """Every ``stride``-th pixel from a centred start: start = (S − stride·(out−1)) // 2."""

    def __init__(self, view, stride: int, out: int):
        super().__init__()
        self.view, self.stride, self.out = tuple(view), stride, out
        self.start = (view[1] - stride * (out - 1)) // 2

    def forward(self, xs, ws):
        x = xs[0].reshape(-1, *self.view)
        stop = self.start + self.stride * (self.out - 1) + 1
        return x[:, :, self.start:stop:self.stride, self.start:stop:self.stride]


@register("nailbed")
def build_nailbed(layer: L.Nailbed, info: LayerInfo) -> Built:
    return Built(NailbedOp(info.views[0], layer.stride, info.shape[1]))


def resize_taps(
    side: int, out: int, scale: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear source rows for cuda-convnet2's kResizeBilinear: src = clamp(p·scale + c, 0,
    S − 1.01). The host's centre offset c was not in the sources read; we take pixel-centre
    alignment, c = (scale − 1)/2 (what align_corners=False means in torch). Returns
    (floor index, next index, weight of the next) as (out,) tensors."""
    src = torch.clamp(torch.arange(out, dtype=torch.float64) * scale + (scale - 1) / 2,
                      0.0, side - 1.01)
    lo = src.floor().long()
    return lo, lo + 1, src - lo


class ResizeOp(nn.Module):
    """Bilinear resize (N, C, S, S) -> (N, C, out, out), out = floor(S / scale)."""

    def __init__(self, view, scale: float, out: int):
        super().__init__()
        self.view = tuple(view)
        lo, hi, frac = resize_taps(view[1], out, scale)
        self.register_buffer("lo", lo, persistent=False)
        self.register_buffer("hi", hi, persistent=False)
        self.register_buffer("frac", frac.float(), persistent=False)

    def _axis(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        shape = [1] * x.dim()
        shape[dim] = -1
        w = self.frac.to(x.dtype).view(shape)
        return x.index_select(dim, self.lo) * (1 - w) + x.index_select(dim, self.hi) * w

    def forward(self, xs, ws):
        x = xs[0].reshape(-1, *self.view)
        return self._axis(self._axis(x, 3), 2)


@register("resize")
def build_resize(layer: L.Resize, info: LayerInfo) -> Built:
    return Built(ResizeOp(info.views[0], layer.scale, info.shape[1]))


YUV = ((0.2126, 0.7152, 0.0722), (-0.09991, -0.33609, 0.436), (0.615, -0.55861, -0.05639))
XYZ = ((0.49, 0.31, 0.2), (0.17697, 0.8124, 0.01063), (0.0, 0.01, 0.99))


class ColourOp(nn.Module):
    """A 3×3 colour matrix per pixel; with ``lab`` the CIE L*a*b* of cuda-convnet2's
    kRGBToLAB (no white-point normalisation; ``center`` subtracts 50 from L)."""

    def __init__(self, view, matrix, lab: bool = False, center: bool = False):
        super().__init__()
        self.view, self.lab, self.center = tuple(view), lab, center
        self.register_buffer("matrix", torch.tensor(matrix), persistent=False)

    @staticmethod
    def _f(t: torch.Tensor) -> torch.Tensor:
        cube = t.clamp(min=0.0088564517).pow(0.3333)
        return torch.where(t > 0.0088564517, cube, 7.787037 * t + 0.13793103)

    def forward(self, xs, ws):
        x = xs[0].reshape(-1, *self.view)  # (N, 3, S, S)
        y = torch.einsum("oc,nchw->nohw", self.matrix.to(x.dtype), x)
        if not self.lab:
            return y
        fx, fy, fz = self._f(y[:, 0]), self._f(y[:, 1]), self._f(y[:, 2])
        light = 116 * fy - (66.0 if self.center else 16.0)
        return torch.stack([light, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


@register("rgb2yuv")
def build_rgb2yuv(layer: L.Rgb2Yuv, info: LayerInfo) -> Built:
    return Built(ColourOp(info.views[0], YUV))


@register("rgb2lab")
def build_rgb2lab(layer: L.Rgb2Lab, info: LayerInfo) -> Built:
    return Built(ColourOp(info.views[0], XYZ, lab=True, center=layer.center))


