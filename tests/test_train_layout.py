"""train.step's channels-last option: when ``auto`` turns it on, and that the NHWC step
computes what the NCHW step computes (conv towers, cmrnorm, local, pool, fc)."""

from __future__ import annotations

import pytest
import torch

from netdef.compiler import compile_net
from netdef.errors import NetdefError
from netdef.train.step import make_train_step, to_channels_last, use_channels_last

from conftest import load_valid


@pytest.fixture(scope="module")
def checked():
    """conv, cmrnorm, pool, local, a grouped two-input conv and fc."""
    return load_valid("layout-net", 24)


def test_auto_is_on_for_the_cpu_and_reduced_precision_on_cuda():
    assert use_channels_last("auto", "bf16", ["cuda"])
    assert use_channels_last("auto", "fp16", ["cuda"])
    assert not use_channels_last("auto", "fp32", ["cuda"])
    assert use_channels_last("auto", "fp32", ["cpu"]) and use_channels_last("auto", "bf16", ["cpu"])
    assert not use_channels_last("auto", "bf16", ["cpu", "cuda"])  # a mixed net stays NCHW
    assert use_channels_last("on", "fp32", ["cpu"]) and not use_channels_last(
        "off", "bf16", ["cuda"]
    )
    with pytest.raises(NetdefError, match="channels-last must be one of auto, on, off"):
        use_channels_last("nhwc", "fp32", ["cpu"])


def _steps(checked, layout: str, steps: int = 3):
    torch.manual_seed(0)
    net = compile_net(checked, devices=("cpu", "cpu"), seed=0).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    step = make_train_step(net, opt, channels_last=layout)
    g = torch.Generator().manual_seed(1)
    images = torch.randn(6, 3, 24, 24, generator=g)  # one batch, so the loss must fall
    labels = torch.randint(0, 5, (6,), generator=g)
    losses = [step(images, labels).loss.item() for _ in range(steps)]
    return net, losses


def test_nhwc_step_equals_nchw_step(checked):
    """Three updates each way from the same weights and batches: the same losses and weights
    (float rounding aside), and the 4-D weights really are channels-last."""
    plain, plain_losses = _steps(checked, "off")
    nhwc, nhwc_losses = _steps(checked, "on")
    assert nhwc_losses == pytest.approx(plain_losses, rel=1e-5)
    assert plain_losses[-1] < plain_losses[0]  # it learns, so the comparison means something
    cl = torch.channels_last
    conv1 = dict(nhwc.named_parameters())["conv1.weight"]  # (16, 3, 5, 5)
    assert conv1.is_contiguous(memory_format=cl)
    assert not dict(plain.named_parameters())["conv1.weight"].is_contiguous(memory_format=cl)
    for (name, a), b in zip(plain.named_parameters(), nhwc.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=name)


def test_to_channels_last_skips_the_local_layers_5d_weights(checked):
    net = compile_net(checked, devices="cpu", seed=0)
    shapes = {n: p.dim() for n, p in net.named_parameters()}
    assert 5 in shapes.values()  # local2's (P, F, fch, f, f)
    nchw = [n for n, p in net.named_parameters()
            if p.dim() == 4 and not p.is_contiguous(memory_format=torch.channels_last)]
    assert to_channels_last(net) == len(nchw) > 0
    assert to_channels_last(net) == 0  # already done
