"""The whole compiled net against the same net written by hand (micrograd's test, for a net):
bench/reference_nets.py's AlexNet (towers as groups), CIFAR-10 18% net and quickstart net,
given the compiled net's weights, give the same scores, loss and gradients in float64.

Eval mode (no dropout: the two nets draw their masks differently). Two images at the net's
own input side (AlexNet: 224): AlexNet takes about 5 s on a quiet 2-core CPU, 15 s on a busy one.
"""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F

from netdef.check import load
from netdef.compiler import compile_net

from conftest import ROOT, assert_close_scaled

sys.path.insert(0, str(ROOT / "bench"))
from reference_nets import NETS, as_reference, copy_weights  # noqa: E402


def twins(key: str):
    """(compiled, hand-written, case), float64, eval mode, same weights."""
    case = NETS[key]
    compiled = compile_net(load(case.cfg, input_size=case.side), devices="cpu", seed=0)
    compiled = compiled.double().eval()
    reference = case.build().double().eval()
    copy_weights(reference, compiled)
    return compiled, reference, case


@pytest.mark.parametrize("key", [pytest.param(k, marks=[pytest.mark.slow] if k == "alexnet" else [])
                                 for k in sorted(NETS)])
def test_compiled_net_equals_the_hand_written_one(key):
    compiled, reference, case = twins(key)
    g = torch.Generator().manual_seed(1)
    images = 50 * torch.randn(2, 3, case.side, case.side, generator=g, dtype=torch.float64)
    labels = torch.randint(0, case.classes, (2,), generator=g)

    ours = compiled(images)  # (N, classes): the scores the softmax reads
    theirs = reference(images)
    assert_close_scaled(ours, theirs)
    loss = sum(compiled.costs(images, labels).values())
    want = F.cross_entropy(theirs, labels)
    assert_close_scaled(loss, want)
    loss.backward()
    want.backward()

    grads = {n: p.grad for n, p in compiled.named_layer_parameters().items()}
    for name, p in reference.named_parameters():
        assert_close_scaled(as_reference(grads, name).reshape(p.shape), p.grad,
                            msg=lambda m, name=name: f"{name}: {m}")


def test_as_reference_joins_towers_and_inputs():
    g = torch.Generator().manual_seed(0)
    shapes = {"conv3a.weight": (3, 2, 1, 1), "conv3a.weight.1": (3, 4, 1, 1), "conv3a.bias": (3,),
              "conv3b.weight": (3, 2, 1, 1), "conv3b.weight.1": (3, 4, 1, 1), "conv3b.bias": (3,),
              "fc8.weight": (5, 6), "fc8.weight.1": (5, 7), "fc8.bias": (5,)}
    t = {n: torch.randn(s, generator=g) for n, s in shapes.items()}
    conv3 = as_reference(t, "conv3.weight")
    assert conv3.shape == (6, 6, 1, 1)  # towers along the outputs, inputs along the inputs
    assert torch.equal(conv3[:3, :2], t["conv3a.weight"])
    assert torch.equal(conv3[:3, 2:], t["conv3a.weight.1"])
    assert torch.equal(conv3[3:, 2:], t["conv3b.weight.1"])
    both = torch.cat([t["conv3a.bias"], t["conv3b.bias"]])
    assert torch.equal(as_reference(t, "conv3.bias"), both)
    joined = torch.cat([t["fc8.weight"], t["fc8.weight.1"]], 1)  # (5, 13)
    assert torch.equal(as_reference(t, "fc8.weight"), joined)
    assert torch.equal(as_reference(t, "fc8.bias"), t["fc8.bias"])
