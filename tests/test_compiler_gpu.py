"""Towers on real GPUs (cuda:0/cuda:1, or cuda:0 twice with one GPU) match the CPU."""

from pathlib import Path

import pytest
import torch

from netdef.check import load
from netdef.compiler import compile_net

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = [
    ROOT / "layers" / "alexnet-2gpu.cfg",
    ROOT.parent / "shared" / "compat" / "cuda-convnet" / "v2" / "layers-imagenet-2gpu-model.cfg",
]


def _gpus() -> tuple[str, str]:
    return ("cuda:0", "cuda:1") if torch.cuda.device_count() > 1 else ("cuda:0", "cuda:0")


@pytest.mark.gpu
@pytest.mark.parametrize("fold", [True, False])
def test_two_tower_alexnet_on_gpus_matches_cpu(fold):
    path = next((p for p in CANDIDATES if p.is_file()), None)
    if path is None:
        pytest.skip("no two-tower AlexNet definition here")
    checked = load(path)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    cpu = compile_net(checked, devices=("cpu", "cpu"), seed=0).eval()
    gpu = compile_net(checked, devices=_gpus(), fold=fold, seed=0).eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want, got = cpu(x), gpu(x)
    assert got.device.type == "cuda"
    assert torch.allclose(got.cpu(), want, atol=1e-4, rtol=1e-3), (got.cpu() - want).abs().max()
    if _gpus()[0] != _gpus()[1]:
        assert gpu.last_transfers > 0
    labels = torch.randint(0, 1000, (2,))
    loss = sum(gpu.train().costs(x, labels).values())
    loss.backward()
    assert all(p.grad is not None and p.grad.device == p.device for p in gpu.parameters())
