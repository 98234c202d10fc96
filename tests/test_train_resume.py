"""Exact resume: a run with dropout and colour noise killed with SIGKILL mid-epoch, or stopped
with SIGINT or a StopFlag, and resumed ends with the same weights and the same metrics, bit for
bit, as an uninterrupted run (CPU, same seed; docs/design.md §4), with 0 and 2 loader workers and
wherever torch's global generator happens to stand (training never draws from it)."""

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

from netdef.train import Progress, StopFlag, TrainOptions, read_checkpoint, train
from netdef.train.events import BatchDone

from trainnets import write_experiment

# Runs the real CLI, sleeping after each progress report so a test can signal it mid-epoch.
RUNNER = """\
import sys, time
from netdef.cli import cli
from netdef.cli.screen import Screen
delay = float(sys.argv[1])
shown = Screen.on_Progress
def slow(self, event):
    shown(self, event)
    time.sleep(delay)
Screen.on_Progress = slow
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


def _experiment(folder: Path, workers: int = 0, log_freq: int = 1) -> Path:
    # the tiny net with dropout; crops, mirrors, PCA lighting, momentum and a rate step in play
    return write_experiment(folder, workers=workers, epochs=EPOCHS, log_freq=log_freq,
                            dropout=0.5,
                            color_noise=0.1, eps="dexp[base=0.001;tgtFactor=10;numSteps=2]")


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
    return read_checkpoint(run / "ckpt.pt").weights


def _metrics(run: Path) -> list[dict]:
    """metrics.jsonl without its wall-clock fields."""
    clock = {"time", "images_per_s"}
    return [{k: v for k, v in json.loads(line).items() if k not in clock}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, runner, env) -> Path:
    """The uninterrupted run's folder."""
    folder = tmp_path_factory.mktemp("reference")
    proc = _start(runner, env, _experiment(folder))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    return folder / "run"


def _same(a: Path, b: Path) -> None:
    """Bit-identical final weights and metrics."""
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"{k} differs"
    assert _metrics(a) == _metrics(b)


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path, runner, env, reference):
    exp = _experiment(tmp_path)
    proc = _start(runner, env, exp, delay=0.3)
    _wait_for_step(tmp_path / "run", BATCHES + 3, proc)  # past the epoch-1 checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert read_checkpoint(tmp_path / "run" / "ckpt.pt").state["step"] == BATCHES
    resumed = _start(runner, env, exp, "--resume", str(tmp_path / "run"))
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    assert f"resuming at step {BATCHES}" in out
    _same(tmp_path / "run", reference)
    steps = [
        json.loads(x)["step"]
        for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
        if json.loads(x)["kind"] == "train"
    ]
    assert steps == list(range(1, EPOCHS * BATCHES + 1))  # the killed run's extra lines dropped


def test_sigint_checkpoints_exits_130_and_resumes_exactly(tmp_path, runner, env, reference):
    exp = _experiment(tmp_path)
    proc = _start(runner, env, exp, delay=0.3)
    _wait_for_step(tmp_path / "run", BATCHES + 3, proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted" in out and "--resume" in out
    state = read_checkpoint(tmp_path / "run" / "ckpt.pt").state
    assert BATCHES + 3 <= state["step"] < EPOCHS * BATCHES  # stopped mid-epoch 2
    assert state["batch"] == state["step"] - BATCHES
    resumed = _start(runner, env, exp, "--resume", str(tmp_path / "run"))
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    _same(tmp_path / "run", reference)


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_stopflag_mid_epoch_then_resume_is_bit_identical(tmp_path, env, monkeypatch, workers):
    """In one process, the global generators moved between and during the runs: training
    draws nothing from them (a DataLoader iterator once did, shifting every later dropout
    mask after a resume)."""
    monkeypatch.setenv("NETDEF_CACHE", env["NETDEF_CACHE"])
    torch.manual_seed(1)
    train(TrainOptions(str(_experiment(tmp_path / "a", workers))), handle_signals=False)
    exp, stop = _experiment(tmp_path / "b", workers), StopFlag()

    def stop_mid_epoch_2(event):
        if isinstance(event, Progress) and event.step == BATCHES + 3:
            stop.request()

    torch.manual_seed(2)
    first = train(TrainOptions(str(exp)), on_event=stop_mid_epoch_2, stop=stop,
                  handle_signals=False)
    assert first.interrupted and first.step == BATCHES + 3
    torch.manual_seed(3)
    torch.rand(7)
    train(TrainOptions(str(exp), resume=str(tmp_path / "b" / "run")), handle_signals=False)
    _same(tmp_path / "b" / "run", tmp_path / "a" / "run")


def test_training_leaves_the_global_generators_alone(tmp_path, env, monkeypatch):
    import numpy as np

    monkeypatch.setenv("NETDEF_CACHE", env["NETDEF_CACHE"])
    torch.manual_seed(5)
    before, numpy_before = torch.get_rng_state(), np.random.get_state()[1].copy()
    exp = write_experiment(tmp_path, workers=0, epochs=1, dropout=0.5)
    train(TrainOptions(str(exp)), handle_signals=False)
    assert torch.equal(torch.get_rng_state(), before)
    assert (np.random.get_state()[1] == numpy_before).all()


def test_sigterm_checkpoints_and_exits_130(tmp_path, runner, env):
    exp = _experiment(tmp_path)
    proc = _start(runner, env, exp, delay=0.3)
    _wait_for_step(tmp_path / "run", 2, proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert read_checkpoint(tmp_path / "run" / "ckpt.pt").state["step"] >= 2


def test_resume_keeps_the_log_cadence(tmp_path, env, monkeypatch):
    """Stopped at a step that is not a multiple of log-freq and resumed: the train rows land
    on the uninterrupted run's steps (multiples of log-freq and each epoch's last batch),
    not log-freq steps after the resume point; the weights are bit-identical."""
    monkeypatch.setenv("NETDEF_CACHE", env["NETDEF_CACHE"])
    train(TrainOptions(str(_experiment(tmp_path / "a", log_freq=3))), handle_signals=False)
    exp, stop = _experiment(tmp_path / "b", log_freq=3), StopFlag()

    def stop_at_11(event):
        if isinstance(event, BatchDone) and event.step == BATCHES + 3:
            stop.request()

    first = train(TrainOptions(str(exp)), on_event=stop_at_11, stop=stop, handle_signals=False)
    assert first.interrupted and first.step % 3 != 0
    train(TrainOptions(str(exp), resume=str(tmp_path / "b" / "run")), handle_signals=False)

    def rows(run):
        return [(m["kind"], m["step"]) for m in _metrics(run)]

    a, b = tmp_path / "a" / "run", tmp_path / "b" / "run"
    assert rows(b) == rows(a)
    assert [s for k, s in rows(a) if k == "train"] == [3, 6, 8, 9, 12, 15, 16, 18, 21, 24]
    wa, wb = _weights(a), _weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
