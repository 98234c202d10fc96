"""A tiny two-tower net trained for two epochs, for the evaluate/show/CLI tests (not a test
module): conv1a and conv1b hold 48 filters of 11×11×3 each, like AlexNet's first layer."""

from __future__ import annotations

from pathlib import Path

from conftest import valid_text, write_experiment_files

TWO_TOWER = valid_text("eval-two-towers.cfg")
PARAMS = valid_text("eval-two-towers.params")

DATA = "builtin:shapes?classes=3&train=20&val=10"  # per class: 60 and 30 images


def write_experiment(folder: Path, **keys) -> Path:
    """two.cfg, two-params.cfg and exp.cfg (2 epochs of 3 batches) in ``folder``."""
    train = {"layers": "two.cfg", "data": DATA, "image-size": 20, "inner-size": 16,
             "batch-size": 20, "epochs": 2, "test-freq": 1, "devices": "cpu", "workers": 0,
             "log-freq": 1, "seed": 0, "save": str(folder / "run")}
    return write_experiment_files(folder, {"two.cfg": TWO_TOWER, "two-params.cfg": PARAMS},
                                  {**train, **keys})


def train_run(folder: Path) -> Path:
    """Train the experiment; returns the run folder (ckpt.pt, metrics.jsonl, …)."""
    from netdef.train import TrainOptions, train

    exp = write_experiment(folder)
    train(TrainOptions(str(exp)), handle_signals=False)
    return folder / "run"
