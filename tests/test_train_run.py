"""`netdef train` end to end on a tiny net and a few generated images: the run folder, its
files, the display, and one test per bad input."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner

from netdef.cli import cli
from netdef.train import Message, TrainOptions, read_checkpoint, train

from conftest import cli_failed
from trainnets import write_experiment


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    """Generated images go to one temporary cache for the module, never to ~."""
    root = tmp_path_factory.getbasetemp() / "netdef-cache"
    monkeypatch.setenv("NETDEF_CACHE", str(root))
    return root


def run_cli(*args: str):
    return CliRunner().invoke(cli, ["train", *map(str, args)], catch_exceptions=False)


def test_trains_and_writes_the_run_folder(tmp_path):
    exp = write_experiment(tmp_path, workers=0, log_freq=2)
    result = run_cli(exp)
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    names = {p.name for p in run.iterdir()}
    assert {"ckpt.pt", "best.pt", "metrics.jsonl", "run.yaml", "exp.cfg", "tiny.cfg",
            "tiny-params.cfg"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    ckpt = torch.load(run / "ckpt.pt", weights_only=True)  # plain data and tensors only
    assert ckpt["state"]["step"] == 2 * 8 and ckpt["state"]["epoch"] == 2
    assert ckpt["classes"] == ["red disc", "blue disc", "red cross", "blue cross"]
    assert ckpt["definition"].strip() == (tmp_path / "tiny.cfg").read_text().strip()
    assert set(ckpt["weights"]) >= {"conv1.weight", "fc2.weight.1", "fc2.bias"}
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    tests = [x for x in lines if x["kind"] == "test"]
    assert [t["epoch"] for t in tests] == [1, 2]
    assert set(tests[0]["health"]) == {"conv1.weight", "fc1.weight", "fc2.weight", "fc2.weight.1"}
    out = result.stdout
    assert "test after epoch 2" in out and "mean|Δw|" in out and "Δw/w" in out
    assert "validation  nll" in out and "error" in out
    assert "top-5" not in out  # 4 classes: the true one is always among the top 5


def test_events_and_more_outputs_than_classes(tmp_path):
    events = []
    exp = write_experiment(tmp_path, outputs=6, workers=0, epochs=1)
    done = train(TrainOptions(str(exp)), on_event=events.append, handle_signals=False)
    assert not done.interrupted and done.step == 8
    notes = [e.text for e in events if isinstance(e, Message) and e.severity == "note"]
    assert any("6 outputs for 4 classes" in n for n in notes)


def test_fewer_outputs_than_classes_is_an_error(tmp_path):
    result = run_cli(write_experiment(tmp_path, outputs=3, workers=0))
    cli_failed(result, "has 3 outputs but the data has 4 classes")


def test_unknown_experiment_key(tmp_path):
    result = run_cli(write_experiment(tmp_path, **{"batch-sise": 8}))
    cli_failed(result, "exp.cfg:13:1: error: [train]: unknown key 'batch-sise'; "
                       "did you mean 'batch-size'?")


def test_unknown_override_key(tmp_path):
    result = run_cli(write_experiment(tmp_path), "epoch=3")
    cli_failed(result, "unknown key 'epoch'")


def test_missing_layers_file(tmp_path):
    result = run_cli(write_experiment(tmp_path, layers="nope.cfg"))
    cli_failed(result, "'layers' file not found")


def test_missing_data_path(tmp_path):
    result = run_cli(write_experiment(tmp_path, data="imagenet"))
    cli_failed(result, "data folder not found", "ROOT/train/<class>", "--data builtin:shapes")


def test_batch_size_larger_than_the_data_set(tmp_path):
    result = run_cli(write_experiment(tmp_path, workers=0), "--save", tmp_path / "r",
                     "batch-size=1000")
    cli_failed(result, "'batch-size' 1000 is larger than the training set (64 images)")


def test_existing_run_is_refused_without_resume(tmp_path):
    exp = write_experiment(tmp_path, workers=0, epochs=1)
    assert run_cli(exp).exit_code == 0
    result = run_cli(exp)
    cli_failed(result, "--resume", "already holds")


def test_resume_dir_without_checkpoint(tmp_path):
    exp = write_experiment(tmp_path)
    (tmp_path / "empty").mkdir()
    result = run_cli(exp, "--resume", tmp_path / "empty")
    cli_failed(result, "holds no checkpoint")


def test_resume_refuses_a_changed_definition_unless_forced(tmp_path):
    exp = write_experiment(tmp_path, workers=0, epochs=1)
    assert run_cli(exp).exit_code == 0
    definition = tmp_path / "tiny.cfg"
    definition.write_text(definition.read_text().replace("outputs=16", "outputs=12"))
    result = run_cli(exp, "--resume", tmp_path / "run", "--epochs", "2")
    cli_failed(result, "the definition changed", "-outputs=16", "+outputs=12")
    forced = run_cli(exp, "--resume", tmp_path / "run", "--epochs", "2", "--force")
    assert forced.exit_code == 0, forced.output
    assert "skipped" in forced.output and "fc1.weight" in forced.output


def test_resume_rereads_the_params_file(tmp_path):
    exp = write_experiment(tmp_path, workers=0, epochs=1)
    assert run_cli(exp).exit_code == 0
    params = tmp_path / "tiny-params.cfg"
    params.write_text(params.read_text().replace("epsW=0.001", "epsW=0.0005"))
    assert run_cli(exp, "--resume", tmp_path / "run", "--epochs", "2").exit_code == 0
    ckpt = read_checkpoint(tmp_path / "run" / "ckpt.pt")
    assert ckpt.rates["fc1.weight"] == 0.0005 and ckpt.state["step"] == 16


def test_init_from_copies_matching_layers_and_lists_the_rest(tmp_path):
    first = write_experiment(tmp_path / "a", workers=0, epochs=1)
    assert run_cli(first).exit_code == 0
    second = write_experiment(tmp_path / "b", outputs=5, workers=0, epochs=1)
    result = run_cli(second, "--init-from", tmp_path / "a" / "run" / "ckpt.pt")
    assert result.exit_code == 0, result.output
    assert "copied 4 tensor(s)" in result.output
    assert "fc2.weight (shape (4, 200) in the checkpoint, (5, 200) here)" in result.output


def test_nan_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    exp = write_experiment(tmp_path, workers=0, epochs=2, log_freq=1)
    params = tmp_path / "tiny-params.cfg"  # the rate jumps by 1e12 halfway: epoch 2 blows up
    params.write_text(params.read_text().replace(
        "epsW=0.001", "epsW=dexp[base=0.001;tgtFactor=1e-12;numSteps=2]"))
    result = run_cli(exp)
    err = cli_failed(result, "error: step ", "(epoch 2, batch", "0–255 minus the mean",
                     f"is {tmp_path / 'run' / 'ckpt.pt'} (step 8)")  # written before it
    assert "the cost is nan" in err or "the cost is inf" in err
    ckpt = read_checkpoint(tmp_path / "run" / "ckpt.pt")
    assert ckpt.state["step"] == 8
    assert all(torch.isfinite(t).all() for t in ckpt.weights.values() if t.is_floating_point())


def test_stuck_loss_warns(tmp_path, monkeypatch):
    # the tiny run is shorter than the warning's minimum (test_train_report checks that rule)
    monkeypatch.setattr("netdef.train.watch.STUCK_MIN_STEPS", 1)
    events = []
    exp = write_experiment(tmp_path, workers=0, epochs=1, eps="0")  # all frozen
    definition = tmp_path / "tiny.cfg"  # fc2 all zeros: uniform outputs, nll = ln 4 throughout
    head, _, tail = definition.read_text().rpartition("initW=0.01")
    definition.write_text(head + "initW=0" + tail)
    train(TrainOptions(str(exp)), on_event=events.append, handle_signals=False)
    warnings = [e.text for e in events if isinstance(e, Message) and e.severity == "warning"]
    assert any(f"ln(4) = {math.log(4):.3f}" in w for w in warnings), warnings
