"""Small nets and experiments for the ablate tests (not a test module): one tower with every
ingredient the claims remove, and a two-tower net shaped like AlexNet's (a cross-tower conv and
fc layers that read both towers)."""

from __future__ import annotations

from pathlib import Path

ONE_TOWER = """\
[data]
type=data
dataIdx=0

[labels]
type=data
dataIdx=1

# eight 3x3 kernels
[conv1]
type=conv
inputs=data
channels=3
filters=8
filterSize=3
padding=1
initW=0.05
neuron=relu

[rnorm1]
type=cmrnorm
inputs=conv1
channels=8
size=3

# overlapping, as in AlexNet
[pool1]
type=pool
pool=max
inputs=rnorm1
channels=8
sizeX=3
stride=2

[fc1]
type=fc
inputs=pool1
outputs=16
initW=0.05
neuron=relu

[drop1]
type=dropout
inputs=fc1

[fc2]
type=fc
inputs=drop1
outputs=3
initW=0.05

[probs]
type=softmax
inputs=fc2

[logprob]
type=cost.logreg
inputs=labels,probs
"""

WEIGHTS = "epsW=0.01\nepsB=0.01\nmomW=0.9\nmomB=0.9\nwc=0.0005\n"

ONE_TOWER_PARAMS = (f"[conv1]\n{WEIGHTS}\n[rnorm1]\nscale=0.0001\npow=0.75\n\n[fc1]\n{WEIGHTS}\n"
                    f"[drop1]\nkeep=0.5\n\n[fc2]\n{WEIGHTS}\n[logprob]\ncoeff=1\n")


# One stage per entry, written for tower a (gpu=0) then tower b (gpu=1); conv2 and fc3 read both
# towers, as AlexNet's conv3 and fc layers do.
_STAGES = ("""\
[conv1{t}]
type=conv
inputs=data
channels=3
filters=4
filterSize=3
padding=1
neuron=relu
gpu={gpu}
""", """\
[rnorm1{t}]
type=cmrnorm
inputs=conv1{t}
channels=4
size=3
""", """\
[pool1{t}]
type=pool
pool=max
inputs=rnorm1{t}
channels=4
sizeX=3
stride=2
""", """\
[conv2{t}]
type=conv
inputs=pool1a,pool1b
channels=4,4
filters=6,6
filterSize=3,3
padding=1,1
neuron=relu
gpu={gpu}
""", """\
[pool2{t}]
type=pool
pool=max
inputs=conv2{t}
channels=6
sizeX=3
stride=2
""", """\
[fc3{t}]
type=fc
inputs=pool2a,pool2b
outputs=8
neuron=relu
gpu={gpu}
""", """\
[drop3{t}]
type=dropout
inputs=fc3{t}
""")

TWO_TOWER = ("[data]\ntype=data\ndataIdx=0\n\n[labels]\ntype=data\ndataIdx=1\n\n"
             + "\n".join(stage.format(t=t, gpu=g) for stage in _STAGES
                         for t, g in (("a", 0), ("b", 1)))
             + "\n[fc4]\ntype=fc\ninputs=drop3a,drop3b\noutputs=3\ninitW=0.05,0.05\ngpu=0\n\n"
               "[probs]\ntype=softmax\ninputs=fc4\n\n[logprob]\ntype=cost.logreg\n"
               "inputs=labels,probs\n")

TWO_INPUTS = WEIGHTS.replace("epsW=0.01", "epsW=0.01,0.02").replace("wc=0.0005", "wc=0.0005,0.001")
TWO_TOWER_PARAMS = "\n".join(
    [f"[conv1{t}]\n{WEIGHTS}\n[rnorm1{t}]\nscale=0.0001\npow=0.75\n\n"
     f"[conv2{t}]\n{TWO_INPUTS}\n"
     f"[fc3{t}]\n{WEIGHTS}\n[drop3{t}]\nkeep=0.5\n" for t in "ab"]
    + [f"[fc4]\n{WEIGHTS}", "[logprob]\ncoeff=1\n"])

DATA = "builtin:shapes?classes=3&train=20&val=10"  # per class: 60 and 30 images


def write_experiment(folder: Path, net: str = ONE_TOWER, params: str = ONE_TOWER_PARAMS,
                     **keys) -> Path:
    """net.cfg, net-params.cfg and exp.cfg in ``folder`` (3 batches of 20 per epoch)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "net.cfg").write_text(net)
    (folder / "net-params.cfg").write_text(params)
    train = {"layers": "net.cfg", "data": DATA, "image-size": 20, "inner-size": 16,
             "batch-size": 20, "epochs": 2, "devices": "cpu", "workers": 0, "log-freq": 1,
             "seed": 0}
    train.update(keys)
    path = folder / "exp.cfg"
    path.write_text("[train]\n" + "".join(f"{k} = {v}\n" for k, v in train.items()))
    return path
