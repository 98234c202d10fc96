"""Builders of the layers without weights or windows: data, softmax, neuron, eltsum, eltmax,
concat, pass, dropout, dropout2, hs (cuda-convnet ``layer.cu``; docs/language-guide.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..check import LayerInfo
from ..schema import layers as L
from .neurons import NeuronOp
from .noise import keep_mask
from .registry import Built, register


class DataOp(nn.Module):
    """What a data layer delivers from the batch's labels, (N,) class indices: the images
    (dataIdx 0), the label indices as (N, 1) values (1), or the labels one-hot (2):
    (N, end − start) values, column j
    being 1 where the label is start + j (cuda-convnet2 DataLayer ``start``/``end``; width the
    number of classes when neither is given)."""

    def __init__(self, data_idx: int, start: int, end: int):
        super().__init__()
        self.data_idx, self.start, self.end = data_idx, start, end

    def forward(self, images: torch.Tensor | None, labels: torch.Tensor | None) -> torch.Tensor:
        if self.data_idx == 0:
            if images is None:
                raise ValueError("this net needs images")
            return images
        if labels is None:
            raise ValueError("this net reads labels: pass them (net.costs(images, labels))")
        if labels.dim() != 1:
            raise ValueError(f"labels must be (N,) class indices (got shape {tuple(labels.shape)})")
        if self.data_idx == 1:  # (N, 1) values like any layer's, so any layer may read them
            return labels.reshape(-1, 1).float()
        columns = torch.arange(self.start, self.end, device=labels.device)
        return (labels.long()[:, None] == columns).float()  # (N, end − start)


@register("data")
def build_data(layer: L.Data, info: LayerInfo) -> Built:
    """data: delivered by the net to each consumer's device (never a transfer)."""
    start = layer.start or 0
    return Built(DataOp(layer.data_idx, start, start + info.shape[0]))


class SoftmaxOp(nn.Module):
    """exp(x − max) / Σ exp(x − max) over all features of an image."""

    def forward(self, xs, ws):
        x = xs[0]
        return F.softmax(x.flatten(1), dim=1).view_as(x)


@register("softmax")
def build_softmax(layer: L.Softmax, info: LayerInfo) -> Built:
    return Built(SoftmaxOp())


class IdentityOp(nn.Module):
    """Passes its one input through (the layer's ``neuron=`` does the work)."""

    def forward(self, xs, ws):
        return xs[0]


@register("neuron")
def build_neuron(layer: L.NeuronLayer, info: LayerInfo) -> Built:
    """neuron: an identity op; the compiler applies ``neuron=`` after every op."""
    return Built(IdentityOp())


class EltSumOp(nn.Module):
    """Σᵢ cᵢ xᵢ, every input reshaped to the first's shape."""

    def __init__(self, coeffs: tuple[float, ...]):
        super().__init__()
        self.coeffs = coeffs

    def forward(self, xs, ws):
        out = self.coeffs[0] * xs[0]
        for c, x in zip(self.coeffs[1:], xs[1:], strict=True):
            out = out + c * x.reshape(xs[0].shape)
        return out


@register("eltsum")
def build_eltsum(layer: L.EltSum, info: LayerInfo) -> Built:
    coeffs = layer.coeffs or (1.0,) * len(layer.inputs)
    return Built(EltSumOp(tuple(float(c) for c in coeffs)))


class EltMaxOp(nn.Module):
    """Elementwise max. Like cuda-convnet's EltwiseMaxLayer, every input equal to the max
    receives the whole gradient (torch.maximum would split it between ties)."""

    def forward(self, xs, ws):
        xs = [x.reshape(xs[0].shape) for x in xs]
        top = xs[0]
        for x in xs[1:]:
            top = torch.maximum(top, x)
        top = top.detach()
        out = top
        for x in xs:
            out = out + (x == top).to(x.dtype) * (x - x.detach())  # value + 0, grad to ties
        return out


@register("eltmax")
def build_eltmax(layer: L.EltMax, info: LayerInfo) -> Built:
    return Built(EltMaxOp())


class ConcatOp(nn.Module):
    """Stacks inputs along channels: (N, Cᵢ, H, W) -> (N, ΣCᵢ, H, W)."""

    def __init__(self, shapes: list[tuple[int, int, int]]):
        super().__init__()
        self.shapes = shapes

    def forward(self, xs, ws):
        return torch.cat([x.reshape(-1, *s) for x, s in zip(xs, self.shapes, strict=True)], dim=1)


@register("concat")
def build_concat(layer: L.Concat, info: LayerInfo) -> Built:
    return Built(ConcatOp(list(info.in_shapes)))


@register("pass")
def build_pass(layer: L.Pass, info: LayerInfo) -> Built:
    """pass: cuda-convnet2's memory alias of its inputs, i.e. a concatenation."""
    return Built(ConcatOp(list(info.in_shapes)))


class DropoutOp(nn.Module):
    """``inverted``: × mask/keep in training, identity at test (cuda-convnet2 DropoutLayer).
    Classic (dropout2, hs): × mask in training, × keep at test, and always × keep when
    ``enable`` is off (Dropout2Layer).

    The mask is :func:`~netdef.compiler.noise.keep_mask` of the key the last
    :meth:`~netdef.compiler.net.Net.set_noise` gave (``noise``: int64 (k, 3), one row per
    folded layer). A net that was never keyed draws from torch's global generator, as
    ``nn.Dropout`` does; netdef's training step always keys it."""

    def __init__(self, keep: float, enable: bool, inverted: bool):
        super().__init__()
        self.keep, self.enable, self.inverted = keep, enable, inverted
        self.register_buffer("noise", torch.zeros(0, 3, dtype=torch.int64), persistent=False)

    def extra_repr(self) -> str:
        return f"keep={self.keep}, enable={self.enable}, inverted={self.inverted}"

    def set_noise(self, rows: list[list[int]]) -> None:
        """Key the masks (rows from :func:`~netdef.compiler.noise.member_keys`), in place:
        small fills, no copy from or to the host, so a step on a GPU never waits."""
        if tuple(self.noise.shape) != (len(rows), 3):
            self.noise = torch.zeros(len(rows), 3, dtype=torch.int64, device=self.noise.device)
        for j, row in enumerate(rows):
            for c, value in enumerate(row):
                self.noise[j, c].fill_(value)

    def forward(self, xs, ws):
        x = xs[0]
        if self.training and self.enable:
            if self.noise.shape[0]:
                mask = keep_mask(x, self.noise, self.keep).to(x.dtype)
            else:
                mask = (torch.rand_like(x) < self.keep).to(x.dtype)
            return x * mask / self.keep if self.inverted else x * mask
        return x if self.inverted else x * self.keep


@register("dropout")
def build_dropout(layer: L.Dropout, info: LayerInfo) -> Built:
    return Built(DropoutOp(layer.keep, layer.enable, inverted=True))


@register("dropout2")
def build_dropout2(layer: L.Dropout2, info: LayerInfo) -> Built:
    return Built(DropoutOp(layer.keep, layer.enable, inverted=False))


@register("hs")
def build_hs(layer: L.Hs, info: LayerInfo) -> Built:
    """hs: the 2012 AlexNet code's name for classic dropout (= dropout2)."""
    return Built(DropoutOp(layer.keep, layer.enable, inverted=False))


def neuron_op(layer: L.LayerBase, inplace: bool) -> NeuronOp | None:
    """The op for a layer's ``neuron=`` (None for none or ident)."""
    if layer.neuron is None or layer.neuron.kind == "ident":
        return None
    return NeuronOp(layer.neuron, inplace)
