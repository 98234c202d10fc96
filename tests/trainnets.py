"""Tiny nets and experiments for the optimizer and training tests (not a test module)."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import valid_text, write_experiment_files

TINY = valid_text("tiny.cfg")  # fc2 has 4 outputs
TINY_PARAMS = valid_text("tiny.params")  # every rate 0.001


def tiny_net(outputs: int = 4) -> str:
    """tests/data/valid/tiny.cfg with ``outputs`` classes."""
    return TINY.replace("outputs=4\n", f"outputs={outputs}\n")


def with_rates(params: str, eps: str) -> str:
    """``params`` with every learning rate of 0.001 (epsW, epsB) set to ``eps``."""
    return re.sub(r"^(eps[WB])=0\.001$", rf"\g<1>={eps}", params, flags=re.M)


# Several layers and every rule: frozen (eps 0), a dexp step, wball, two inputs with their own
# rates and momenta, an A12 multiplier with noise, and a cost coeff.
TINY_PARAMS_RULES = """\
[conv1]
epsW=0
epsB=0
momW=0.9
momB=0.9
wc=0.0005

[fc1]
epsW=dexp[base=0.1;tgtFactor=10;numSteps=2]
epsB=0.2
momW=0.9
momB=0.5
wc=0.01
wball=0.5

[fc2]
epsW=0.05,linear[base=0.1;tgtFactor=4]
epsB=0.1
momW=0.9,0.8
momB=0.9
wc=0.001,0
schedW=jdexp[tgtFactor=10,noiseStdev=0.1,numSteps=3]

[logprob]
coeff=2
"""

DROPOUT = """
[drop1]
type=dropout
inputs=fc1
"""


def write_net(folder: Path, params: str = TINY_PARAMS, outputs: int = 4, eps: str = "0.001",
              name: str = "tiny", dropout: float | None = None) -> Path:
    """Write ``name.cfg`` and ``name-params.cfg`` into folder; returns the definition path.
    ``dropout``: fc2 reads fc1 through a dropout layer keeping that fraction."""
    folder.mkdir(parents=True, exist_ok=True)
    text, params = tiny_net(outputs), with_rates(params, eps)
    if dropout is not None:
        text = text.replace("[fc2]", DROPOUT.lstrip() + "\n[fc2]").replace(
            "inputs=pool1,fc1", "inputs=pool1,drop1")
        params += f"\n[drop1]\nkeep={dropout}\n"
    (folder / f"{name}.cfg").write_text(text)
    (folder / f"{name}-params.cfg").write_text(params)
    return folder / f"{name}.cfg"


def write_experiment(folder: Path, outputs: int = 4, eps: str = "0.001",
                     dropout: float | None = None, **keys) -> Path:
    """A small experiment on builtin:shapes at 16x16 (few images) with the tiny net."""
    write_net(folder, outputs=outputs, eps=eps, dropout=dropout)
    train = {"layers": "tiny.cfg", "data": "builtin:shapes?train=16&val=8&classes=4",
             "image-size": 20, "inner-size": 16, "batch-size": 8, "epochs": 2,
             "test-freq": 1, "color-noise": 0.1, "devices": "cpu", "seed": 0,
             "save": str(folder / "run")}
    train.update({k.replace("_", "-"): v for k, v in keys.items()})
    return write_experiment_files(folder, {}, train)
