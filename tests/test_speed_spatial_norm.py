"""The fast same-map norms (netdef.compiler.spatial_norm) against the formula pixel by pixel."""

from __future__ import annotations

import pytest
import torch

from netdef.compiler.ops_pool import clipped_counts
from netdef.compiler.spatial_norm import _traceable, box_sum, spatial_norm


def loop_norm(x, size, alpha, power, k, contrast):
    """cuda-convnet's rnorm / cnorm written window by window: windows [p − size//2, +size)
    clipped at the border; cnorm subtracts the clipped window's mean."""
    n, c, h, w = x.shape
    b = size // 2
    sq = torch.empty_like(x)
    v = x
    if contrast:
        v = torch.empty_like(x)
        for i in range(h):
            for j in range(w):
                win = x[:, :, max(i - b, 0):i - b + size, max(j - b, 0):j - b + size]
                v[:, :, i, j] = x[:, :, i, j] - win.mean((2, 3))
    for i in range(h):
        for j in range(w):
            win = v[:, :, max(i - b, 0):i - b + size, max(j - b, 0):j - b + size]
            sq[:, :, i, j] = (win * win).sum((2, 3))
    return x * (k + alpha * sq).pow(-power)


def counts_for(side, size):
    rows = clipped_counts(side, side, size, -(size // 2), 1)
    return torch.outer(rows, rows)


@pytest.mark.parametrize("contrast", [False, True])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("power", [0.75, 0.6])
def test_equals_the_formula_forward_and_backward(contrast, size, power):
    g = torch.Generator().manual_seed(size * 10 + contrast)
    x = (3 * torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)).requires_grad_()
    x6 = x[:, :, :, :5]  # square maps (N, C, 5, 5): a non-contiguous view
    dy = torch.randn(2, 3, 5, 5, generator=g, dtype=torch.float64)
    counts = counts_for(5, size) if contrast else None
    want = loop_norm(x6, size, 0.3, power, 2.0, contrast)
    got = spatial_norm(x6, size, 0.3, power, 2.0, counts)
    assert (got - want).abs().max().item() < 1e-12
    (g_want,) = torch.autograd.grad(want, x, dy)
    (g_got,) = torch.autograd.grad(got, x, dy)
    assert (g_got - g_want).abs().max().item() < 1e-12


@pytest.mark.parametrize("contrast", [False, True])
@pytest.mark.parametrize("size", [2, 3])
def test_gradcheck(contrast, size):
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    counts = counts_for(4, size) if contrast else None
    assert torch.autograd.gradcheck(
        lambda t: spatial_norm(t, size, 0.5, 0.75, 1.5, counts), (x,))


def test_box_sums_and_their_mirror():
    v = torch.arange(16.0).view(1, 1, 4, 4)
    s = box_sum(v, 2)  # rows and columns [p − 1, p]
    assert s[0, 0, 0].tolist() == [0.0, 1.0, 3.0, 5.0]
    assert s[0, 0, 1].tolist() == [4.0, 10.0, 14.0, 18.0]
    m = box_sum(v, 2, mirrored=True)  # [p, p + 1]
    assert m[0, 0, 3].tolist() == [25.0, 27.0, 29.0, 15.0]
    assert torch.equal(box_sum(v, 3), box_sum(v, 3, mirrored=True))


@pytest.mark.parametrize("contrast", [False, True])
def test_float32_channels_last_and_traceable_form(contrast):
    g = torch.Generator().manual_seed(3)
    x = torch.relu(torch.randn(8, 16, 9, 9, generator=g))
    counts = counts_for(9, 3).float() if contrast else None
    keep = x.clone()
    want = loop_norm(x.double(), 3, 1e-3, 0.75, 1.0, contrast).float()
    got = spatial_norm(x, 3, 1e-3, 0.75, 1.0, counts)
    torch.testing.assert_close(got, want)
    assert torch.equal(x, keep)
    xc = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    got_cl = spatial_norm(xc, 3, 1e-3, 0.75, 1.0, counts)
    assert got_cl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got_cl, want)
    dy = torch.randn(8, 16, 9, 9, generator=g)
    (g_cl,) = torch.autograd.grad(got_cl, xc, dy)
    xr = x.clone().requires_grad_()
    (g_ref,) = torch.autograd.grad(_traceable(xr, 3, 1e-3, 0.75, 1.0, counts), xr, dy)
    torch.testing.assert_close(g_cl, g_ref)


def test_box_sums_stay_in_float32_under_bf16_autocast():
    x = torch.full((1, 2, 3, 3), 1.0 + 2 ** -10)  # not representable in bf16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s = box_sum(x, 3)
    assert s.dtype == torch.float32 and s[0, 0, 1, 1].item() == 9 * (1.0 + 2 ** -10)
