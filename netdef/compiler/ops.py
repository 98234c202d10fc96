"""Builders of the layers with weights: conv, local, fc, sfc (cuda-convnet ``layer.cu``).

Each op is called as ``op(xs, ws)``: ``xs`` the input tensors (any leading batch shape that
reshapes to the view the op needs), ``ws`` the tensors listed by its builder, in that order.
Parameters live in the :class:`~netdef.compiler.net.Net`, never in the op, so that folded
and split compilations share one naming scheme (``conv3a.weight.1``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..check import InputWeights, LayerInfo
from ..schema import layers as L
from .convfwd import conv2d
from .registry import Built, TensorSpec, register


def indexed(base: str, i: int) -> str:
    """``weight`` for input 0, ``weight.1`` for input 1 (the state-dict naming scheme)."""
    return base if i == 0 else f"{base}.{i}"


def shared_source(w: InputWeights, base: str) -> str | None:
    """The owner's tensor name of a shared weight (``weightSource``, resolved by the check
    stage), or None for the layer's own."""
    return f"{w.source[0]}.{indexed(base, w.source[1])}" if w.source else None


def perm_spec(layer: L.ConvLike, w: InputWeights, i: int) -> TensorSpec:
    """randSparse: the channel subsets (``const`` holds the channel count; the compiler draws
    ceil(groups·fch / channels) permutations, concatenated, group g reading entries
    [g·fch, (g+1)·fch): cuda-convnet ``gen_rand_conns``)."""
    g = layer.groups[i]
    return TensorSpec(indexed("perm", i), (g * w.filter_channels,), "perm",
                      const=layer.channels[i], source=shared_source(w, "perm"))


class ConvOp(nn.Module):
    """Σᵢ conv(padᵢ(xᵢ), Wᵢ) + b, with cuda-convnet's asymmetric padding and groups."""

    def __init__(self, *, views, pads, strides, groups, sparse, bias_shape, local=False,
                 outs=()):
        super().__init__()
        self.views, self.pads, self.strides = list(views), list(pads), list(strides)
        self.groups, self.sparse, self.bias_shape = list(groups), list(sparse), bias_shape
        self.local, self.outs = local, tuple(outs)

    def extra_repr(self) -> str:
        kind = "local" if self.local else "conv"
        return f"{kind}, views={self.views}, groups={self.groups}, pads={self.pads}"

    def _prepare(self, i: int, x: torch.Tensor, perm: torch.Tensor | None) -> torch.Tensor:
        if tuple(x.shape[1:]) != tuple(self.views[i]):
            x = x.reshape(-1, *self.views[i])  # (N, C, S, S)
        # (else not even a same-shape reshape: it gives a 1-channel NHWC input NCHW strides,
        # the conv's output follows, and the NCHW max pool after it runs ~10x slower)
        if perm is not None:
            x = x.index_select(1, perm)  # (N, groups·fch, S, S): randSparse gather
        left, right = self.pads[i]
        if left == right == 0:
            return x
        if left == right and not self.local:
            return x  # symmetric: conv2d pads itself (no copy)
        return F.pad(x, (left, right, left, right))

    def _one(self, i: int, x: torch.Tensor, w: torch.Tensor, bias=None) -> torch.Tensor:
        if self.local:
            return _local(x, w, self.strides[i], self.groups[i], self.outs[i])
        left, right = self.pads[i]
        pad = left if left == right else 0
        return conv2d(x, w, bias, self.strides[i], pad, self.groups[i])  # convfwd: NNPACK or oneDNN

    def forward(self, xs: list[torch.Tensor], ws: list[torch.Tensor]) -> torch.Tensor:
        n = len(xs)
        perms = iter(ws[n + 1:])
        # a per-filter bias goes into the first conv (oneDNN adds it in the kernel: no extra
        # pass over the output and no fresh (N, F, out, out) tensor); per-position adds after
        fused = not self.local and self.bias_shape[2:] == (1, 1)
        out = None
        for i, x in enumerate(xs):
            x = self._prepare(i, x, next(perms) if self.sparse[i] else None)
            bias = ws[n].reshape(-1) if fused and out is None else None
            y = self._one(i, x, ws[i], bias)  # (N, F, out, out)
            out = y if out is None else out.add_(y)  # conv backward never reads its output
        return out if fused else out + ws[n].view(self.bias_shape)


