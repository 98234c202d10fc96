"""Pooling through ATen's own padding and ceil mode (netdef.compiler.ops_pool.native_window)
equals cuda-convnet's clipped windows, forward and backward, in both memory layouts."""

from __future__ import annotations

import itertools

import pytest
import torch

from netdef.compiler.ops_pool import PoolOp, native_window, torch_pool_out


def loop_pool(x, kind, size, stride, start, out, total=False):
    """Window by window: rows and columns [start + o·stride, +size) ∩ [0, S)."""
    s = x.shape[2]
    rows = []
    for oy in range(out):
        cols = []
        for ox in range(out):
            r0, q0 = start + oy * stride, start + ox * stride
            win = x[:, :, max(r0, 0):min(r0 + size, s), max(q0, 0):min(q0 + size, s)].flatten(2)
            if kind == "max":
                cols.append(win.max(2).values)
            elif kind == "avg":
                cols.append(win.sum(2) if total else win.mean(2))
            else:
                cols.append(win.gather(2, win.abs().argmax(2, keepdim=True)).squeeze(2))
        rows.append(torch.stack(cols, -1))
    return torch.stack(rows, -2)


def windows(side):
    """(size, stride, start, out) whose every window holds an in-image pixel."""
    for size, stride, start in itertools.product((1, 2, 3, 4, 5), (1, 2, 3), (-2, -1, 0, 1)):
        if start + size <= 0:
            continue
        last = max(o for o in range(side + 2) if start + o * stride < side)
        for out in {1, last, last + 1} if last >= 1 else {1}:
            if out >= 1 and start + (out - 1) * stride < side:
                yield size, stride, start, out


CASES = [(side, *w) for side in (5, 8) for w in windows(side)]


def test_native_windows_cover_the_usual_layers():
    assert native_window(32, 16, 3, 0, 2) == (0, True)  # 3/2 pooling of 32: the last overhangs
    assert native_window(27, 13, 3, 0, 2) == (0, False)  # AlexNet 27 -> 13
    assert native_window(9, 4, 3, -2, 3) is None  # padding over half the window: padded copy
    assert torch_pool_out(32, 3, 2, 0, True) == 16 and torch_pool_out(32, 3, 2, 0, False) == 15
    native = sum(native_window(side, out, size, start, stride) is not None
                 for side, size, stride, start, out in CASES)
    assert 0 < native < len(CASES)  # the sweep below takes both paths


@pytest.mark.parametrize("kind", ["max", "avg", "maxabs", "sum"])
def test_equals_clipped_windows(kind):
    g = torch.Generator().manual_seed(0)
    for side, size, stride, start, out in CASES:
        op = PoolOp("avg" if kind == "sum" else kind, (3, side, side), size, stride, start, out,
                    kind == "sum")
        x = torch.randn(2, 3, side, side, generator=g, dtype=torch.float64, requires_grad=True)
        dy = torch.randn(2, 3, out, out, generator=g, dtype=torch.float64)
        want = loop_pool(x, "avg" if kind == "sum" else kind, size, stride, start, out,
                         kind == "sum")
        for layout in (torch.contiguous_format, torch.channels_last):
            xl = x.contiguous(memory_format=layout)
            got = op([xl], [])
            case = (side, size, stride, start, out, layout)
            assert got.shape == want.shape, case
            assert (got - want).abs().max().item() < 1e-12, case
            (g_got,) = torch.autograd.grad(got, x, dy)
            (g_want,) = torch.autograd.grad(want, x, dy, retain_graph=True)
            assert (g_got - g_want).abs().max().item() < 1e-12, case
