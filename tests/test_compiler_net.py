"""compile_net on whole nets: naming, init, placement, folding, costs, the compat corpus."""

import pytest
import torch

from netdef.check import load
from netdef.compiler import Net, compile_net
from netdef.compiler.gradcheck import check_grads
from netdef.compiler.graph import make_run_plan
from netdef.errors import NetdefError

from conftest import COMPAT, COMPAT_PAIRS, LAYERS, assert_close_scaled, load_valid

ALEXNET_PARAMS = 60_965_224
COMPAT_SIZES = {definition: size for definition, _, size in COMPAT_PAIRS}


@pytest.fixture(scope="module")
def alexnet():
    """cuda-convnet's own two-GPU ImageNet net (model parallel)."""
    path = COMPAT / "v2" / "layers-imagenet-2gpu-model.cfg"
    if not path.is_file():
        pytest.skip("../shared/compat/cuda-convnet is absent")
    return load(path)


@pytest.fixture(scope="module")
def repo_alexnet():
    """The paper's two-tower AlexNet as this repository writes it."""
    return load(LAYERS / "alexnet-2gpu.cfg")


@pytest.fixture
def tiny():
    """Shared weights (weightSource), eltsum, dropout2 and a cost coeff of 2."""
    return load_valid("shared-weights", 6)


def n_params(net: Net) -> int:
    return sum(p.numel() for p in net.parameters())  # parameters() yields shared ones once


def grouped_convs(net: Net) -> list:
    return [m for m in net.modules() if type(m).__name__ == "ConvOp" and max(m.groups) > 1]


@pytest.mark.slow  # two AlexNets, forward and backward in float64: 8 s quiet, 20 s busy
@pytest.mark.parametrize("net, weights", [
    ("repo_alexnet", {"conv1a.weight", "conv3a.weight.1", "conv1a.bias", "fc8.weight.1"}),
    ("alexnet", {"conv1a.weight", "conv3a.weight.1", "conv1a.bias", "fc1000.weight.1"})])
def test_alexnet_folded_equals_split(request, net, weights):
    """The two towers folded into grouped convolutions on one device compute what the split
    net does (scores and gradients, float64, eval mode), with the same parameters under the
    same names."""
    checked = request.getfixturevalue(net)
    folded = compile_net(checked, devices=("cpu", "cpu"), fold=True, seed=3).eval()
    split = compile_net(checked, devices=("cpu", "cpu"), fold=False, seed=3).eval()
    assert n_params(folded) == n_params(split) == ALEXNET_PARAMS
    assert list(folded.state_dict()) == list(split.state_dict())
    assert weights <= set(folded.state_dict())
    assert all(
        torch.equal(a, b)
        for a, b in zip(folded.state_dict().values(), split.state_dict().values(), strict=True)
    )
    assert grouped_convs(folded) and not grouped_convs(split)
    assert len(folded.steps) < len(split.steps)
    folded, split = folded.double(), split.double()
    g = torch.Generator().manual_seed(0)
    x = 50 * torch.randn(2, 3, 224, 224, generator=g, dtype=torch.float64)  # pixel-sized
    labels = torch.randint(0, 1000, (2,), generator=g)
    with torch.no_grad():
        a, b = folded(x), split(x)
    assert a.shape == (2, 1000)
    assert_close_scaled(a, b)
    sum(folded.costs(x, labels).values()).backward()
    sum(split.costs(x, labels).values()).backward()
    grads = split.named_layer_parameters()
    for name, p in folded.named_layer_parameters().items():
        assert_close_scaled(p.grad, grads[name].grad, msg=lambda m, n=name: f"{n}: {m}")


def test_device_count_is_checked(alexnet):
    with pytest.raises(NetdefError, match="2 logical device"):
        compile_net(alexnet, devices=("cpu", "cpu", "cpu"))
    with pytest.raises(NetdefError, match="not a device"):
        compile_net(alexnet, devices=("cpu", "nowhere:7"))


def test_single_device_forms(tiny):
    a = compile_net(tiny, devices="cpu", seed=1)
    b = compile_net(tiny, devices=("cpu",), seed=1)
    c = compile_net(tiny, devices="cpu", seed=2)
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    assert not torch.equal(a.state_dict()["conv1.weight"], c.state_dict()["conv1.weight"])


def test_init_and_weight_sharing(tiny):
    net = compile_net(tiny, devices="cpu", seed=0)
    sd = net.state_dict()
    assert list(sd) == ["conv1.weight", "conv1.bias", "conv2.bias", "fc.weight", "fc.bias"]
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sd["conv1.weight"], torch.randn(4, 3, 3, 3, generator=g) * 0.1)
    assert torch.all(sd["conv2.bias"] == 0.5) and torch.all(sd["conv1.bias"] == 0)
    assert sd["fc.weight"].std().item() == pytest.approx(0.01, rel=0.3)  # fc's default initW


def test_costs_and_metrics(tiny):
    net = compile_net(tiny, devices="cpu").eval()
    x, labels = torch.randn(3, 3, 6, 6), torch.tensor([0, 4, 2])
    scores = net(x)
    assert scores.shape == (3, 5)  # the fc feeding the softmax
    want = 2 * torch.nn.functional.cross_entropy(scores, labels)  # coeff=2
    costs = net.costs(x, labels)
    assert set(costs) == {"logprob"}
    assert torch.allclose(costs["logprob"], want)
    sum(costs.values()).backward()
    assert net.named_layer_parameters()["conv1.weight"].grad is not None


def test_train_mode_drops_out(tiny):
    net = compile_net(tiny, devices="cpu")
    x = torch.randn(2, 3, 6, 6)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))


def test_run_plan_drops_every_intermediate(alexnet):
    net = compile_net(alexnet, devices=("cpu", "cpu"), fold=False)
    plan = make_run_plan(net.steps, net.where, [net.output])
    released = {s for done in plan.release.values() for s in done}
    assert released == set(plan.order) - {net.where[net.output][0]}
    assert "probs" not in {m for s in plan.order for m in net.steps[s].members}


def test_state_dict_round_trip(tiny):
    a = compile_net(tiny, devices="cpu", seed=0)
    b = compile_net(tiny, devices="cpu", seed=5)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.state_dict()["fc.weight"], b.state_dict()["fc.weight"])


@pytest.mark.parametrize("rel", sorted(COMPAT_SIZES))
def test_compat_nets_run(compat, rel):
    checked = load(compat / rel, input_size=COMPAT_SIZES[rel])
    net = compile_net(checked, devices=["cpu"] * checked.num_devices).train()
    x = torch.randn(2, 3, checked.input_size, checked.input_size)
    classes = checked.layers[net.output].shape[0]
    labels = torch.randint(0, classes, (2,))
    loss = sum(net.costs(x, labels).values())
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_rand_sparse_subsets_are_kept(compat):
    checked = load(compat / "v1" / "layers.gc.cfg", input_size=8)
    sd = compile_net(checked, devices="cpu", seed=4).state_dict()
    perm = sd["local32.perm"]
    assert perm.dtype == torch.int64 and sorted(perm.tolist()) == list(range(16))
    assert torch.equal(
        perm, compile_net(checked, devices="cpu", seed=4).state_dict()["local32.perm"]
    )


def test_check_grads_gc(compat):
    checked = load(compat / "v1" / "layers.gc.cfg", input_size=8)
    report = check_grads(checked, entries=20)
    assert {name for name, _ in report} >= {"conv32.weight", "local32.weight", "fc10.weight.1"}
    assert all(err < 1e-4 for _, err in report), report
