"""Dropout masks keyed by (key, layer, element): the right rate, fresh each step, the same
folded or not, on one process or split over ranks, on the CPU and on CUDA."""

from __future__ import annotations

import pytest
import torch

from netdef.check import load
from netdef.compiler import compile_net
from netdef.compiler.noise import hash32_, keep_mask, member_keys, mix64

from conftest import LAYERS


def _keys(key: int, *names: str, first_image: int = 0) -> torch.Tensor:
    return torch.tensor(member_keys(key, names, first_image))


def test_keep_rate_and_fresh_masks():
    x = torch.zeros(64, 1024)
    a = keep_mask(x, _keys(1, "fc6"), 0.5)
    b = keep_mask(x, _keys(2, "fc6"), 0.5)                 # the next step
    c = keep_mask(x, _keys(1, "fc7"), 0.5)                 # another layer, same step
    assert a.shape == x.shape and a.dtype == torch.bool
    assert abs(a.float().mean().item() - 0.5) < 0.01
    assert abs(keep_mask(x, _keys(1, "fc6"), 0.8).float().mean().item() - 0.8) < 0.01
    for other in (b, c):  # independent masks agree on about half the elements
        assert abs((a == other).float().mean().item() - 0.5) < 0.01
    assert torch.equal(a, keep_mask(x, _keys(1, "fc6"), 0.5))  # a function of the key alone
    assert keep_mask(x, _keys(1, "fc6"), 1.0).all()


def test_hash_is_the_reference_lowbias32():
    # Wellons' lowbias32 in plain Python integers, against the overflow-free tensor version
    def reference(x: int) -> int:
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return x ^ (x >> 16)

    values = [0, 1, 2, 12345, 0x7FFFFFFF, 0x80000000, 0xDEADBEEF, 0xFFFFFFFF]
    got = hash32_(torch.tensor(values, dtype=torch.int64)).tolist()
    assert got == [reference(v) for v in values]
    assert mix64(3, 4) != mix64(4, 3) and mix64(3, 4) == mix64(3, 4)


def test_folded_towers_draw_their_unfolded_masks():
    n, c = 5, 12
    folded = keep_mask(torch.zeros(n * 2, c), _keys(9, "drop_a", "drop_b"), 0.5)  # (N·2, C)
    a = keep_mask(torch.zeros(n, c), _keys(9, "drop_a"), 0.5)
    b = keep_mask(torch.zeros(n, c), _keys(9, "drop_b"), 0.5)
    assert torch.equal(folded.reshape(n, 2, c), torch.stack([a, b], dim=1))


def test_a_ranks_slice_draws_the_rows_of_the_global_batch():
    whole = keep_mask(torch.zeros(7, 3, 4, 4), _keys(4, "d"), 0.5)
    first = keep_mask(torch.zeros(4, 3, 4, 4), _keys(4, "d"), 0.5)
    second = keep_mask(torch.zeros(3, 3, 4, 4), _keys(4, "d", first_image=4), 0.5)
    assert torch.equal(torch.cat([first, second]), whole)


def _dropout_zeros(fold: bool, device: str = "cpu") -> dict[str, torch.Tensor]:
    checked = load(LAYERS / "alexnet-2gpu.cfg", input_size=67)
    net = compile_net(checked, device, fold=fold, seed=0).train()
    net.set_noise(1234, 0)
    names = [m for s in net.steps for m in s.members if m.startswith("dropout")]
    x = torch.randn(3, 3, 67, 67, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        out = net.run_layers(x, None, names)
    return {k: (v == 0).cpu() for k, v in out.items()}


@pytest.mark.slow
def test_alexnet_towers_folded_or_not_drop_the_same_units():
    folded, split = _dropout_zeros(True), _dropout_zeros(False)
    assert sorted(folded) == ["dropout6a", "dropout6b", "dropout7a", "dropout7b"]
    for name in folded:  # the zeros are the masks' (ReLU zeros coincide, being the same net)
        assert torch.equal(folded[name], split[name]), name


def test_unkeyed_net_draws_like_nn_dropout():
    torch.manual_seed(0)
    x = torch.ones(4, 100)
    op = compile_net(load(LAYERS / "quickstart.cfg", input_size=56), "cpu").ops
    drop = next(o.op for o in op if type(o.op).__name__ == "DropoutOp").train()
    assert drop.noise.shape[0] == 0
    first = drop([x], [])
    assert not torch.equal(first, drop([x], []))  # torch's global generator moves on
    drop.set_noise(member_keys(5, ["dropout"], 0))
    assert torch.equal(drop([x], []), drop([x], []))


@pytest.mark.gpu
def test_cuda_masks_equal_cpu_masks():
    x = torch.zeros(32, 4096)
    cpu = keep_mask(x, _keys(77, "fc6"), 0.5)
    cuda = keep_mask(x.cuda(), _keys(77, "fc6").cuda(), 0.5)
    assert torch.equal(cpu, cuda.cpu())
