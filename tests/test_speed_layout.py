"""Channels-last through folded towers (netdef.compiler.net.fold_towers): a two-tower net with
pooling and all three normalisations computes, in NHWC, what it computes in NCHW, and its
folded ops see NHWC inputs (a reshape to NCHW would slow every later layer)."""

from __future__ import annotations

import pytest
import torch

from netdef.compiler import compile_net
from netdef.compiler.net import fold_towers, unfold_towers
from netdef.train.step import make_train_step

from conftest import load_valid


@pytest.fixture(scope="module")
def checked():
    """Two towers of conv, cmrnorm, max pool, rnorm and cnorm, and an fc reading both."""
    return load_valid("norm-towers", 12)


def _train(checked, layout: str, images, labels, seen: list | None = None):
    net = compile_net(checked, devices="cpu", seed=0).train()
    assert any(s.batch_fold > 1 for s in net.steps)  # the towers' weightless layers folded
    if seen is not None:
        for op in net.ops:
            op.register_forward_pre_hook(lambda m, args: seen.append(
                (type(getattr(m, "op", m)).__name__, args[0][0])))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    step = make_train_step(net, opt, channels_last=layout)
    losses = [step(images, labels).loss.item() for _ in range(3)]
    return losses, {k: v.detach().contiguous() for k, v in net.named_layer_parameters().items()}


def test_nhwc_equals_nchw_through_folded_towers(checked):
    g = torch.Generator().manual_seed(0)
    images, labels = torch.randn(6, 3, 12, 12, generator=g), torch.randint(0, 4, (6,), generator=g)
    seen = []
    loss_cl, w_cl = _train(checked, "on", images, labels, seen)
    loss_nchw, w_nchw = _train(checked, "off", images, labels)
    assert loss_cl == pytest.approx(loss_nchw, rel=1e-5)
    for name in w_nchw:
        torch.testing.assert_close(w_cl[name], w_nchw[name], rtol=1e-4, atol=1e-6)
    folded = [x for kind, x in seen if kind in ("PoolOp", "SpatialNormOp", "CrossMapNormOp")]
    assert folded and all(x.is_contiguous(memory_format=torch.channels_last) and x.dim() == 4
                          for x in folded)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_fold_and_unfold_are_a_reshape_and_its_inverse(layout):
    x = torch.randn(3, 10, 4, 4, dtype=torch.float64).contiguous(memory_format=layout)
    folded = fold_towers(x.requires_grad_(), 3, 2)
    assert torch.equal(folded.reshape(6, 5, 4, 4), x.detach().reshape(6, 5, 4, 4))
    if layout is torch.channels_last:
        assert folded.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(unfold_towers(folded.reshape(6, 5, 4, 4), 3, 2), x.detach())
    assert torch.autograd.gradcheck(lambda t: unfold_towers(
        fold_towers(t, 3, 2).reshape(6, 5, 4, 4) * torch.arange(1.0, 6.0, dtype=torch.float64
                                                               ).view(1, 5, 1, 1), 3, 2),
        (x.detach().requires_grad_(),))


def test_one_channel_input_stays_nhwc_through_the_first_conv():
    """A grey net (Fashion-MNIST's): a (N, 1, H, W) batch counts as channels-last with its NCHW
    strides, and a same-shape reshape gives them back; either way the first conv's output came
    out NCHW and the max pool after it ran ~10x slower. Every pool, norm and conv input is
    NHWC by its strides (channel stride 1)."""
    from netdef.check import load

    root = __import__("pathlib").Path(__file__).parents[1] / "layers"
    checked = load(str(root / "fashion-mnist.cfg"), str(root / "fashion-mnist-params.cfg"),
                   input_size=26)
    net = compile_net(checked, devices="cpu", seed=0).train()
    seen = []
    for op in net.ops:
        op.register_forward_pre_hook(lambda m, args: seen.append(
            (type(getattr(m, "op", m)).__name__, args[0][0])))
    step = make_train_step(net, torch.optim.SGD(net.parameters(), lr=0.01), channels_last="on")
    g = torch.Generator().manual_seed(0)
    step(torch.randn(4, 1, 26, 26, generator=g), torch.randint(0, 10, (4,), generator=g))
    spatial = [(kind, x) for kind, x in seen if x.dim() == 4]
    assert [kind for kind, _ in spatial][:2] == ["ConvOp", "PoolOp"]
    assert all(x.stride(1) == 1 for _, x in spatial), [(k, x.stride()) for k, x in spatial]


@pytest.mark.parametrize("kind", ["max", "avg", "cmrnorm", "cmrnorm-blocked", "rnorm", "cnorm"])
@pytest.mark.parametrize("n, c, s", [(3, 7, 9), (4, 16, 12), (2, 48, 27)])
def test_towers_unfolded_compute_the_folded_bits(kind, n, c, s):
    """run_towers without a copy (pools take the towers' channels as they are, cmrnorm a view
    of a channels-last batch as rows of pixels) gives bit for bit what folding the towers into
    images gives, forward and backward, and its output stays channels-last."""
    from netdef.compiler.lrn import cross_map_norm
    from netdef.compiler.net import run_towers
    from netdef.compiler.ops_norm import CrossMapNormOp, SpatialNormOp
    from netdef.compiler.ops_pool import PoolOp

    k = 2
    if kind.startswith("cmrnorm"):
        op, way = CrossMapNormOp((c, s, s), 5, 0.01, 0.75, 2.0, kind.endswith("blocked")), "pixels"
    elif kind in ("rnorm", "cnorm"):
        op, way = SpatialNormOp((c, s, s), 3, 0.01, 0.75, 2.0, kind == "cnorm"), "channels"
    else:
        op, way = PoolOp(kind, (c, s, s), 3, 2, 0, 4, False), "channels"
    g = torch.Generator().manual_seed(5)
    x = torch.randn(n, k * c, s, s, generator=g).contiguous(memory_format=torch.channels_last)
    results = []
    for unfolded in (way, None):
        xr = x.clone().requires_grad_()
        y = run_towers(op, [xr], [], n, k, unfolded)
        y.backward(torch.ones_like(y) * torch.arange(y.numel()).view(y.shape) % 7)
        results.append((y.detach(), xr.grad))
    (y, dx), (y_ref, dx_ref) = results
    assert torch.equal(y, y_ref) and torch.equal(dx, dx_ref)
    assert y.is_contiguous(memory_format=torch.channels_last)
    if kind == "cmrnorm":  # and it is the split towers' function
        towers = [cross_map_norm(t, 5, 0.01, 0.75, 2.0) for t in x.split(c, dim=1)]
        torch.testing.assert_close(y, torch.cat(towers, 1), rtol=1e-6, atol=1e-7)


def test_a_channels_last_two_tower_net_copies_no_towers(checked, monkeypatch):
    """norm-towers in NHWC: its cmrnorm, max pool, rnorm and cnorm run on the towers without
    folding them into images (a copy each way)."""
    import netdef.compiler.net as net_module

    folds = []
    real = net_module.fold_towers
    monkeypatch.setattr(net_module, "fold_towers",
                        lambda x, n, k: folds.append(x.shape) or real(x, n, k))
    seen = []
    g = torch.Generator().manual_seed(0)
    images, labels = torch.randn(6, 3, 12, 12, generator=g), torch.randint(0, 4, (6,), generator=g)
    _train(checked, "on", images, labels, seen)
    kinds = {kind for kind, _ in seen}
    assert {"PoolOp", "CrossMapNormOp", "SpatialNormOp"} <= kinds
    assert folds == []
