"""Checkpoints: atomic saves, and every unreadable file refused with a clear message."""

from __future__ import annotations

import errno
import os

import pytest
import torch
from click.testing import CliRunner

from netdef import checkpoint as ck
from netdef.checkpoint import Checkpoint
from netdef.cli import cli
from netdef.errors import NetdefError
from netdef.train import read_checkpoint, write_checkpoint

from conftest import cli_failed
from trainnets import write_experiment


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path_factory.getbasetemp() / "netdef-cache"))


def record(step: int = 0, weights: dict | None = None) -> Checkpoint:
    return Checkpoint(definition="[data]\ntype=data\n", input_size=8, classes=["a", "b"],
                      weights=weights or {"a": torch.ones(2)}, state={"step": step})


def test_round_trip_with_weights_only(tmp_path):
    path = tmp_path / "c.pt"
    write_checkpoint(path, record(step=3))
    data = read_checkpoint(path)
    assert data.state["step"] == 3 and torch.equal(data.weights["a"], torch.ones(2))
    assert data.classes == ["a", "b"] and data.input_size == 8
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "netdef-checkpoint" and raw["version"] == ck.VERSION


def test_a_version_1_file_without_channels_still_loads(tmp_path):
    """Files written before grey data have no 'channels' (RGB; the mean image tells) and may
    hold generator states ('rng'), ignored now: same layout, same version."""
    raw = record(step=5).to_dict()
    del raw["channels"]
    raw["rng"] = {"torch": torch.zeros(3, dtype=torch.uint8)}
    raw["mean"] = torch.zeros(1, 8, 8)
    torch.save(raw, tmp_path / "old.pt")
    data = read_checkpoint(tmp_path / "old.pt")
    assert data.state["step"] == 5 and data.channels is None and data.image_channels == 1


@pytest.mark.parametrize("key, value, said", [
    ("weights", {"a": [1.0, 2.0]}, "'weights' should be tensors by name (got dict)"),
    ("input_size", "224", "'input_size' should be a positive integer (got str)"),
    ("classes", "ab", "'classes' should be a list of names (got str)"),
    ("state", None, "'state' should be a dict of progress (got NoneType)"),
    ("definition", None, "'definition' should be text (got NoneType)"),
])
def test_a_damaged_field_is_named(tmp_path, key, value, said):
    raw = record().to_dict()
    raw[key] = value
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(NetdefError, match="damaged checkpoint") as err:
        read_checkpoint(tmp_path / "bad.pt")
    assert said in str(err.value) and str(tmp_path / "bad.pt") in str(err.value)


def test_a_missing_field_and_another_version_are_named(tmp_path):
    raw = record().to_dict()
    del raw["weights"], raw["momentum"]
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(NetdefError, match="no 'weights'; no 'momentum'"):
        read_checkpoint(tmp_path / "bad.pt")
    torch.save({**record().to_dict(), "version": 2}, tmp_path / "new.pt")
    with pytest.raises(NetdefError, match="checkpoint version 2; this netdef reads version 1"):
        read_checkpoint(tmp_path / "new.pt")


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    write_checkpoint(path, record(step=1))

    def full(data, f):
        f.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ck, "_write", full)
    with pytest.raises(NetdefError, match="the disk is full"):
        write_checkpoint(path, record(step=2))
    assert read_checkpoint(path).state["step"] == 1
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
    assert read_checkpoint(tmp_path / "run" / "ckpt.pt").state["step"] == 8


@pytest.mark.parametrize("keep", [500, 5_000, 50_000, 100_000])
def test_truncated_checkpoint(tmp_path, keep):
    path = tmp_path / "ckpt.pt"
    write_checkpoint(path, record(weights={"a": torch.randn(100_000)}))
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(NetdefError, match="truncated or damaged file") as info:
        read_checkpoint(path)
    assert "miniz" not in str(info.value) and "PyTorch 2.6" not in str(info.value)
    assert "Error" not in str(info.value)  # words, not a Python class name
    assert f"its {keep:,} bytes end before the archive's index" in str(info.value)