def _local(x: torch.Tensor, w: torch.Tensor, stride: int, groups: int, out: int) -> torch.Tensor:
    """Unshared-weight convolution, vectorised with unfold (cuda-convnet ``local``).

    x (N, G·fch, S', S') already padded; w (P, G·F, fch, f, f) with P = out² positions.
    """
    p, nf, fch, f, _ = w.shape
    cols = F.unfold(x, f, stride=stride)  # (N, G·fch·f·f, P), rows ordered (c, y, x)
    cols = cols.view(x.shape[0], groups, fch * f * f, p)
    wv = w.reshape(p, groups, nf // groups, fch * f * f)
    y = torch.einsum("ngkp,pgfk->ngfp", cols, wv)  # (N, G, F, P)
    return y.reshape(x.shape[0], nf, out, out)


def _conv_like(layer: L.ConvLike, info: LayerInfo, local: bool) -> Built:
    """conv and local share everything but the weight layout and the bias rule; weight
    shapes, filter channels and padding are the check stage's (``info.weights``)."""
    nf, out = info.shape[0], info.shape[1]
    tensors, sparse = [], []
    for i, w in enumerate(info.weights):
        tensors.append(TensorSpec(indexed("weight", i), w.shape, "weight", std=layer.init_w[i],
                                  source=shared_source(w, "weight")))
        sparse.append(bool(layer.rand_sparse[i]))
    shared = layer.shared_biases and not local  # local: one bias per filter per position
    bias = (nf,) if shared else (nf, out, out)
    tensors.append(TensorSpec("bias", bias, "bias", const=layer.init_b))
    tensors += [perm_spec(layer, w, i) for i, w in enumerate(info.weights) if sparse[i]]
    op = ConvOp(views=info.views, pads=[w.padding for w in info.weights], strides=layer.stride,
                groups=layer.groups, sparse=sparse,
                bias_shape=(1, nf, 1, 1) if shared else (1, nf, out, out), local=local,
                outs=[out] * len(info.views))
    return Built(op, tensors, inplace_neuron=True)


@register("conv")
def build_conv(layer: L.Conv, info: LayerInfo) -> Built:
    """conv: shared filters; several inputs are summed, one bias (cuda-convnet ConvLayer)."""
    return _conv_like(layer, info, local=False)


@register("local")
def build_local(layer: L.Local, info: LayerInfo) -> Built:
    """local: unshared filters, one bias per filter per position (LocalUnsharedLayer)."""
    return _conv_like(layer, info, local=True)


class FcOp(nn.Module):
    """Σᵢ flatten(xᵢ) Wᵢᵀ + b: (N, Dᵢ) -> (N, outputs)."""

    def forward(self, xs: list[torch.Tensor], ws: list[torch.Tensor]) -> torch.Tensor:
        n = len(xs)
        out = F.linear(xs[0].flatten(1), ws[0], ws[n])  # (N, outputs)
        for i in range(1, n):  # out + xᵢ Wᵢᵀ in the GEMM itself (beta = 1): no extra pass
            out = torch.addmm(out, xs[i].flatten(1), ws[i].t())
        return out


@register("fc")
def build_fc(layer: L.Fc, info: LayerInfo) -> Built:
    """fc: weights (outputs, Dᵢ) per input in torch layout, one bias."""
    tensors = [TensorSpec(indexed("weight", i), w.shape, "weight", std=layer.init_w[i],
                          source=shared_source(w, "weight"))
               for i, w in enumerate(info.weights)]
    tensors.append(TensorSpec("bias", (layer.outputs,), "bias", const=layer.init_b))
    return Built(FcOp(), tensors, inplace_neuron=True)


class SfcOp(nn.Module):
    """Block-diagonal fc (cuda-convnet2 SplitFCLayer): part p of the input to part p of the
    output. x (N, parts·k) -> (N, parts, k) ×  W (parts, outputs, k) -> (N, parts·outputs)."""

    def __init__(self, parts: int):
        super().__init__()
        self.parts = parts

    def forward(self, xs: list[torch.Tensor], ws: list[torch.Tensor]) -> torch.Tensor:
        x = xs[0].reshape(xs[0].shape[0], self.parts, -1).transpose(0, 1)  # (P, N, k)
        y = torch.bmm(x, ws[0].transpose(1, 2))  # (P, N, outputs)
        return y.transpose(0, 1).reshape(x.shape[1], -1) + ws[1]


@register("sfc")
def build_sfc(layer: L.Sfc, info: LayerInfo) -> Built:
    """sfc: ``parts`` blocks of ``outputs`` units each."""
    tensors = [TensorSpec("weight", info.weights[0].shape, "weight", std=layer.init_w[0]),
               TensorSpec("bias", (layer.parts * layer.outputs,), "bias", const=layer.init_b)]
    return Built(SfcOp(layer.parts), tensors, inplace_neuron=True)


class StackedFcOp(nn.Module):
    """k fc layers reading the same inputs, as one op: x (N, ΣDⱼ) is the concatenation of
    the inputs; member m gives Σⱼ x[:, Dⱼ] W_{m,j}ᵀ + b_m, outputs stacked along dim 1.
    Weights are not concatenated: for AlexNet's fc layers that copy would cost more than
    the one larger matmul saves."""

    def __init__(self, widths: list[int], members: int):
        super().__init__()
        self.widths, self.members = list(widths), members

    def forward(self, xs: list[torch.Tensor], ws: list[torch.Tensor]) -> torch.Tensor:
        parts = xs[0].flatten(1).split(self.widths, dim=1)  # (N, Dⱼ) views
        n = len(self.widths)
        outs = []
        for m in range(self.members):
            w = ws[m * n:(m + 1) * n]
            y = F.linear(parts[0], w[0], ws[self.members * n + m])
            for j in range(1, n):
                y = torch.addmm(y, parts[j], w[j].t())  # accumulates in the GEMM
            outs.append(y)
        return torch.cat(outs, dim=1)  # (N, k·outputs)
