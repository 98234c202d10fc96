"""netdef.train.step.make_train_step: fp32 and bf16 train a tiny net equally well; fp16 on CPU is refused;
compile reports its time once, or falls back eagerly with a message."""

from __future__ import annotations

import pytest
import torch

from netdef.check import load
from netdef.compiler import compile_net
from netdef.train.step import CompileFailed, Compiled, make_train_step
from netdef.errors import NetdefError

NET = """\
[data]
type=data
dataIdx=0
[labels]
type=data
dataIdx=1
[conv1]
type=conv
inputs=data
channels=3
filters=16
filterSize=3
padding=1
initW=0.1
neuron=relu
[rnorm1]
type=cmrnorm
inputs=conv1
channels=16
size=5
[pool1]
type=pool
pool=max
inputs=rnorm1
channels=16
sizeX=2
stride=2
[fc4]
type=fc
inputs=pool1
outputs=4
initW=0.05
[probs]
type=softmax
inputs=fc4
[logprob]
type=cost.logreg
inputs=labels,probs
"""
PARAMS = """\
[conv1]
epsW=0.01
epsB=0.02
momW=0.9
momB=0.9
wc=0
[rnorm1]
scale=0.0001
pow=0.75
minDiv=2
[fc4]
epsW=0.01
epsB=0.02
momW=0.9
momB=0.9
wc=0
[logprob]
coeff=1
"""


@pytest.fixture
def tiny(tmp_path):
    (tmp_path / "tiny.cfg").write_text(NET)
    (tmp_path / "tiny-params.cfg").write_text(PARAMS)
    return load(tmp_path / "tiny.cfg", input_size=8)


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


def test_compile_failure_falls_back(tiny, monkeypatch):
    def broken(fn, **kw):
        def run(*a):
            raise RuntimeError("no compiler here\nmore detail")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    net = compile_net(tiny, "cpu")
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    events = []
    step = make_train_step(net, opt, compile=True, on_event=events.append)
    x, y = synthetic(8, seed=3)
    for _ in range(2):
        assert torch.isfinite(step(x, y).loss)
    assert len(events) == 1 and isinstance(events[0], CompileFailed)
    assert "RuntimeError: no compiler here" in events[0].text


def test_compile_time_reported_once(tiny, monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)  # the event path, not inductor
    net = compile_net(tiny, "cpu")
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    events = []
    step = make_train_step(net, opt, compile=True, on_event=events.append)
    x, y = synthetic(8, seed=3)
    for _ in range(3):
        step(x, y)
    assert len(events) == 1 and isinstance(events[0], Compiled) and events[0].seconds > 0
