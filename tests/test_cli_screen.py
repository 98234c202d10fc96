"""netdef.cli.screen, the one renderer of the library's events: data events read the same in
every command (and none is dropped), the training screen's words, its per-batch bar with
labelled times, and a stop acknowledged at once."""

from __future__ import annotations

import io
import re
import signal

from click.testing import CliRunner
from rich.console import Console

from netdef.cli import cli
from netdef.cli.screen import Screen
from netdef.evaluate import EvalProgress
from netdef.train import events as ev
from netdef.train.events import (
    BatchDone,
    EpochStarted,
    Finished,
    Health,
    Message,
    Progress,
    Started,
    StopRequested,
)


def screen(terminal: bool = False, bars_on_out: bool = False):
    out, err = io.StringIO(), io.StringIO()
    kw = dict(width=80, force_terminal=terminal, color_system=None, highlight=False)
    return Screen(Console(file=out, **kw), Console(file=err, **kw), bars_on_out), out, err


def a_start(classes: int | None = 10, step: int = 0) -> Started:
    return Started(run_dir="runs/q", epochs=2, batches_per_epoch=4, batch_size=8, step=step,
                   total_steps=8, devices=("cpu",), resumed=step > 0, num_train=32, num_val=8,
                   classes=classes, outputs=classes or 768, params=1234, rate_of="conv1 epsW")


def a_progress(batch: int = 4, nll: float | None = 1.25, top1_err: float | None = 0.5,
               **costs) -> Progress:
    return Progress(epoch=1, batch=batch, batches=4, step=batch, total_steps=8, nll=nll,
                    top1_err=top1_err, rate=1e-3, images_per_s=100.0, eta_s=12.0, **costs)


def a_finish(step: int, interrupted: bool, top1: float | None = None,
             run_dir: str = "runs/q", seconds: float = 5.0) -> Finished:
    return Finished(run_dir=run_dir, step=step, interrupted=interrupted, best_val_top1=top1,
                    last_val_top1=top1, seconds=seconds)


def a_test(best: bool = True) -> ev.Tested:
    return ev.Tested(epoch=1, step=4, val_nll=0.52, val_top1=0.25, val_top5=0.125,
                     train_nll=0.9, train_top1=0.375, best=best, seconds=0.1,
                     health=(Health("conv1.weight", 1e-2, 1e-4),
                             Health("fc.weight", 2e-2, 4e-5)))


def test_data_events_are_sentences_on_stderr():
    from netdef.data.events import CacheRebuilt, FilesIgnored, ImagesSkipped, PackDone, PackStarted

    s, out, err = screen()
    with s:
        s(PackStarted(source="/src", dst="/c/x", total=91, image_size=64, layout="classes"))
        s(ImagesSkipped(count=1, total=91, limit="at most 1% of the images",
                        examples=(("a/b.jpg", "not an image"),)))
        s(FilesIgnored(count=1, examples=("notes.txt",)))
        s(CacheRebuilt(dst="/c/x", reason="the source changed"))
        s(PackDone(dst="/c/x", train=80, val=10, test=0, skipped=1, channels=3,
                   channels_reason="RGB images"))
    text = err.getvalue()
    assert out.getvalue() == ""
    assert "data: packing 91 images of /src (classes layout) at 64×64 px into /c/x" in text
    assert "warning: data: skipped 1 of 91 images that cannot be decoded" in text
    assert "  a/b.jpg: not an image" in text
    assert "note: data: ignored 1 file(s) that are not images" in text
    assert "warning: data: packing /c/x again: the source changed" in text
    assert "data: packed 80 training, 10 validation images" in text


def test_eval_shows_the_data_events_it_used_to_drop(trained_run, eval_cache, monkeypatch):
    import netdef.evaluate as evaluate

    real = evaluate.open_eval_data

    def rebuilt(model, data=None, on_event=None, **kw):
        from netdef.data.events import CacheRebuilt

        on_event(CacheRebuilt(dst="/cache/x", reason="the packed cache is damaged: bad header"))
        return real(model, data, on_event=on_event, **kw)

    monkeypatch.setattr(evaluate, "open_eval_data", rebuilt)
    r = CliRunner().invoke(cli, ["eval", "--model", str(trained_run / "ckpt.pt")])
    assert r.exit_code == 0, r.output
    assert "data: packing /cache/x again: the packed cache is damaged" in r.stderr
    assert "packing" not in r.stdout and "top-1 error" in r.stdout


def test_training_words_piped():
    s, out, err = screen()
    with s:
        s(a_start(classes=10))
        s(EpochStarted(1, 0, 4))
        for b in range(1, 5):
            s(BatchDone(epoch=1, batch=b, batches=4, step=b, total_steps=8))
        s(a_progress())
        s(a_test())
        s(a_test(best=False))
        s(a_finish(8, False, 0.25, seconds=75.0))
    text = out.getvalue()
    assert "train nll 1.2500  error 50.0%  conv1 epsW 1.00e-03" in text  # the rate, named
    assert "err " not in text and "top-1" not in text  # "error" everywhere
    assert "validation  nll 0.5200  error 25.0%  top-5 error 12.5%" in text
    assert "training    nll 0.9000  error 37.5%" in text
    assert text.count("Δw/w = their ratio") == 1  # the health line explained, once
    assert "conv1.weight  mean|w| 1.000e-02  mean|Δw| 1.000e-04  Δw/w 1.0e-02" in text
    assert "done in 1:15: 8 steps; best validation error 25.0%" in text
    assert err.getvalue() == ""


