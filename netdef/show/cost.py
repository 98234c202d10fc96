"""Training curves from a run's ``metrics.jsonl``: nll, top-1/top-5 error and the rate.

Records are those :mod:`netdef.train.loop` appends: ``kind: train`` every ``log-freq``
batches (``epoch`` 1-based, ``batch``, ``batches`` per epoch, ``step``, ``nll``, ``top1_err``,
``rate``, and ``rate_of``: whose rate it is, ``conv1 epsW``) and ``kind: test`` after each
test (``epoch`` completed, ``step``, ``val_nll``, ``val_top1_err``, ``val_top5_err``,
``train_nll``, ``train_top1_err``). The x axis is epochs: a test at the end of epoch e sits
at e; a training record at step s sits at s / (steps per epoch). A net without a classifier
has no nll or error fields: its cost layers are drawn by name (``costs`` and ``val_costs``).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import NetdefError
from .output import pyplot, save_figure


def run_folder(run: str | Path) -> Path:
    """A run folder, or the folder of a checkpoint inside one."""
    run = Path(run)
    return run.parent if run.is_file() else run


def read_metrics(run: str | Path) -> list[dict]:
    """Every whole record of the run's metrics.jsonl (a torn last line is skipped)."""
    path = run_folder(run) / "metrics.jsonl"
    if not path.is_file():
        raise NetdefError.at(path, "no such file; give a run folder made by 'netdef train' "
                             "(it holds ckpt.pt and metrics.jsonl)")
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("kind") in ("train", "test"):
            records.append(record)
    if not records:
        raise NetdefError.at(path, "no training or test records yet")
    return records


def steps_per_epoch(records: list[dict]) -> float | None:
    """Batches per epoch: logged with each training record (``batches``); in logs without it,
    from a test record (step / epoch) or a training record past the first epoch
    ((step − batch) / (epoch − 1)). None when none of these exists (a run stopped in its first
    epoch by an older netdef): the x axis is then in steps."""
    for r in records:
        if r["kind"] == "train" and r.get("batches"):
            return float(r["batches"])
    for r in records:
        if r["kind"] == "test" and r.get("epoch"):
            return r["step"] / r["epoch"]
        if r["kind"] == "train" and r.get("epoch", 1) > 1 and r.get("batch") is not None:
            return (r["step"] - r["batch"]) / (r["epoch"] - 1)
    return None


def rate_changes(train: list[dict], per_epoch: float) -> list[tuple[float, float]]:
    """(x, new rate) wherever the logged rate steps: it differs from the previous record's
    after holding for the two records before (a dexp step, a plateau drop); x is the previous
    record's step (the new rate ran from the step after it: where the rate panel, drawn
    ``steps-pre``, steps too) divided by ``per_epoch`` (1 for an x axis in steps). A rate that
    moves at every record (cosine, exp, linear, a warm-up, A12 noise) is drawn in the rate panel
    and not marked: one line per logged record would cover the plot."""
    rates = [(r["step"], r["rate"]) for r in train if r.get("rate") is not None]
    out = []
    for i in range(2, len(rates)):
        (_, rate), (since, prev), (_, before) = rates[i], rates[i - 1], rates[i - 2]
        if not _close(rate, prev) and _close(prev, before):
            out.append((since / per_epoch, rate))
    return out


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-30)


def render_cost(run: str | Path, out: str | Path):
    """Write :func:`cost_figure` of a run folder (or of a checkpoint in one) to ``out`` (PNG);
    returns the path."""
    return save_figure(cost_figure(read_metrics(run), run_folder(run).name), out)


