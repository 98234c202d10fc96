"""cuda-convnet's own files (V1 and V2) check, with the shapes cuda-convnet printed for them.

The files live in ../shared/compat/cuda-convnet (never in this repository); every test here
skips when that folder is absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netdef.check import load
from netdef.errors import NetdefError

from conftest import COMPAT_PAIRS

PAIRS = COMPAT_PAIRS
IMAGENET = [p for p in PAIRS if "imagenet" in p[0]]
LOCATED = re.compile(r"^.+:\d+:\d+: (error|warning|note): .+$")


def _load(compat: Path, definition: str, params: str, size: int, **kw):
    return load(compat / definition, compat / params, size, **kw)


def test_every_compat_definition_is_covered(compat):
    listed = {d for d, _, _ in PAIRS} | {"v1/layers-example.cfg"}
    found = {str(p.relative_to(compat)) for p in compat.glob("v*/layers*.cfg")}
    assert found == listed


@pytest.mark.parametrize("definition, params, size", PAIRS, ids=[p[0] for p in PAIRS])
def test_compat_pair_checks(compat, definition, params, size):
    net = _load(compat, definition, params, size)
    assert net.input_size == size
    assert net.spec.params_mode == "file"
    assert net.params > 0
    assert all(d.severity != "error" for d in net.diagnostics)


@pytest.mark.parametrize("definition, params, size", PAIRS, ids=[p[0] for p in PAIRS])
def test_compat_pair_finds_its_params_by_name(compat, definition, params, size):
    """cuda-convnet's naming, layers-X.cfg -> layer-params-X.cfg, is found without --params."""
    if definition.endswith("layers.gc.cfg"):
        pytest.skip("layers.gc.cfg / layer-params.gc.cfg do not follow the layers-X naming")
    net = load(compat / definition, input_size=size)
    assert net.spec.params_path == str(compat / params)


# AlexNet at 224 (cuda-convnet's rules, the paper's Fig. 2): side of each stage.
ALEXNET_SIDES = {"conv1": 55, "pool1": 27, "conv2": 27, "pool2": 13, "conv3": 13, "conv4": 13,
                 "conv5": 13, "pool3": 6}


def _stage(net, stage: str) -> list:
    """The layers of one stage: 'conv1', or its towers 'conv1a', 'conv1b' ..."""
    return [info for name, info in net.layers.items() if re.fullmatch(stage + "[a-d]?", name)]


@pytest.mark.parametrize("definition, params, size", IMAGENET, ids=[p[0] for p in IMAGENET])
def test_imagenet_shapes(compat, definition, params, size):
    net = _load(compat, definition, params, size)
    for stage, side in ALEXNET_SIDES.items():
        infos = _stage(net, stage)
        assert infos, f"{definition}: no layer for stage {stage}"
        for info in infos:
            assert info.shape[1:] == (side, side), (definition, info.name, info.shape)
    channels = {s: sum(i.shape[0] for i in _stage(net, s)) for s in ALEXNET_SIDES}
    assert channels["pool3"] == 256 and channels["conv3"] == 384
    assert net.layers["probs"].shape == (1000, 1, 1)


def test_imagenet_2gpu_model_is_the_papers_net(compat):
    net = _load(compat, *IMAGENET[2])
    assert net.params == 60_965_224
    assert net.num_devices == 2
    assert {t.dst for t in net.transfers} == {"conv3a", "conv3b", "fc2048a", "fc2048b",
                                              "fc2048ba", "fc2048bb", "fc1000"}


def test_gc_shapes(compat):
    net = _load(compat, "v1/layers.gc.cfg", "v1/layer-params.gc.cfg", 8)
    assert net.layers["conv32"].shape == (16, 6, 6)
    assert net.layer("avgpool").start == -2
    assert net.layers["avgpool"].shape == (16, 2, 2)
    assert net.layers["local32"].shape == (64, 2, 2)
    assert net.layers["fc10"].shape == (10, 1, 1)


def test_cifar_18pct_shapes(compat):
    net = _load(compat, "v1/layers-18pct.cfg", "v1/layer-params-18pct.cfg", 32)
    shapes = {n: i.shape for n, i in net.layers.items()}
    assert shapes["conv1"] == (32, 32, 32)
    assert shapes["pool1"] == (32, 16, 16)
    assert shapes["rnorm1"] == (32, 16, 16)
    assert shapes["conv2"] == (32, 16, 16)
    assert shapes["pool2"] == (32, 8, 8)
    assert shapes["conv3"] == (64, 8, 8)
    assert shapes["pool3"] == (64, 4, 4)
    assert shapes["fc10"] == (10, 1, 1)


def test_conv_local_shapes(compat):
    net = _load(compat, "v1/layers-conv-local-11pct.cfg", "v1/layer-params-conv-local-11pct.cfg",
                24)
    assert net.layers["pool2"].shape == (64, 6, 6)
    assert net.layers["local3"].shape == (64, 6, 6)
    assert net.layers["local4"].shape == (32, 6, 6)


def test_example_fails_with_located_diagnostics(compat):
    with pytest.raises(NetdefError) as info:
        _load(compat, "v1/layers-example.cfg", "v1/layer-params-example.cfg", 32)
    errors = info.value.errors
    assert errors
    prefix = str(compat / "v1/layers-example.cfg")
    for d in info.value.diagnostics:
        assert LOCATED.match(d.format()), d.format()
        assert d.span is not None and d.span.path == prefix and d.span.line > 0
    # cuda-convnet's own example spells the norms' size 'sizeX' (its parser never read it).
    assert any("'sizeX'" in d.message and "did you mean 'size'" in d.message for d in errors)
