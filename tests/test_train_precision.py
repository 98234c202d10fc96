"""`precision` and `compile` in the experiment: the training step runs under autocast."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from netdef.cli import cli
from netdef.train import Progress, TrainOptions, train
from netdef.train import events as events_mod

from conftest import cli_failed
from trainnets import write_experiment


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path_factory.getbasetemp() / "netdef-cache"))


def run(folder, **keys):
    events = []
    exp = write_experiment(folder, workers=0, eps="0.001", epochs=1, log_freq=1,
                           data="builtin:shapes?train=24&val=12&classes=4", **keys)
    train(TrainOptions(str(exp)), on_event=events.append, handle_signals=False)
    return ([e.nll for e in events if isinstance(e, Progress)],
            [e.val_top1 for e in events if isinstance(e, events_mod.Tested)])


def test_bf16_autocast_tracks_fp32(tmp_path):
    """One epoch from the same weights and batches: the bf16 losses follow the fp32 ones to
    within bf16 round-off (the update itself stays in fp32)."""
    nll32, top32 = run(tmp_path / "fp32")
    nll16, top16 = run(tmp_path / "bf16", precision="bf16")
    assert len(nll16) == len(nll32) == 12
    assert nll16[:10] == pytest.approx(nll32[:10], rel=0.03)
    assert len(top16) == len(top32) == 1


def test_fp16_on_the_cpu_is_refused_clearly(tmp_path):
    exp = write_experiment(tmp_path, workers=0, precision="fp16")
    result = CliRunner().invoke(cli, ["train", str(exp)])
    cli_failed(result, "precision fp16 needs every layer on a CUDA device")
    assert not (tmp_path / "run").exists()


def test_unknown_precision_is_an_experiment_error(tmp_path):
    exp = write_experiment(tmp_path, workers=0, precision="fp64")
    result = CliRunner().invoke(cli, ["train", str(exp)])
    cli_failed(result, "'precision'")


def test_channels_last_on_trains_like_off(tmp_path):
    """The experiment key reaches the step: NHWC on the CPU follows the NCHW losses."""
    nll_off, _ = run(tmp_path / "off", channels_last="off")
    nll_on, _ = run(tmp_path / "on", channels_last="on")
    assert nll_on == pytest.approx(nll_off, rel=1e-4)


def test_unknown_channels_last_value_is_an_experiment_error(tmp_path):
    exp = write_experiment(tmp_path, workers=0)
    result = CliRunner().invoke(cli, ["train", str(exp), "channels-last=sideways"])
    cli_failed(result, "'channels-last' input should be 'auto', 'on' or 'off' (got 'sideways')")


def test_train_state_round_trips_the_grad_scaler():
    from netdef.train.state import TrainState

    scaler = {"scale": 1024.0, "growth_factor": 2.0, "backoff_factor": 0.5,
              "growth_interval": 2000, "_growth_tracker": 17}
    back = TrainState.from_dict(TrainState(step=3, scaler=scaler).to_dict())
    assert back.scaler == scaler and back.step == 3
    assert TrainState.from_dict({"step": 1}).scaler is None  # checkpoints from before


@pytest.mark.gpu
def test_fp16_checkpoint_keeps_the_grad_scaler_and_resumes(tmp_path):
    from netdef.checkpoint import read_checkpoint

    exp = write_experiment(tmp_path, workers=0, precision="fp16", devices="cuda:0", epochs=1,
                           data="builtin:shapes?train=24&val=12&classes=4")
    train(TrainOptions(str(exp)), handle_signals=False)
    saved = read_checkpoint(tmp_path / "run" / "ckpt.pt").state["scaler"]
    assert saved["scale"] > 0 and "_growth_tracker" in saved
    train(TrainOptions(str(exp), overrides={"epochs": "2"}, resume=str(tmp_path / "run")),
          handle_signals=False)
    again = read_checkpoint(tmp_path / "run" / "ckpt.pt").state
    assert again["step"] > 0 and again["scaler"]["scale"] > 0
