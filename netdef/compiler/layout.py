"""The CPU's activation layout: NHWC (channels-last) by strides, for training and inference.

On the CPU, pooling and the normalisations run vectorised over channels in NHWC and per pixel
in NCHW (docs/performance.md "Channels-last activations"); a convolution whose weights are
NHWC gives NHWC output whatever its input's layout, so re-laying the weights is enough to keep a
whole net in NHWC.
"""

from __future__ import annotations

import torch


def as_nhwc(t: torch.Tensor) -> torch.Tensor:
    """A 4-D tensor (N, C, H, W) stored N, H, W, C, by its strides: ``t`` itself when it
    already is, else a copy. ``t.contiguous(memory_format=torch.channels_last)`` is not enough
    for one channel: (N, 1, H, W) counts as channels-last with its NCHW strides, and then a
    conv's output comes out NCHW too, and max pooling in NCHW runs about 10 times slower than
    in NHWC on the CPU (a 1-channel net's first pool: 12.8 ms against 1.0 ms per batch of 128;
    docs/performance.md)."""
    _, c, h, w = t.shape
    if t.stride() == (h * w * c, 1, w * c, c):  # NHWC strides (c10's channels-last rule)
        return t
    return torch.empty_like(t, memory_format=torch.channels_last).copy_(t)


def to_channels_last(net) -> int:
    """Re-lay the net's 4-D parameters (conv weights (F, C, f, f), per-position biases) in
    channels-last order, in place (``Module.to`` would refuse the 5-D ``local`` weights);
    returns how many were changed. Optimizer state follows the parameters it is made from."""
    changed = 0
    for p in net.parameters():
        if p.dim() != 4:
            continue
        data = p.data
        nhwc = as_nhwc(data)  # by strides: a 1-channel (F, 1, f, f) is "both"
        if nhwc is not data:
            p.data = nhwc
            changed += 1
    return changed