def cost_figure(records: list[dict], name: str):
    """nll, error and the rate of the first weight against epochs, the rate as steps, with
    dotted lines where it stepped: a matplotlib Figure.

    A run stopped part-way (or still running) is drawn as far as it got; curves with no
    records yet (no test so far) are left out of the plot and of the legend."""
    per = steps_per_epoch(records)
    train = [r for r in records if r["kind"] == "train"]
    tests = [r for r in records if r["kind"] == "test"]
    plt = pyplot()
    fig, (ax_nll, ax_err, ax_lr) = plt.subplots(3, 1, figsize=(8, 8.5), sharex=True,
                                                 gridspec_kw={"height_ratios": [3, 3, 1.4]})
    tx = [r["step"] / (per or 1) for r in train]
    ex = [r["epoch"] if per else r["step"] for r in tests]
    classifier = all("nll" in r for r in train)
    if classifier:
        _curve(ax_nll, tx, [r["nll"] for r in train], "-", "tab:blue", "training nll",
               alpha=0.6)
        _curve(ax_nll, ex, [r["val_nll"] for r in tests], "o-", "tab:red", "validation nll")
        _curve(ax_err, tx, [100 * r["top1_err"] for r in train], "-", "tab:blue",
               "training error", alpha=0.6)
        _curve(ax_err, ex, [100 * r["val_top1_err"] for r in tests], "o-", "tab:red",
               "validation error")
        _curve(ax_err, ex, [100 * r["val_top5_err"] for r in tests], "s--", "tab:orange",
               "validation top-5 error")
    else:
        _plot_costs(ax_nll, ax_err, train, tests, tx, ex)
    # a logged rate is the one its batches ran with: constant back to the previous record
    _curve(ax_lr, tx, [r.get("rate", float("nan")) for r in train], "-", "tab:green", None,
           drawstyle="steps-pre")
    _mark_rates(rate_changes(train, per or 1), (ax_nll, ax_err, ax_lr))
    _label(ax_nll, ax_err, ax_lr, name, per is not None)
    rate_of = next((r["rate_of"] for r in reversed(train) if r.get("rate_of")), None)
    if rate_of:  # runs written before the record named it keep the plain label
        ax_lr.set_ylabel(f"rate\n({rate_of})")
    if not classifier:
        ax_nll.set_ylabel("cost")
    fig.tight_layout()
    return fig


def _plot_costs(ax_cost, ax_err, train: list[dict], tests: list[dict], tx, ex) -> None:
    """A net without a classifier: each cost layer by name; no error rates to draw."""
    names = list(dict.fromkeys(k for r in train for k in r.get("costs", {})))
    for name in names:
        _curve(ax_cost, tx, [r.get("costs", {}).get(name, float("nan")) for r in train], "-",
               None, f"training {name}", alpha=0.6)
        _curve(ax_cost, ex, [r.get("val_costs", {}).get(name, float("nan")) for r in tests],
               "o-", None, f"validation {name}")
    ax_err.text(0.5, 0.5, "no classifier: no error rates", transform=ax_err.transAxes,
                ha="center", va="center", color="grey")


def _curve(ax, xs: list, ys: list, fmt: str, color: str | None, label: str | None,
           **kw) -> None:
    """One line, drawn (and so listed in the legend) only when it has points."""
    if xs:
        ax.plot(xs, ys, fmt, color=color, label=label, **kw)


def _mark_rates(changes: list[tuple[float, float]], axes) -> None:
    for x, rate in changes:
        for ax in axes:
            ax.axvline(x, color="grey", linestyle=":", linewidth=1)
        axes[0].annotate(f"rate {rate:.2g}", (x, 1), xycoords=("data", "axes fraction"),
                         rotation=90, va="top", ha="right", fontsize=7, color="grey")


def _label(ax_nll, ax_err, ax_lr, name: str, in_epochs: bool) -> None:
    ax_nll.set_title(f"{name}: cost and error per {'epoch' if in_epochs else 'step'}")
    ax_nll.set_ylabel("nll")
    ax_err.set_ylabel("error (%)")
    ax_lr.set_ylabel("rate")
    ax_lr.set_xlabel("epoch" if in_epochs else "step (stopped in its first epoch)")
    rates = [v for line in ax_lr.get_lines() for v in line.get_ydata() if v == v]
    # log scale for steps and exponential decay; linear for a rate that reaches (near) 0, as a
    # cosine to final=0 does, where a log axis would spend most of its height on the last batch
    if rates and min(rates) > 0 and max(rates) / min(rates) <= 1e4:
        ax_lr.set_yscale("log")
    for ax in (ax_nll, ax_err):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    ax_lr.grid(alpha=0.3)
