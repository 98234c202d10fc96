"""Shared fixtures: paths to the repository's layers/ and to the cuda-convnet compat files."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ROOT / "layers"
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parent / "data"
COMPAT = ROOT.parent / "shared" / "compat" / "cuda-convnet"


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def compat():
    """The cuda-convnet compat folder; tests using it skip when it is absent."""
    if not COMPAT.is_dir():
        pytest.skip("../shared/compat/cuda-convnet is absent")
    return COMPAT


@pytest.fixture
def eval_cache(tmp_path_factory, monkeypatch):
    """NETDEF_CACHE in the session's temporary folder, shared by the evaluation tests."""
    root = tmp_path_factory.getbasetemp() / "netdef-cache"
    monkeypatch.setenv("NETDEF_CACHE", str(root))
    return root


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """One tiny two-tower run (tests/evalnets.py), trained once for every evaluation test."""
    from evalnets import train_run

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETDEF_CACHE", str(tmp_path_factory.getbasetemp() / "netdef-cache"))
        return train_run(tmp_path_factory.mktemp("trained"))


def assert_close_scaled(actual, expected, rtol: float = 1e-7, msg=None) -> None:
    """torch.testing.assert_close with the absolute tolerance scaled to the size of
    ``expected`` (rtol × its largest magnitude): a fixed atol would pass any difference in
    tensors that are small throughout (a fresh net's scores and gradients are ~1e-4)."""
    import torch

    atol = rtol * float(expected.detach().abs().max()) if expected.numel() else 0.0
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, msg=msg)
