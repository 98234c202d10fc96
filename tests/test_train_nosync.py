"""The training step reads no tensor back to the host (docs/design.md §7): metrics stay on the
device and are read once per ``log-freq`` batches, so GPUs are never stalled inside a step."""

from __future__ import annotations

import contextlib

import pytest
import torch

from netdef.train import TrainOptions, train
from netdef.train.loop import Trainer

from trainnets import write_experiment

READS = ("item", "cpu", "tolist", "numpy", "__float__", "__int__", "__bool__")


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path_factory.getbasetemp() / "netdef-cache"))


@contextlib.contextmanager
def host_reads_forbidden(calls: list[str]):
    """Make every tensor-to-host read raise (and record it) inside the block."""
    saved = {name: getattr(torch.Tensor, name) for name in READS}

    def forbid(name):
        def read(self, *args, **kwargs):
            calls.append(name)
            raise AssertionError(f"Tensor.{name}() called inside the training step")
        return read

    for name in READS:
        setattr(torch.Tensor, name, forbid(name))
    sync = torch.cuda.is_available()
    if sync:
        torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.Tensor, name, fn)
        if sync:
            torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_step_reads_nothing_back(tmp_path, monkeypatch, precision):
    calls: list[str] = []
    steps = []
    original = Trainer.train_step

    def guarded(self, images, labels):
        with host_reads_forbidden(calls):
            out = original(self, images, labels)
        steps.append(out)
        return out

    monkeypatch.setattr(Trainer, "train_step", guarded)
    exp = write_experiment(tmp_path, workers=0, epochs=1, log_freq=4, precision=precision)
    train(TrainOptions(str(exp)), handle_signals=False)
    assert calls == [] and len(steps) == 8


def test_the_guard_catches_a_read():
    calls: list[str] = []
    with pytest.raises(AssertionError, match="item"):
        with host_reads_forbidden(calls):
            torch.ones(1).item()
    assert calls == ["item"] and torch.ones(1).item() == 1.0
