"""Checkpoints: atomic saves, and every unreadable file refused with a clear message."""

from __future__ import annotations

import errno
import os

import pytest
import torch
from click.testing import CliRunner

from netdef.cli import cli
from netdef.errors import NetdefError
from netdef import checkpoint as ck
from netdef.train import load_checkpoint, save_checkpoint

from conftest import cli_failed
from trainnets import write_experiment


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path_factory.getbasetemp() / "netdef-cache"))


def test_round_trip_with_weights_only(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"weights": {"a": torch.ones(2)}, "state": {"step": 3}})
    data = load_checkpoint(path)
    assert data["state"]["step"] == 3 and torch.equal(data["weights"]["a"], torch.ones(2))
    assert torch.load(path, weights_only=True)["format"] == "netdef-checkpoint"


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"state": {"step": 1}})

    def full(data, f):
        f.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ck, "_write", full)
    with pytest.raises(NetdefError, match="the disk is full"):
        save_checkpoint(path, {"state": {"step": 2}})
    assert load_checkpoint(path)["state"]["step"] == 1
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temporary file left behind


def test_full_disk_during_training_exits_1_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    exp = write_experiment(tmp_path, workers=0, epochs=2)
    real, calls = ck._write, []

    def fail_second(data, f):
        calls.append(1)
        if len(calls) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(data, f)

    monkeypatch.setattr(ck, "_write", fail_second)
    result = CliRunner().invoke(cli, ["train", str(exp)])
    cli_failed(result, "could not save the checkpoint (the disk is full)")
    assert load_checkpoint(tmp_path / "run" / "ckpt.pt")["state"]["step"] == 8


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"weights": {"a": torch.randn(1000)}})
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(NetdefError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_foreign_checkpoint(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"state_dict": {"fc.weight": torch.ones(2, 2)}}, path)
    with pytest.raises(NetdefError, match="not a netdef checkpoint"):
        load_checkpoint(path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(NetdefError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "notes.txt")


class _Payload:
    """Unpickling this would run code: it creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_callable_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "ckpt.pt"
    torch.save({"format": "netdef-checkpoint", "version": 1, "x": _Payload(marker)}, path)
    assert not marker.exists()
    with pytest.raises(NetdefError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "foreign", "code"])
def test_resume_from_a_bad_checkpoint_exits_1(tmp_path, damage):
    exp = write_experiment(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    if damage == "truncated":
        save_checkpoint(run / "ckpt.pt", {"weights": {"a": torch.randn(1000)}})
        (run / "ckpt.pt").write_bytes((run / "ckpt.pt").read_bytes()[:300])
    elif damage == "foreign":
        torch.save({"model": torch.ones(1)}, run / "ckpt.pt")
    else:
        torch.save({"format": "netdef-checkpoint", "x": _Payload(tmp_path / "pwned")},
                   run / "ckpt.pt")
    result = CliRunner().invoke(cli, ["train", str(exp), "--resume", str(run)])
    cli_failed(result, "ckpt.pt: ")
    assert not (tmp_path / "pwned").exists()
