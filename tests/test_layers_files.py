"""Every definition in layers/ checks at its natural input size, and the AlexNet numbers hold.

Every ``layers/*.cfg`` must pass ``netdef check``.  The AlexNet figures are
the paper's (Krizhevsky et al. 2012, §3.5 and Fig. 2): 60,965,224 parameters for the two-tower
net; 290,400 / 186,624 / 64,896 / 64,896 / 43,264 neurons in conv1..conv5.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netdef.check import load

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ROOT / "layers"
EXAMPLES = ROOT / "examples"

INPUT_SIZES = {"alexnet": 224, "cifar10": 32, "quickstart": 56, "fashion-mnist": 26}


def definitions() -> list[Path]:
    return sorted(p for p in LAYERS.glob("*.cfg") if not p.stem.endswith("-params"))


def input_size(path: Path) -> int:
    for prefix, size in INPUT_SIZES.items():
        if path.stem.startswith(prefix):
            return size
    raise AssertionError(f"no natural input size known for {path.name}; add it to INPUT_SIZES")


def test_there_are_definitions():
    names = {p.stem for p in definitions()}
    assert {"alexnet-2gpu", "alexnet-1gpu", "cifar10-18pct", "quickstart"} <= names


@pytest.mark.parametrize("path", definitions(), ids=lambda p: p.stem)
def test_definition_checks(path: Path):
    net = load(path, input_size=input_size(path), strict=True)
    assert net.spec.params_mode == "file", "every definition in layers/ has its params file"
    assert net.spec.params_path == str(path.with_name(f"{path.stem}-params.cfg"))
    assert not [d for d in net.diagnostics if d.severity != "note"]


@pytest.mark.parametrize("path", definitions(), ids=lambda p: p.stem)
def test_every_params_section_matches_a_layer(path: Path):
    net = load(path, input_size=input_size(path), strict=True)
    params = path.with_name(f"{path.stem}-params.cfg").read_text()
    sections = [line.strip()[1:-1] for line in params.splitlines() if line.startswith("[")]
    assert sections and set(sections) <= set(net.layers)


@pytest.fixture(scope="module")
def alexnet():
    return load(LAYERS / "alexnet-2gpu.cfg", input_size=224, strict=True)


def test_alexnet_params(alexnet):
    assert alexnet.params == 60_965_224


def test_alexnet_default_input_size_is_224():
    import netdef

    net = netdef.load(str(LAYERS / "alexnet-2gpu.cfg"))
    assert net.input_size == 224 and net.params == 60_965_224


@pytest.mark.parametrize("k, neurons", [(1, 290_400), (2, 186_624), (3, 64_896), (4, 64_896),
                                        (5, 43_264)])
def test_alexnet_conv_neurons(alexnet, k, neurons):
    assert alexnet.layers[f"conv{k}a"].neurons + alexnet.layers[f"conv{k}b"].neurons == neurons


@pytest.mark.parametrize("name, shape", [
    ("conv1a", (48, 55, 55)), ("pool1a", (48, 27, 27)), ("conv2a", (128, 27, 27)),
    ("pool2a", (128, 13, 13)), ("conv3a", (192, 13, 13)), ("conv4a", (192, 13, 13)),
    ("conv5a", (128, 13, 13)), ("pool3b", (128, 6, 6)), ("fc6b", (2048, 1, 1)),
    ("fc7a", (2048, 1, 1)), ("fc8", (1000, 1, 1)), ("probs", (1000, 1, 1)),
])
def test_alexnet_shapes(alexnet, name, shape):
    assert alexnet.layers[name].shape == shape


def test_alexnet_transfers_only_where_the_towers_meet(alexnet):
    into = {t.dst for t in alexnet.transfers}
    assert into == {"conv3a", "conv3b", "fc6a", "fc6b", "fc7a", "fc7b", "fc8"}
    edges = {(t.src, t.dst) for t in alexnet.transfers}
    assert edges == {("pool2b", "conv3a"), ("pool2a", "conv3b"), ("pool3b", "fc6a"),
                     ("pool3a", "fc6b"), ("dropout6b", "fc7a"), ("dropout6a", "fc7b"),
                     ("dropout7b", "fc8")}
    assert all({t.src_device, t.dst_device} == {0, 1} for t in alexnet.transfers)


def test_alexnet_towers_on_two_devices(alexnet):
    assert alexnet.num_devices == 2
    for name, info in alexnet.layers.items():
        if info.type == "data":
            assert info.device is None
        elif name[-1] == "b" and name[-2].isdigit():  # tower b: conv1b .. dropout7b
            assert info.device == 1, name
        else:
            assert info.device == 0, name


def test_alexnet_paper_settings(alexnet):
    from netdef.schedules import Plateau

    conv2, fc8 = alexnet.layer("conv2a"), alexnet.layer("fc8")
    assert conv2.init_b == 1 and alexnet.layer("conv3a").init_b == 0
    assert fc8.inputs == ("dropout7a", "dropout7b") and fc8.init_b == 0
    assert all(isinstance(s, Plateau) and s.base == 0.01 and s.factor == 0.1 for s in fc8.eps_w)
    assert fc8.mom_w == (0.9, 0.9) and fc8.wc == (0.0005, 0.0005)
    assert alexnet.layer("logprob").topk == 5
    assert alexnet.layer("rnorm1a").min_div == 2 and alexnet.layer("dropout6b").keep == 0.5


def test_alexnet_1gpu():
    net = load(LAYERS / "alexnet-1gpu.cfg", input_size=224, strict=True)
    assert net.num_devices == 1 and not net.transfers
    widths = {"conv1": 96, "conv2": 256, "conv3": 384, "conv4": 384, "conv5": 256,
              "fc6": 4096, "fc7": 4096, "fc8": 1000}
    assert {n: net.layers[n].shape[0] for n in widths} == widths
    assert net.layers["pool3"].shape == (256, 6, 6)


def test_quickstart_is_small_and_one_device():
    net = load(LAYERS / "quickstart.cfg", input_size=56, strict=True)
    assert net.num_devices == 1
    assert net.params < 1_000_000
    assert net.layers["fc10"].shape == (10, 1, 1)


@pytest.mark.parametrize("name, size", [("quickstart.cfg", 56), ("alexnet.cfg", 224),
                                        ("alexnet.yaml", 224)])
def test_examples_load(name, size):
    net = load(EXAMPLES / name, strict=True)
    assert net.input_size == size
    assert net.spec.params_mode == "file"


def test_examples_load_with_relative_path(monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)
    net = load("examples/quickstart.cfg")
    assert (
        net.input_size == 56 and net.params == load(LAYERS / "quickstart.cfg", input_size=56).params
    )
