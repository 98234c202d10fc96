"""What training reports: every cost by name, error rates only for a classifier, one tie rule
shared with `netdef eval`, and a divergence said early, in scientific notation, never
recommending a checkpoint written after the warning."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from netdef.cli import cli
from netdef.train import Message, Progress, TrainingDiverged, TrainOptions, train
from netdef.train import events as train_events
from netdef.train.loop import Trainer
from netdef.train.metrics import Averages
from netdef.train.watch import DivergenceWatch, fmt, stuck_warning

from conftest import cli_failed
from trainnets import write_experiment

AUTOENCODER = """\
[data]
type=data
dataIdx=0

[hidden]
type=fc
inputs=data
outputs=16
initW=0.01
neuron=relu

[recon]
type=fc
inputs=hidden
outputs=768
initW=0.01

[diff]
type=eltsum
inputs=recon,data
coeffs=1,-1

[sqdiff]
type=cost.sum2
inputs=diff
"""
AUTOENCODER_PARAMS = """\
[hidden]
epsW=0.0000001
epsB=0.0000002
momW=0.9
momB=0.9
wc=0

[recon]
epsW=0.0000001
epsB=0.0000002
momW=0.9
momB=0.9
wc=0

[sqdiff]
coeff=1
"""


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path_factory.getbasetemp() / "netdef-cache"))


def _records(run, kind):
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if r["kind"] == kind]


# --- a net without a classifier ---------------------------------------------------------------

@pytest.fixture
def autoencoder(tmp_path):
    exp = write_experiment(tmp_path, workers=0, epochs=2, log_freq=1)
    (tmp_path / "auto.cfg").write_text(AUTOENCODER)
    (tmp_path / "auto-params.cfg").write_text(AUTOENCODER_PARAMS)
    exp.write_text(exp.read_text().replace("layers = tiny.cfg", "layers = auto.cfg"))
    return exp


def test_costs_by_name_and_no_error_rates_without_a_classifier(autoencoder):
    events = []
    train(TrainOptions(str(autoencoder)), on_event=events.append, handle_signals=False)
    progress = [e for e in events if isinstance(e, Progress)]
    tests = [e for e in events if isinstance(e, train_events.Tested)]
    [started] = [e for e in events if isinstance(e, train_events.Started)]
    assert started.classes is None and started.outputs == 0
    assert progress and all(e.nll is None and e.top1_err is None for e in progress)
    assert all(set(e.costs) == {"sqdiff"} and e.costs["sqdiff"] > 0 for e in progress)
    assert len(tests) == 2  # a validation line after each epoch
    assert all(e.val_top1 is None and set(e.val_costs) == set(e.train_costs) == {"sqdiff"}
               for e in tests)
    run = autoencoder.parent / "run"
    train_records, test_records = _records(run, "train"), _records(run, "test")
    assert all("nll" not in r and "top1_err" not in r and "sqdiff" in r["costs"]
               for r in train_records)
    assert all("val_top1_err" not in r and r["val_costs"]["sqdiff"] > 0 for r in test_records)


def test_the_display_names_each_cost_and_eval_says_there_is_no_classifier(autoencoder):
    result = CliRunner().invoke(cli, ["train", str(autoencoder)])
    assert result.exit_code == 0, result.output
    assert "sqdiff" in result.output and "nll" not in result.output
    assert "classes" not in result.output  # the start line counts no classes it does not have
    assert "validation  sqdiff" in result.output and "train sqdiff" in result.output
    ckpt = str(autoencoder.parent / "run" / "ckpt.pt")
    photo = autoencoder.parent / "photo.png"   # a real file: a missing one is refused first
    Image.new("RGB", (8, 8)).save(photo)
    for args in (["eval", "--model", ckpt], ["predict", "--model", ckpt, str(photo)],
                 ["show-preds", "--model", ckpt]):
        out = CliRunner().invoke(cli, args)
        cli_failed(out, "the net has no classifier", "'sqdiff' (cost.sum2)",
                   f"'{args[0]}' has no classes to score")


# --- one tie rule: the training log, its test and netdef eval -----------------------------------

def test_ties_score_alike_in_training_and_in_eval(tmp_path):
    """Every score equal (the last layer all zeros, nothing learns): top-1 error is chance,
    1 − 1/4, in the training log, in its validation test and in `netdef eval`."""
    from netdef.evaluate import evaluate, load_model, open_eval_data

    exp = write_experiment(tmp_path, workers=0, epochs=1, eps="0")
    definition = tmp_path / "tiny.cfg"
    head, _, tail = definition.read_text().rpartition("initW=0.01")
    definition.write_text(head + "initW=0" + tail)
    events = []
    train(TrainOptions(str(exp)), on_event=events.append, handle_signals=False)
    assert {e.top1_err for e in events if isinstance(e, Progress)} == {0.75}
    (tested,) = [e for e in events if isinstance(e, train_events.Tested)]
    assert tested.val_top1 == 0.75 and tested.val_top5 == 0.0  # top-5 of 4 classes: all
    model = load_model(tmp_path / "run" / "ckpt.pt")
    result = evaluate(model, open_eval_data(model))
    assert result.top1_err == pytest.approx(0.75) and result.top5_err == pytest.approx(0.0)
    assert result.nll == pytest.approx(tested.val_nll) == pytest.approx(math.log(4))


# --- divergence ---------------------------------------------------------------------------------

def _fake_divergence(monkeypatch, grows_from: int, nan_at: int) -> None:
    """From step ``grows_from`` the classifier's nll (and the loss) reads 10^(k+2), growing;
    at ``nan_at`` the loss is NaN. The weights train as usual: this drives the bookkeeping."""
    original = Trainer.train_step

    def step(self, images, labels):
        result = original(self, images, labels)
        n = self.state.step
        if n >= grows_from:
            big = torch.tensor(10.0 ** (n - grows_from + 2))
            result = dataclasses.replace(result, nll=big, loss=big)
        if n == nan_at:
            result = dataclasses.replace(result, loss=torch.tensor(math.nan))
        return result

    monkeypatch.setattr(Trainer, "train_step", step)


def test_divergence_warned_early_and_the_checkpoint_before_it_kept(tmp_path, monkeypatch):
    exp = write_experiment(tmp_path, workers=0, epochs=3, log_freq=1)  # 8 steps an epoch
    _fake_divergence(monkeypatch, grows_from=11, nan_at=20)
    events = []
    with pytest.raises(TrainingDiverged) as err:
        train(TrainOptions(str(exp)), on_event=events.append, handle_signals=False)
    warnings = [e.text for e in events if isinstance(e, Message) and e.severity == "warning"]
    run = tmp_path / "run"
    assert len(warnings) == 1 and warnings[0].startswith("step 11: the training nll 100.0000 is "
                                                         "far above ln(4) = 1.386 (chance)")
    assert "0–255 minus the mean" in warnings[0] and "epsW" in warnings[0]
    assert f"{run / 'ckpt.pt'} (step 8)" in warnings[0]
    # the test after epoch 2 wrote ckpt.pt while diverging: step 8's was kept beside it
    kept = run / "ckpt-step8.pt"
    assert torch.load(kept, weights_only=False)["state"]["step"] == 8
    assert torch.load(run / "ckpt.pt", weights_only=False)["state"]["step"] == 16
    text = str(err.value)
    assert "step 20 (epoch 3, batch 4): the cost is nan" in text
    assert f"is {kept} (step 8)" in text and f"--init-from {kept}" in text
    assert "--resume" not in text


def test_no_checkpoint_is_recommended_when_all_came_after_the_warning(tmp_path, monkeypatch):
    exp = write_experiment(tmp_path, workers=0, epochs=2, log_freq=1)
    _fake_divergence(monkeypatch, grows_from=2, nan_at=12)
    with pytest.raises(TrainingDiverged) as err:
        train(TrainOptions(str(exp)), handle_signals=False)
    text = str(err.value)
    assert "No checkpoint is safe: none was written before the cost began to grow (step 2)" in text
    assert "--resume" not in text and "--init-from" not in text


def test_the_watch_without_a_classifier_and_after_a_recovery():
    def avg(loss):
        return Averages(images=8, loss=loss)

    watch = DivergenceWatch(None)
    assert watch.check(avg(100.0), 1, False) == (False, None)
    assert watch.check(avg(50.0), 2, False) == (False, None)
    assert watch.check(avg(70.0), 3, False) == (False, None)  # up, but not over 2 × 50
    assert watch.check(avg(60.0), 3, False) == (False, None)
    diverging, text = watch.check(avg(600.0), 4, False)  # > 10 × the lowest (50) and growing
    assert diverging and "the training cost 600.0000 is over 10× its lowest so far" in text
    assert watch.check(avg(900.0), 5, True) == (True, None)  # said once
    diverging, text = watch.check(avg(60.0), 6, True)
    assert not diverging and "back to 60.0000" in text


def test_a_high_start_falling_unevenly_is_not_divergence():
    watch = DivergenceWatch(10)  # far above chance means over 3 · ln 10 = 6.9
    for step, nll in enumerate([50.0, 40.0, 30.0, 31.0, 20.0, 21.0], 1):
        assert watch.check(Averages(images=8, loss=nll, nll=nll, top1_err=0.9), step,
                           False) == (False, None)
    diverging, text = watch.check(Averages(images=8, loss=45.0, nll=45.0, top1_err=0.9), 7,
                                  False)  # over twice the lowest (20) and rising: it says so
    assert diverging and text.startswith("step 7: the training nll 45.0000 is far above ln(10)")


def test_numbers_in_messages():
    assert fmt(2.302585) == "2.3026" and fmt(0.0) == "0.0000"
    assert fmt(9e33) == "9.000e+33" and fmt(4.3e4) == "43000.0000" and fmt(1.5e-5) == "1.500e-05"
    assert fmt(math.inf) == "inf" and fmt(math.nan) == "nan"


# --- "not learning" ----------------------------------------------------------------------------

def test_not_learning_is_judged_on_the_error_rate_too():
    chance = math.log(10)

    def window(nll, err):
        return Averages(images=32, loss=nll, nll=nll, top1_err=err)

    flat_but_right = [window(chance * 1.01, 0.012)] * 4  # nll near ln 10, 1.2 % error
    assert stuck_warning(flat_but_right, 10, 1, steps=500) is None
    at_chance = [window(chance, 0.9), window(chance * 0.99, 0.88)]
    stuck = stuck_warning(at_chance, 10, 3, steps=500)
    assert stuck.startswith("epoch 3: the training nll stayed at ln(10) = 2.303 (chance) and "
                            "the error at 89.0% (chance 90.0%)")
    assert stuck_warning([Averages(images=8, loss=2.3)], 10, 1, steps=500) is None  # no classifier


def test_not_learning_is_not_judged_on_a_short_run():
    """ablate --quick trains 3 steps: too few to call a net at chance "not learning"."""
    chance = math.log(10)
    at_chance = [Averages(images=32, loss=chance, nll=chance, top1_err=0.9)] * 3
    assert stuck_warning(at_chance, 10, 1, steps=3) is None
    assert stuck_warning(at_chance, 10, 1, steps=99) is None
    assert stuck_warning(at_chance, 10, 1, steps=100) is not None
