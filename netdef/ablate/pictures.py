"""The report's pictures (matplotlib, as :mod:`netdef.show`): each claim's training and
validation curves, base against variant(s), and one bar chart of the differences."""

from __future__ import annotations

from pathlib import Path

from ..show.output import label_axes, pyplot, save_figure
from .claims import STEPS
from .report import VariantReport
from .results import RunResult

COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange")
VERDICT_COLOUR = {"paper's sign": "tab:green", "opposite sign": "tab:red",
                  "not separable": "tab:gray"}


MARKED_BELOW = 10  # points: a shorter curve is drawn with markers


def render_curves(title: str, sides: dict[str, list[RunResult]], out: Path,
                  threshold: float | None = None) -> Path:
    """Training top-1 error (logged every log-freq batches) and validation top-1 error per
    epoch of each side: the mean over seeds, with the seeds' range shaded."""
    plt = pyplot()
    fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(11, 4.2))
    for colour, (name, runs) in zip(COLOURS, sides.items(), strict=False):
        _mean_band(ax_train, [r.train_curve for r in runs], colour, name)
        _mean_band(ax_val, [r.val_curve for r in runs], colour, name, marker="o")
    if threshold is not None:
        ax_train.axhline(100 * threshold, color="black", linestyle=":", linewidth=1,
                         label=f"{100 * threshold:g}% threshold")
    seeds = len(next(iter(sides.values()), []))
    for ax, what in ((ax_train, "training"), (ax_val, "validation")):
        label_axes(ax, title=f"{title}: {what} top-1 error ({seeds} seed{'s' * (seeds != 1)})",
                   x="epoch", y="error (%)", title_size=10)
    fig.tight_layout()
    return save_figure(fig, out)


def _mean_band(ax, curves: list[list[tuple[float, float]]], colour: str, label: str,
               marker: str | None = None) -> None:
    """The seeds share their x positions (same batches, same logging): average point by point.
    A curve of fewer than ``MARKED_BELOW`` points gets markers: one point drawn as a line
    shows nothing (a 3-step ``--quick`` run logs a single training row)."""
    n = min((len(c) for c in curves), default=0)
    if n == 0:
        return
    if marker is None and n < MARKED_BELOW:
        marker = "o"
    xs = [curves[0][i][0] for i in range(n)]
    ys = [[100 * c[i][1] for c in curves] for i in range(n)]
    mean = [sum(y) / len(y) for y in ys]
    ax.plot(xs, mean, color=colour, label=label, marker=marker, markersize=3)
    if len(curves) > 1:
        ax.fill_between(xs, [min(y) for y in ys], [max(y) for y in ys], color=colour, alpha=0.15)


def render_differences(reports: list[VariantReport], out: Path) -> Path:
    """Δ validation top-1 error (percentage points, ± the t-test's margin) per variant, coloured
    by its verdict; a second panel gives the relu claim's ratio of steps to the threshold."""
    plt = pyplot()
    steps = [r for r in reports if r.claim.metric == STEPS and r.variant.variant.trains]
    fig, axes = plt.subplots(1, 2 if steps else 1, figsize=(11 if steps else 7, 4.2),
                             gridspec_kw={"width_ratios": [3, 1]} if steps else None,
                             squeeze=False)
    ax = axes[0][0]
    labels = [f"{r.claim.name}\n{r.variant.name}" for r in reports]
    deltas = [100 * r.val_top1.delta if r.val_top1.delta is not None else 0.0 for r in reports]
    errors = [100 * r.val_top1.margin if r.val_top1.margin is not None else 0.0 for r in reports]
    colours = [VERDICT_COLOUR[r.val_top1.verdict] for r in reports]
    ax.bar(range(len(reports)), deltas, yerr=errors, color=colours, capsize=4)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(reports)), labels, fontsize=8)
    ax.set_ylabel("Δ validation top-1 error (pp)")
    ax.set_title("variant − base (± t·SE, 95%); green: the paper's sign, grey: not separable, "
                 "red: opposite", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    if steps:
        _steps_panel(axes[0][1], steps)
    fig.tight_layout()
    return save_figure(fig, out)


def _steps_panel(ax, reports: list[VariantReport]) -> None:
    ratios = [r.primary.ratio for r in reports]
    ax.bar(range(len(reports)), [x or 0.0 for x in ratios],
           color=[VERDICT_COLOUR[r.primary.verdict] for r in reports])
    for i, x in enumerate(ratios):
        if x is None:
            ax.annotate("threshold\nnot reached", (i, 0), ha="center", va="bottom", fontsize=8)
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_xticks(range(len(reports)), [r.variant.name for r in reports], fontsize=8)
    ax.set_ylabel("steps to threshold, variant / base")
    ax.set_title("relu (the paper: about 6×)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
