"""compiler.convfwd: the CPU forward leaves oneDNN for NNPACK only where ATen would run NNPACK,
computes the same convolution, leaves the backward to oneDNN and restores the switch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from netdef.compiler import convfwd

needs_nnpack = pytest.mark.skipif(
    convfwd._SWITCH is None or not torch.backends.nnpack.is_available(),
    reason="this torch has no NNPACK or no oneDNN switch")


def _ops(fn) -> list[str]:
    with torch.profiler.profile() as prof:
        fn()
    return [e.name for e in prof.events() if "conv" in e.name]


@needs_nnpack
@pytest.mark.parametrize("groups", [1, 2])
def test_nnpack_forward_equals_onednn_and_gradients_are_identical(groups, monkeypatch):
    monkeypatch.setattr(convfwd, "_AVX512", False)  # as on an AVX2 CPU
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 8, 9, 9, generator=g, requires_grad=True)
    w = torch.randn(12, 8 // groups, 3, 3, generator=g, requires_grad=True)
    b = torch.randn(12, generator=g, requires_grad=True)
    assert convfwd.wants_nnpack(x, w, 1, 1)
    ours = convfwd.conv2d(x, w, b, 1, 1, groups)
    plain = F.conv2d(x, w, b, padding=1, groups=groups)
    torch.testing.assert_close(ours, plain, rtol=1e-4, atol=1e-4)
    gy = torch.randn(plain.shape, generator=g)
    for a, c in zip(torch.autograd.grad(ours, (x, w, b), gy),
                    torch.autograd.grad(plain, (x, w, b), gy), strict=True):
        assert torch.equal(a, c)  # oneDNN's backward either way
    names = _ops(lambda: convfwd.conv2d(x, w, b, 1, 1, groups))
    assert "aten::_nnpack_spatial_convolution" in names
    assert torch._C._get_mkldnn_enabled()


def test_where_onednn_keeps_the_forward(monkeypatch):
    x, w = torch.randn(16, 3, 12, 12), torch.randn(4, 3, 3, 3)
    monkeypatch.setattr(convfwd, "_AVX512", True)
    assert not convfwd.wants_nnpack(x, w, 1, 1)  # AVX-512: oneDNN's wider kernels win
    monkeypatch.setattr(convfwd, "_AVX512", False)
    one = torch.empty(16, 1, 12, 12, memory_format=torch.channels_last).normal_()
    assert not convfwd.wants_nnpack(one, torch.randn(4, 1, 3, 3), 1, 1)  # 1 channel, NHWC strides
    assert not convfwd.wants_nnpack(x, w, 2, 1)  # strided
    assert not convfwd.wants_nnpack(x[:8], w, 1, 1)  # small batch: ATen's slow path instead
    assert not convfwd.wants_nnpack(x.double(), w.double(), 1, 1)
    assert not convfwd.wants_nnpack(x, w, 1, 3)  # padding ≥ kernel
    assert not convfwd.wants_nnpack(x.contiguous(memory_format=torch.channels_last), w, 1, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not convfwd.wants_nnpack(x, w, 1, 1)
    monkeypatch.setenv("NETDEF_CPU_CONV", "onednn")
    assert not convfwd.wants_nnpack(x, w, 1, 1)


@needs_nnpack
def test_the_onednn_switch_is_restored_after_an_error(monkeypatch):
    monkeypatch.setattr(convfwd, "_AVX512", False)
    x, w = torch.randn(16, 3, 8, 8), torch.randn(4, 5, 3, 3)  # 3 channels vs 5: conv raises
    with pytest.raises(RuntimeError):
        convfwd.conv2d(x, w, None, 1, 1, 1)
    assert torch._C._get_mkldnn_enabled()
