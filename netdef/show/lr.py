"""Every layer's weight rate over a whole run, drawn before training (``netdef plot-lr``).

The rate of input i of a weight layer at progress p is ``epsW[i]`` at p times the A12
``schedW`` multiplier (noise left out), as :class:`netdef.optim.Rule` computes it. ``plateau``
depends on validation errors not known yet: the picture assumes the error improves at every
test except for ``patience`` tests after the first, so exactly one drop is drawn, at the first
moment the rule allows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import NetdefError
from ..schedules import Plateau, Warmup, format_schedule, lr_at
from ..schema import WEIGHT_TYPES
from .output import label_axes, pyplot, save_figure

POINTS = 1000


@dataclass
class RateLine:
    """Layers (and inputs) that share one schedule, drawn as one line."""

    label: str
    eps: object
    mult: object | None


def patience_of(schedule) -> int | None:
    """The patience of a plateau schedule (looking through warmup), else None."""
    if isinstance(schedule, Warmup):
        return patience_of(schedule.then)
    return schedule.patience if isinstance(schedule, Plateau) else None


def assumed_errors(tests: int, patience: int | None) -> list[float]:
    """A made-up validation history of ``tests`` tests: improving, except ``patience`` tests
    without improvement right after the first, so a plateau rule drops exactly once."""
    if patience is None:
        return [1.0 / (1 + t) for t in range(tests)]
    flat = 1 + patience
    return [1.0 if t < flat else 1.0 / (1 + t) for t in range(tests)]


def rate_lines(checked) -> list[RateLine]:
    """One line per distinct (epsW, schedW) among the weight layers' inputs, in file order."""
    groups: dict[tuple, tuple[list[str], object, object]] = {}
    for name, layer in checked.spec.layers.items():
        if layer.type not in WEIGHT_TYPES:
            continue
        if not layer.eps_w:
            raise NetdefError.at(checked.spec.path, f"layer '{name}' has no 'epsW' (give the "
                                 "experiment a params file)")
        for i in range(len(layer.inputs)):
            eps = layer.eps_w[i] if i < len(layer.eps_w) else layer.eps_w[0]
            key = (format_schedule(eps),
                   format_schedule(layer.sched_w) if layer.sched_w else "")
            label = name if len(layer.inputs) == 1 else f"{name}[{i}]"
            groups.setdefault(key, ([], eps, layer.sched_w))[0].append(label)
    return [RateLine(_label(names, key), eps, mult)
            for key, (names, eps, mult) in groups.items()]


def _label(names: list[str], key: tuple) -> str:
    who = ", ".join(names) if len(names) <= 4 else f"{', '.join(names[:3])} … ({len(names)} layers)"
    return f"{who}: {key[0]}" + (f" × {key[1]}" if key[1] else "")


def rate_curve(line: RateLine, epochs: int, test_freq: int) -> tuple[list[float], list[float]]:
    """(epochs, rates) sampled over the run; plateau uses :func:`assumed_errors`."""
    patience = patience_of(line.eps)
    xs, ys = [], []
    for k in range(POINTS + 1):
        p = k / POINTS
        epoch = p * epochs
        history = assumed_errors(int(epoch // test_freq), patience)
        rate = lr_at(line.eps, p, history)
        if line.mult is not None:
            rate *= lr_at(line.mult, p, history)
        xs.append(epoch)
        ys.append(rate)
    return xs, ys


def render_lr(experiment: str | Path, out: str | Path):
    """Write every layer's weight rate over the experiment's epochs to ``out`` (PNG)."""
    from ..check import load
    from ..schema import read_experiment

    exp, _ = read_experiment(str(experiment))
    checked = load(str(experiment))
    lines = rate_lines(checked)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for line in lines:
        xs, ys = rate_curve(line, exp.epochs, exp.test_freq)
        ax.plot(xs, ys, label=line.label, drawstyle="steps-post")
    positive = all(y > 0 for line in ax.get_lines() for y in line.get_ydata())
    if positive:
        ax.set_yscale("log")
    if any(patience_of(line.eps) for line in lines):
        ax.text(0.99, 0.02, "plateau: one drop drawn, assumed after 'patience' tests "
                "without improvement", transform=ax.transAxes, ha="right", fontsize=7,
                color="grey")
    label_axes(ax, title=f"{Path(experiment).name}: weight rates over {exp.epochs} epochs",
               x="epoch", y="epsW", legend_size=7)
    fig.tight_layout()
    return save_figure(fig, out)
