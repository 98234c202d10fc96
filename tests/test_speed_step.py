"""netdef.train.step.make_train_step: fp32 and bf16 train a tiny net equally well; fp16 on CPU
is refused; compile reports its time once, or falls back eagerly with a message."""

from __future__ import annotations

import pytest
import torch

from netdef.compiler import compile_net
from netdef.errors import NetdefError
from netdef.train.step import Compiled, CompileFailed, make_train_step

from conftest import load_valid


@pytest.fixture
def tiny():
    return load_valid("step-net", 8)


def synthetic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Four classes: a fixed random 3×8×8 template each, plus noise of the same scale."""
    templates = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    return templates[labels] + torch.randn(n, 3, 8, 8, generator=g), labels


def train_accuracy(checked, precision: str, steps: int = 60) -> float:
    torch.manual_seed(0)
    net = compile_net(checked, "cpu", seed=0).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    step = make_train_step(net, opt, precision=precision)
    images, labels = synthetic(512, seed=1)
    for i in range(steps):
        sl = slice((i * 32) % 512, (i * 32) % 512 + 32)
        result = step(images[sl], labels[sl])
        assert torch.isfinite(result.loss) and set(result.costs) == {"logprob"}
    test_x, test_y = synthetic(256, seed=2)
    with torch.no_grad():
        return (net.eval()(test_x).argmax(1) == test_y).float().mean().item()


def test_bf16_trains_like_fp32(tiny):
    fp32 = train_accuracy(tiny, "fp32")
    bf16 = train_accuracy(tiny, "bf16")
    assert fp32 > 0.9 and bf16 > 0.9
    assert abs(fp32 - bf16) < 0.05


def test_fp16_on_cpu_is_a_clear_error(tiny):
    net = compile_net(tiny, "cpu")
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    with pytest.raises(NetdefError, match="fp16 needs every layer on a CUDA device"):
        make_train_step(net, opt, precision="fp16")
    with pytest.raises(NetdefError, match="precision must be one of"):
        make_train_step(net, opt, precision="int8")


def compiled_step(tiny, monkeypatch, fake_compile, steps: int) -> list:
    """Run ``steps`` compiled training steps with ``torch.compile`` replaced by
    ``fake_compile``; returns the events and asserts every loss is finite."""
    monkeypatch.setattr(torch, "compile", fake_compile)
    net = compile_net(tiny, "cpu")
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    events = []
    step = make_train_step(net, opt, compile=True, on_event=events.append)
    x, y = synthetic(8, seed=3)
    for _ in range(steps):
        assert torch.isfinite(step(x, y).loss)
    return events


def test_compile_failure_falls_back(tiny, monkeypatch):
    def broken(fn, **kw):
        def run(*a):
            raise RuntimeError("no compiler here\nmore detail")
        return run

    events = compiled_step(tiny, monkeypatch, broken, steps=2)
    assert len(events) == 1 and isinstance(events[0], CompileFailed)
    assert "RuntimeError: no compiler here" in events[0].text


def test_compile_time_reported_once(tiny, monkeypatch):
    events = compiled_step(tiny, monkeypatch, lambda fn, **kw: fn, steps=3)  # not inductor
    assert len(events) == 1 and isinstance(events[0], Compiled) and events[0].seconds > 0
