"""A tiny two-tower net trained for two epochs, for the evaluate/show/CLI tests (not a test
module): conv1a and conv1b hold 48 filters of 11×11×3 each, like AlexNet's first layer."""

from __future__ import annotations

from pathlib import Path

TWO_TOWER = """\
[data]
type=data
dataIdx=0

[labels]
type=data
dataIdx=1

[conv1a]
type=conv
inputs=data
channels=3
filters=48
filterSize=11
stride=4
initW=0.01
neuron=relu
gpu=0

[conv1b]
type=conv
inputs=data
channels=3
filters=48
filterSize=11
stride=4
initW=0.01
neuron=relu
gpu=1

[pool1a]
type=pool
pool=max
inputs=conv1a
channels=48
sizeX=2
stride=2

[fc]
type=fc
inputs=pool1a,conv1b
outputs=3
initW=0.01
gpu=0

[probs]
type=softmax
inputs=fc

[logprob]
type=cost.logreg
inputs=labels,probs
"""

PARAMS = """\
[conv1a]
epsW=0.001
epsB=0.001
momW=0.9
momB=0.9
wc=0.0005

[conv1b]
epsW=0.001
epsB=0.001
momW=0.9
momB=0.9
wc=0.0005

[fc]
epsW=dexp[base=0.001;tgtFactor=10;numSteps=2]
epsB=0.001
momW=0.9
momB=0.9
wc=0.0005

[logprob]
coeff=1
"""

DATA = "builtin:shapes?classes=3&train=20&val=10"  # per class: 60 and 30 images


def write_experiment(folder: Path, **keys) -> Path:
    """two.cfg, two-params.cfg and exp.cfg (2 epochs of 3 batches) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "two.cfg").write_text(TWO_TOWER)
    (folder / "two-params.cfg").write_text(PARAMS)
    train = {"layers": "two.cfg", "data": DATA, "image-size": 20, "inner-size": 16,
             "batch-size": 20, "epochs": 2, "test-freq": 1, "devices": "cpu", "workers": 0,
             "log-freq": 1, "seed": 0, "save": str(folder / "run")}
    train.update(keys)
    path = folder / "exp.cfg"
    path.write_text("[train]\n" + "".join(f"{k} = {v}\n" for k, v in train.items()))
    return path


def train_run(folder: Path) -> Path:
    """Train the experiment; returns the run folder (ckpt.pt, metrics.jsonl, …)."""
    from netdef.train import TrainOptions, train

    exp = write_experiment(folder)
    train(TrainOptions(str(exp)), handle_signals=False)
    return folder / "run"
