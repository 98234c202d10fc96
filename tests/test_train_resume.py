"""Exact resume: a run killed with SIGKILL mid-epoch, or stopped with SIGINT, and resumed ends
with the same weights, bit for bit, as an uninterrupted run (CPU, same seed; DESIGN.md §4)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from netdef.train import load_checkpoint

from trainnets import write_experiment

# Runs the real CLI, sleeping after each progress report so a test can signal it mid-epoch.
RUNNER = """\
import importlib, sys, time
from netdef.cli import cli
train_cmd = importlib.import_module("netdef.cli.train_cmd")
delay = float(sys.argv[1])
shown = train_cmd.Display.on_Progress
def slow(self, event):
    shown(self, event)
    time.sleep(delay)
train_cmd.Display.on_Progress = slow
cli(sys.argv[2:], prog_name="netdef")
"""
EPOCHS, BATCHES = 3, 8


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return {**os.environ, "NETDEF_CACHE": str(cache)}


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("runner") / "runner.py"
    path.write_text(RUNNER)
    return path


def _start(runner, env, exp, *args, delay=0.0):
    return subprocess.Popen([sys.executable, str(runner), str(delay), "train", str(exp), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _experiment(folder: Path) -> Path:
    # dropout-free tiny net, but augmentation, momentum and a rate step all in play
    return write_experiment(folder, workers=0, epochs=EPOCHS, log_freq=1,
                            eps="dexp[base=0.001;tgtFactor=10;numSteps=2]")


def _wait_for_step(run: Path, step: int, proc, timeout: float = 120) -> None:
    end = time.time() + timeout
    metrics = run / "metrics.jsonl"
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early:\n{proc.stdout.read()}")
        if metrics.exists():
            for line in metrics.read_text().splitlines():
                try:
                    if json.loads(line).get("step", 0) >= step:
                        return
                except json.JSONDecodeError:
                    pass
        time.sleep(0.05)
    raise AssertionError(f"step {step} not reached in {timeout} s")


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "ckpt.pt")["weights"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, runner, env) -> dict[str, torch.Tensor]:
    """The uninterrupted run's final weights."""
    folder = tmp_path_factory.mktemp("reference")
    proc = _start(runner, env, _experiment(folder))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    return _weights(folder / "run")


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path, runner, env, reference):
    exp = _experiment(tmp_path)
    proc = _start(runner, env, exp, delay=0.3)
    _wait_for_step(tmp_path / "run", BATCHES + 3, proc)  # past the epoch-1 checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert load_checkpoint(tmp_path / "run" / "ckpt.pt")["state"]["step"] == BATCHES
    resumed = _start(runner, env, exp, "--resume", str(tmp_path / "run"))
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    assert f"resuming at step {BATCHES}" in out
    _same(_weights(tmp_path / "run"), reference)
    steps = [json.loads(x)["step"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
             if json.loads(x)["kind"] == "train"]
    assert steps == list(range(1, EPOCHS * BATCHES + 1))  # the killed run's extra lines dropped


def test_sigint_checkpoints_exits_130_and_resumes_exactly(tmp_path, runner, env, reference):
    exp = _experiment(tmp_path)
    proc = _start(runner, env, exp, delay=0.3)
    _wait_for_step(tmp_path / "run", BATCHES + 3, proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted" in out and "--resume" in out
    state = load_checkpoint(tmp_path / "run" / "ckpt.pt")["state"]
    assert BATCHES + 3 <= state["step"] < EPOCHS * BATCHES  # stopped mid-epoch 2
    assert state["batch"] == state["step"] - BATCHES
    resumed = _start(runner, env, exp, "--resume", str(tmp_path / "run"))
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    _same(_weights(tmp_path / "run"), reference)


def test_sigterm_checkpoints_and_exits_130(tmp_path, runner, env):
    exp = _experiment(tmp_path)
    proc = _start(runner, env, exp, delay=0.3)
    _wait_for_step(tmp_path / "run", 2, proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert load_checkpoint(tmp_path / "run" / "ckpt.pt")["state"]["step"] >= 2