def test_top5_hidden_when_there_are_five_classes_or_fewer():
    s, out, _ = screen()
    s(a_start(classes=5))
    s(a_test())
    assert "top-5" not in out.getvalue() and "error 25.0%" in out.getvalue()


def test_live_bar_moves_every_batch_with_labelled_times():
    s, out, _ = screen(terminal=True, bars_on_out=True)
    with s:
        s(a_start())
        s(EpochStarted(1, 0, 4))
        s(BatchDone(epoch=1, batch=1, batches=4, step=1, total_steps=8))
        s(BatchDone(epoch=1, batch=2, batches=4, step=2, total_steps=8))
        [task] = s.progress.tasks
        assert task.completed == 2  # no Progress report yet: the bar moves anyway
        s(a_progress(batch=2))
        s.progress.refresh()
        s(StopRequested(signal.SIGINT))  # as from the signal handler: shown by the display
        s.progress.refresh()
        s(a_finish(3, True))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # cursor codes out
    assert "epoch 1/2" in text and "2/4" in text and "elapsed " in text and "ETA " in text
    assert "train nll 1.2500  error 50.0%  conv1 epsW 1.00e-03" in text
    assert "Ctrl-C: stopping after this batch, then saving" in text
    # the closing message starts a line of its own, and names the real command
    assert "\ninterrupted (Ctrl-C) at step 3; checkpoint saved in runs/q. Continue with:\n" \
           "  netdef train --resume runs/q\n" in text


def test_stop_acknowledged_at_once_when_piped(capfd):
    s, out, err = screen()
    s.err.file = open(2, "w", closefd=False)  # a real file descriptor, as when piped
    s(StopRequested(signal.SIGTERM))
    assert "SIGTERM: stopping after this batch, then saving\n" in capfd.readouterr().err


def test_eval_progress_and_messages():
    s, out, err = screen()
    with s:
        s(EvalProgress(5, 10))
        s(Message("a warning", "warning"))
        s(Message("plain information"))
    assert s.progress.tasks[0].completed == 5
    assert "warning: a warning" in err.getvalue() and "plain information" in out.getvalue()


def test_unknown_sentences_and_nets_without_a_classifier():
    """An event this version has no handler for still shows its sentence (``text``); a net
    without a classifier reports its costs by name, big ones in scientific notation."""
    from dataclasses import dataclass

    @dataclass
    class SomethingNew:
        text: str = "a new remark"

    s, out, err = screen()
    with s:
        s(SomethingNew())
        s(a_start(classes=None))  # a net without a classifier has no classes to count
        s(a_progress(nll=None, top1_err=None, costs={"sqdiff": 9e33}))
        s(ev.Tested(epoch=1, step=4, val_nll=None, val_top1=None, val_top5=None, train_nll=None,
                    train_top1=None, best=False, seconds=0.1,
                    val_costs={"sqdiff": 61.5}, train_costs={"sqdiff": 70.25}))
    text = out.getvalue()
    assert "a new remark" in text
    assert "train sqdiff 9.000e+33  conv1 epsW" in text
    assert "validation  sqdiff 61.5000" in text and "training    sqdiff 70.2500" in text
    assert "error" not in text and "top-5" not in text
    assert "1,234 parameters; 32 training / 8 validation images" in text  # no "N classes"


def test_ablation_events_and_its_resume_command():
    from netdef.ablate.events import ReportWritten, RunDone, RunStarted, ViewsScored

    s, out, err = screen()
    s.resume_with = "netdef ablate examples/quickstart.cfg lrn"
    with s:
        s(RunStarted(index=1, total=2, variant="base", seed=0, folder="runs/a/base-0",
                     action="train"))
        s(RunDone(variant="base", seed=0, val_top1=0.25, seconds=3.0))
        s(ViewsScored(seed=0, folder="runs/a/base-0", one_view=0.3, ten_views=0.25, seconds=2))
        s(ReportWritten(json="a.json", markdown="a.md", pictures=("p.png",)))
        s(a_finish(3, True, run_dir="runs/a/lrn-0"))
    text = out.getvalue()
    assert "run 1/2: base seed 0 — training (runs/a/base-0)" in text
    assert "base seed 0: validation error 25.0%" in text
    assert "ten-view, seed 0: error 30.0% on the centre crop, 25.0% on ten views" in text
    assert "report: a.md, a.json, 1 picture(s)" in text
    assert "Continue with:\n  netdef ablate examples/quickstart.cfg lrn\n" in err.getvalue()


def test_the_start_line_counts_in_words_singular_for_one():
    from dataclasses import replace

    from netdef.cli.render import counted

    s, out, _ = screen()
    s(replace(a_start(), epochs=1, batches_per_epoch=1))
    text = out.getvalue()
    assert "1 epoch × 1 batch of 8" in text and "1 epochs" not in text
    assert "1,234 parameters; 10 classes" in text
    assert counted(2, "batch", "batches") == "2 batches" and counted(1, "class") == "1 class"
    assert counted(1024, "epoch") == "1,024 epochs"
