"""What ``netdef check`` accepts, training runs: every accepted file compiles and takes one
training step (forward, backward, update) on small random data on the CPU, and nothing raises
but a located NetdefError.

The files: every definition in layers/, the valid corpus tests/data/valid/ (NAME.cfg, with
NAME.params when present, else params written inline), and cuda-convnet's own files in
../shared/compat/cuda-convnet when present (that part skips when absent). The nets read at
224×224 take seconds each on a CPU and are marked slow; the rest are fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_layers_files import input_size as layers_input_size

import netdef
from netdef.check import CheckedNet, check_net
from netdef.errors import NetdefError
from netdef.optim import build_optimizer
from netdef.schema import LAYER_TYPES

from conftest import COMPAT, COMPAT_PAIRS, LAYERS, VALID, load_valid

VALID_SIZES = {  # the input side each file is read at (by its tests too)
    "every-type": 16, "a12-two-towers": 24, "modulesx": 16, "one-hot-bce": 16,
    "ablate-one-tower": 16, "ablate-two-towers": 16, "check-towers": 224, "eval-two-towers": 16,
    "grads-net": 6, "layout-net": 24, "norm-towers": 12, "schema-net": 24,
    "shared-weights": 6, "step-net": 8, "tiny": 16,
}
BIG = 100  # nets read at a larger side are slow on a CPU


def _slow_if_big(size: int):
    return [pytest.mark.slow] if size > BIG else []


def _layers_cases():
    for d in sorted(LAYERS.glob("*.cfg")):
        if d.stem.endswith("-params"):
            continue
        size = layers_input_size(d)
        yield pytest.param(d, None, size, id=f"layers/{d.stem}", marks=_slow_if_big(size))


def _valid_cases():
    for d in sorted(VALID.glob("*.cfg")):
        params = d.with_suffix(".params")
        size = VALID_SIZES[d.stem]
        yield pytest.param(d, params if params.is_file() else None, size, id=f"valid/{d.stem}")


def _compat_cases():
    for definition, params, size in COMPAT_PAIRS:
        yield pytest.param(definition, params, size, id=f"compat/{definition}",
                           marks=_slow_if_big(size))


def classes_of(net: CheckedNet) -> int:
    """The number of classes the net's costs imply (what a data set would have to supply)."""
    for layer in net.spec.layers.values():
        if layer.type == "cost.logreg":
            return net.layers[layer.inputs[1]].shape[0]
    widths = [i.shape[0] for n, i in net.layers.items()
              if i.type == "data" and net.layer(n).data_idx == 2]
    return widths[0] if widths else 2


def one_step(path: Path, params: Path | None, size: int) -> float:
    """Check the file, check it again with its classes (as ``netdef train`` does), compile it
    on the CPU and train one step on random images; returns the loss."""
    net = netdef.load(path, params, size)
    classes = classes_of(net)
    channels = net.input_channels  # what the net declares (the data decides when training)
    net = check_net(net.spec, size, channels, classes)
    model = netdef.compile_net(net, "cpu", seed=0)
    opt = build_optimizer(model, seed=0)
    g = torch.Generator().manual_seed(0)
    images = torch.randn(2, channels, size, size, generator=g)
    labels = torch.randint(0, classes, (2,), generator=g)
    before = {n: p.detach().clone() for n, p in model.named_layer_parameters().items()}
    opt.zero_grad(set_to_none=True)
    loss = sum(model.costs(images, labels).values())
    loss.backward()
    opt.set_rates(1, 10)
    opt.step()
    after = model.named_layer_parameters()
    moved = [n for n, p in after.items() if p.requires_grad and not torch.equal(p, before[n])]
    assert moved, "the update moved no parameter"
    return float(loss.detach())


def _step_or_located_error(path: Path, params: Path | None, size: int) -> None:
    try:
        loss = one_step(path, params, size)
    except NetdefError as exc:  # allowed, when every diagnostic is located in a file
        assert all(d.span is not None for d in exc.errors), str(exc)
        return
    assert torch.isfinite(torch.tensor(loss)), loss


@pytest.mark.parametrize("path, params, size", [*_layers_cases(), *_valid_cases()])
def test_accepted_file_trains_one_step(path, params, size):
    _step_or_located_error(path, params, size)


@pytest.mark.parametrize("definition, params, size", list(_compat_cases()))
def test_accepted_compat_file_trains_one_step(compat, definition, params, size):
    _step_or_located_error(compat / definition, compat / params, size)


def test_the_valid_corpus_is_accepted_and_every_file_is_listed():
    assert {p.stem for p in VALID.glob("*.cfg")} == set(VALID_SIZES)
    for name, size in VALID_SIZES.items():
        load_valid(name, size)


def test_compat_pairs_are_every_compat_definition_that_checks():
    if not COMPAT.is_dir():
        pytest.skip("../shared/compat/cuda-convnet is absent")
    found = {str(p.relative_to(COMPAT)) for p in COMPAT.glob("v*/layers*.cfg")}
    assert found - {d for d, _, _ in COMPAT_PAIRS} == {"v1/layers-example.cfg"}  # refused


def test_the_valid_corpus_uses_every_layer_type():
    used = set()
    for name, size in VALID_SIZES.items():
        net = load_valid(name, size)
        used |= {layer.type for layer in net.spec.layers.values()}
    assert used == set(LAYER_TYPES)
