"""The fast cross-map norm (netdef.compiler.lrn) against torch's LocalResponseNorm and a loop."""

from __future__ import annotations

import pytest
import torch
from test_compiler_layers import ref_cmrnorm  # cuda-convnet's kFCNorm, channel by channel

from netdef.compiler.lrn import block_sum, cross_map_norm, window_sum

SIZES = [2, 3, 4, 5, 7, 9]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3, 6, 16])
@pytest.mark.parametrize("power", [0.75, 0.6])
def test_equals_local_response_norm(size, channels, power):
    g = torch.Generator().manual_seed(size * 100 + channels)
    x = (3 * torch.randn(2, channels, 3, 4, generator=g, dtype=torch.float64)).requires_grad_()
    dy = torch.randn(2, channels, 3, 4, generator=g, dtype=torch.float64)
    lrn = torch.nn.LocalResponseNorm(size, alpha=0.7, beta=power, k=2.0)
    want = lrn(x)
    got = cross_map_norm(x, size, 0.7, power, 2.0)
    assert (got - want).abs().max().item() < 1e-10
    (g_want,) = torch.autograd.grad(want, x, dy)
    (g_got,) = torch.autograd.grad(got, x, dy)
    assert (g_got - g_want).abs().max().item() < 1e-10


@pytest.mark.parametrize("size", [2, 3, 4, 5])
@pytest.mark.parametrize("channels", [3, 8, 10])
def test_blocked_equals_loop(size, channels):
    g = torch.Generator().manual_seed(size + channels)
    x = (2 * torch.randn(2, channels, 2, 3, generator=g, dtype=torch.float64)).requires_grad_()
    dy = torch.randn(2, channels, 2, 3, generator=g, dtype=torch.float64)
    want = ref_cmrnorm(x, size, 0.9, 0.75, 1.0, blocked=True)
    got = cross_map_norm(x, size, 0.9, 0.75, 1.0, blocked=True)
    assert (got - want).abs().max().item() < 1e-10
    (g_want,) = torch.autograd.grad(want, x, dy)
    (g_got,) = torch.autograd.grad(got, x, dy)
    assert (g_got - g_want).abs().max().item() < 1e-10


@pytest.mark.parametrize("blocked", [False, True])
@pytest.mark.parametrize("size", [3, 4])
def test_gradcheck(size, blocked):
    x = torch.randn(2, 7, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: cross_map_norm(t, size, 2.0, 0.75, 1.5, blocked), (x,)
    )


def test_window_and_block_sums():
    v = torch.arange(6.0).view(1, 6, 1)
    assert window_sum(v, 1, 2).flatten().tolist() == [3.0, 6.0, 10.0, 14.0, 12.0, 9.0]
    assert block_sum(v, 4).flatten().tolist() == [6.0] * 4 + [9.0] * 2


def test_float32_matches_and_leaves_input_alone():
    x = torch.relu(torch.randn(4, 48, 5, 5))
    keep = x.clone()
    want = torch.nn.functional.local_response_norm(x, 5, 1e-4, 0.75, 2.0)
    torch.testing.assert_close(cross_map_norm(x, 5, 1e-4, 0.75, 2.0), want)
    assert torch.equal(x, keep)


@pytest.mark.parametrize("blocked", [False, True])
@pytest.mark.parametrize("size", [3, 4])
def test_traceable_form_equals_the_fast_one(size, blocked):
    from netdef.compiler.lrn import _traceable

    x = torch.randn(2, 7, 3, 3, dtype=torch.float64, requires_grad=True)
    want = cross_map_norm(x, size, 0.8, 0.75, 2.0, blocked)
    got = _traceable(x, size, 0.8 / size, 0.75, 2.0, blocked)
    assert (got - want).abs().max().item() < 1e-12


@pytest.mark.parametrize("blocked", [False, True])
@pytest.mark.parametrize("chunk_images", [1, 3])
def test_chunks_of_images_compute_the_same(monkeypatch, blocked, chunk_images):
    """The CPU form works through the batch a few images at a time (chunks):
    chunks of 1 and 3 images (7 in all, so a short last chunk) against the whole batch."""
    from netdef.compiler import lrn

    g = torch.Generator().manual_seed(7)
    x = (3 * torch.randn(7, 6, 3, 4, generator=g, dtype=torch.float64)).requires_grad_()
    dy = torch.randn(7, 6, 3, 4, generator=g, dtype=torch.float64)
    whole = cross_map_norm(x, 4, 0.7, 0.75, 2.0, blocked)
    (g_whole,) = torch.autograd.grad(whole, x, dy)
    monkeypatch.setattr(lrn, "CHUNK_ELEMENTS", chunk_images * 6 * 3 * 4)
    assert len(lrn.chunks(x)) == -(-7 // chunk_images)
    got = cross_map_norm(x, 4, 0.7, 0.75, 2.0, blocked)
    (g_got,) = torch.autograd.grad(got, x, dy)
    assert torch.equal(got, whole) and torch.equal(g_got, g_whole)
    want = ref_cmrnorm(x, 4, 0.7, 0.75, 2.0, blocked)
    assert (got - want).abs().max().item() < 1e-10
