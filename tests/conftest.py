"""Shared fixtures: paths to the repository's layers/ and to the cuda-convnet compat files."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ROOT / "layers"
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parent / "data"
VALID = DATA / "valid"
COMPAT = ROOT.parent / "shared" / "compat" / "cuda-convnet"
# (definition, params, the input side cuda-convnet ran it at): every compat pair that checks
COMPAT_PAIRS = [
    ("v1/layers-18pct.cfg", "v1/layer-params-18pct.cfg", 32),
    ("v1/layers-19pct.cfg", "v1/layer-params-19pct.cfg", 32),
    ("v1/layers-80sec.cfg", "v1/layer-params-80sec.cfg", 32),
    ("v1/layers-conv-local-11pct.cfg", "v1/layer-params-conv-local-11pct.cfg", 24),
    ("v1/layers-conv-local-13pct.cfg", "v1/layer-params-conv-local-13pct.cfg", 24),
    ("v1/layers.gc.cfg", "v1/layer-params.gc.cfg", 8),
    ("v2/layers-cifar10-11pct.cfg", "v2/layer-params-cifar10-11pct.cfg", 24),
    ("v2/layers-imagenet-1gpu.cfg", "v2/layer-params-imagenet-1gpu.cfg", 224),
    ("v2/layers-imagenet-2gpu-data.cfg", "v2/layer-params-imagenet-2gpu-data.cfg", 224),
    ("v2/layers-imagenet-2gpu-model.cfg", "v2/layer-params-imagenet-2gpu-model.cfg", 224),
    ("v2/layers-imagenet-4gpu-data.cfg", "v2/layer-params-imagenet-4gpu-data.cfg", 224),
    ("v2/layers-imagenet-4gpu-data-model.cfg", "v2/layer-params-imagenet-4gpu-data-model.cfg",
     224),
]


def valid_text(name: str) -> str:
    """tests/data/valid/NAME: a net (or its params) the tests read, and edit with str.replace
    to make the variants they need."""
    return (VALID / name).read_text()


def load_valid(name: str, input_size: int):
    """tests/data/valid/NAME.cfg checked at ``input_size``, with NAME.params when present."""
    from netdef.check import load

    params = VALID / f"{name}.params"
    return load(VALID / f"{name}.cfg", params if params.is_file() else None, input_size)


def cli_failed(result, *messages: str, code: int = 1, joined: bool = False) -> str:
    """A CliRunner result of a command that refused its input: exit ``code``, the error and
    each of ``messages`` on stderr and none of them on stdout, no traceback. ``joined``: match
    the messages with stderr's line breaks removed (rich wraps long paths). Returns stderr."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output, result.output
    err = result.stderr.replace("\n", "") if joined else result.stderr
    assert "error" in result.stderr.lower(), result.stderr  # "error:", or click's "Error:"
    assert "error:" not in result.stdout.lower(), result.stdout
    for message in messages:
        assert message in err, (message, result.stderr)
        assert message not in result.stdout, (message, result.stdout)
    return result.stderr


def write_experiment_files(folder: Path, files: dict[str, str], train: dict) -> Path:
    """Write ``files`` ({name: text}) into ``folder`` and beside them exp.cfg, a [train]
    section of ``train``'s keys (a None value leaves its key out); returns exp.cfg's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    path = folder / "exp.cfg"
    path.write_text("[train]\n" + "".join(f"{k} = {v}\n" for k, v in train.items()
                                          if v is not None))
    return path


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


@pytest.fixture(scope="module")
def trained_model(trained_run):
    """The trained run's checkpoint, loaded (netdef.load_model)."""
    import netdef

    return netdef.load_model(trained_run / "ckpt.pt")


def assert_close_scaled(actual, expected, rtol: float = 1e-7, msg=None) -> None:
    """torch.testing.assert_close with the absolute tolerance scaled to the size of
    ``expected`` (rtol × its largest magnitude): a fixed atol would pass any difference in
    tensors that are small throughout (a fresh net's scores and gradients are ~1e-4)."""
    import torch

    atol = rtol * float(expected.detach().abs().max()) if expected.numel() else 0.0
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, msg=msg)
