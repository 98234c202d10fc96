"""Small nets and experiments for the ablate tests (not a test module): one tower with every
ingredient the claims remove, and a two-tower net shaped like AlexNet's (a cross-tower conv and
fc layers that read both towers)."""

from __future__ import annotations

from pathlib import Path

from conftest import valid_text, write_experiment_files

ONE_TOWER = valid_text("ablate-one-tower.cfg")
ONE_TOWER_PARAMS = valid_text("ablate-one-tower.params")
# conv2 and fc3 read both towers, as AlexNet's conv3 and fc layers do
TWO_TOWER = valid_text("ablate-two-towers.cfg")
TWO_TOWER_PARAMS = valid_text("ablate-two-towers.params")

DATA = "builtin:shapes?classes=3&train=20&val=10"  # per class: 60 and 30 images


def write_experiment(folder: Path, net: str = ONE_TOWER, params: str = ONE_TOWER_PARAMS,
                     **keys) -> Path:
    """net.cfg, net-params.cfg and exp.cfg in ``folder`` (3 batches of 20 per epoch)."""
    train = {"layers": "net.cfg", "data": DATA, "image-size": 20, "inner-size": 16,
             "batch-size": 20, "epochs": 2, "devices": "cpu", "workers": 0, "log-freq": 1,
             "seed": 0}
    return write_experiment_files(folder, {"net.cfg": net, "net-params.cfg": params},
                                  {**train, **keys})