def test_a_damaged_archive_member_is_damage_not_a_refusal(tmp_path):
    path = tmp_path / "ckpt.pt"
    write_checkpoint(path, record(weights={"a": torch.randn(1000)}))
    data = bytearray(path.read_bytes())
    start = data.index(b"data.pkl") + 100  # inside the pickle the archive's CRC covers
    data[start:start + 50] = b"x" * 50
    path.write_bytes(bytes(data))
    with pytest.raises(NetdefError, match="damaged file .*fails its CRC check"):
        read_checkpoint(path)


def test_changed_tensor_bytes_are_damage_not_a_checkpoint(tmp_path):
    """Bytes overwritten inside a tensor's record (size unchanged) still unpickle, and loaded
    as weights they would be trained on or evaluated silently: the archive's CRCs catch it."""
    path = tmp_path / "ckpt.pt"
    write_checkpoint(path, record(weights={"a": torch.randn(100_000)}))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2  # inside the 400 KB tensor record
    data[middle:middle + 400] = b"\x07" * 400
    path.write_bytes(bytes(data))
    with pytest.raises(NetdefError, match=r"damaged file \(.*/data/0 fails its CRC check"):
        read_checkpoint(path)


def test_foreign_checkpoint(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"state_dict": {"fc.weight": torch.ones(2, 2)}}, path)
    with pytest.raises(NetdefError, match="not a netdef checkpoint"):
        read_checkpoint(path)


@pytest.mark.parametrize("content, said", [
    (b"not a ckpt\n", "not a netdef checkpoint (not a PyTorch file)$"),
    (b"hello", "not a netdef checkpoint (not a PyTorch file)$"),
    (b"", "not a netdef checkpoint (an empty file)$"),
    (b"\x80\x04\x95", "not a netdef checkpoint (not a PyTorch file)$"),  # a plain pickle
])
def test_a_file_that_is_not_pytorch_is_said_so(tmp_path, content, said):
    path = tmp_path / "fake.pt"
    path.write_bytes(content)
    with pytest.raises(NetdefError, match=said.replace("(", r"\(").replace(")", r"\)")):
        read_checkpoint(path)


def test_a_zip_that_is_not_a_checkpoint_is_said_so(tmp_path):
    import zipfile
    path = tmp_path / "notes.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(NetdefError, match="a zip archive but not a PyTorch file"):
        read_checkpoint(path)


class Disallowed:
    """A class torch's weights-only loader does not allow."""


def test_a_disallowed_global_is_named_without_torchs_advice(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"x": Disallowed()}, path)
    with pytest.raises(NetdefError, match="refused: the file references "
                       "'test_train_checkpoint.Disallowed'") as info:
        read_checkpoint(path)
    assert "PyTorch 2.6" not in str(info.value) and "add_safe_globals" not in str(info.value)


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
    with pytest.raises(NetdefError, match="refused: the file references 'io.open'"):
        read_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "foreign", "code"])
def test_resume_from_a_bad_checkpoint_exits_1(tmp_path, damage):
    exp = write_experiment(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    if damage == "truncated":
        write_checkpoint(run / "ckpt.pt", record(weights={"a": torch.randn(1000)}))
        (run / "ckpt.pt").write_bytes((run / "ckpt.pt").read_bytes()[:3000])
    elif damage == "foreign":
        torch.save({"model": torch.ones(1)}, run / "ckpt.pt")
    else:
        torch.save({"format": "netdef-checkpoint", "x": _Payload(tmp_path / "pwned")},
                   run / "ckpt.pt")
    result = CliRunner().invoke(cli, ["train", str(exp), "--resume", str(run)])
    said = {"truncated": "truncated or damaged file", "foreign": "not a netdef checkpoint",
            "code": "refused: the file references"}[damage]
    cli_failed(result, "ckpt.pt: error: ", said, joined=True)
    assert "miniz" not in result.stderr and "PyTorch 2.6" not in result.stderr
    assert not (tmp_path / "pwned").exists()
