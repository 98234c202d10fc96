"""Training curves from a run's ``metrics.jsonl``: nll, top-1/top-5 error and the rate.

Records are those :mod:`netdef.train.loop` appends: ``kind: train`` every ``log-freq`` batches
(``epoch`` 1-based, ``step``, ``nll``, ``top1_err``, ``rate``) and ``kind: test`` after each
test (``epoch`` completed, ``step``, ``val_nll``, ``val_top1_err``, ``val_top5_err``,
``train_nll``, ``train_top1_err``). The x axis is epochs: a test at the end of epoch e sits at
e; a training record at step s sits at s / (steps per epoch). A net without a classifier has
no nll or error fields: its cost layers are drawn by name (``costs`` and ``val_costs``).
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
        raise NetdefError(f"{path}: no such file; give a run folder made by 'netdef train' "
                          f"(it holds ckpt.pt and metrics.jsonl)")
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("kind") in ("train", "test"):
            records.append(record)
    if not records:
        raise NetdefError(f"{path}: no training or test records yet")
    return records


def steps_per_epoch(records: list[dict]) -> float:
    """From a test record (step / epoch), else the largest batch number seen."""
    for r in records:
        if r["kind"] == "test" and r.get("epoch"):
            return r["step"] / r["epoch"]
    return float(max((r.get("batch", 1) for r in records), default=1)) or 1.0


def rate_changes(train: list[dict], per_epoch: float) -> list[tuple[float, float]]:
    """(epoch, new rate) wherever the logged rate differs from the previous record's."""
    out, last = [], None
    for r in train:
        rate = r.get("rate")
        if last is not None and rate is not None and not _close(rate, last):
            out.append((r["step"] / per_epoch, rate))
        last = rate if rate is not None else last
    return out


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-30)


def render_cost(run: str | Path, out: str | Path):
    """Write the curves to ``out`` (PNG): nll, error and the rate of the first weight
    against epochs, with dashed lines where the rate changed. Returns the path."""
    records = read_metrics(run)
    per = steps_per_epoch(records)
    train = [r for r in records if r["kind"] == "train"]
    tests = [r for r in records if r["kind"] == "test"]
    plt = pyplot()
    fig, (ax_nll, ax_err, ax_lr) = plt.subplots(3, 1, figsize=(8, 8.5), sharex=True,
                                                 gridspec_kw={"height_ratios": [3, 3, 1.4]})
    tx = [r["step"] / per for r in train]
    ex = [r["epoch"] for r in tests]
    classifier = all("nll" in r for r in train)
    if classifier:
        ax_nll.plot(tx, [r["nll"] for r in train], color="tab:blue", alpha=0.6,
                    label="train nll")
        ax_nll.plot(ex, [r["val_nll"] for r in tests], "o-", color="tab:red",
                    label="validation nll")
        ax_err.plot(tx, [100 * r["top1_err"] for r in train], color="tab:blue", alpha=0.6,
                    label="train top-1")
        ax_err.plot(ex, [100 * r["val_top1_err"] for r in tests], "o-", color="tab:red",
                    label="validation top-1")
        ax_err.plot(ex, [100 * r["val_top5_err"] for r in tests], "s--", color="tab:orange",
                    label="validation top-5")
    else:
        _plot_costs(ax_nll, ax_err, train, tests, tx, ex)
    ax_lr.plot(tx, [r.get("rate", float("nan")) for r in train], color="tab:green")
    _mark_rates(rate_changes(train, per), (ax_nll, ax_err, ax_lr))
    _label(ax_nll, ax_err, ax_lr, run_folder(run).name)
    if not classifier:
        ax_nll.set_ylabel("cost")
    fig.tight_layout()
    return save_figure(fig, out)


def _plot_costs(ax_cost, ax_err, train: list[dict], tests: list[dict], tx, ex) -> None:
    """A net without a classifier: each cost layer by name; no error rates to draw."""
    names = list(dict.fromkeys(k for r in train for k in r.get("costs", {})))
    for name in names:
        ax_cost.plot(tx, [r.get("costs", {}).get(name, float("nan")) for r in train],
                     alpha=0.6, label=f"train {name}")
        ax_cost.plot(ex, [r.get("val_costs", {}).get(name, float("nan")) for r in tests], "o-",
                     label=f"validation {name}")
    ax_err.plot([], [], label="no classifier: no error rates")


def _mark_rates(changes: list[tuple[float, float]], axes) -> None:
    for x, rate in changes:
        for ax in axes:
            ax.axvline(x, color="grey", linestyle=":", linewidth=1)
        axes[0].annotate(f"rate {rate:.2g}", (x, 1), xycoords=("data", "axes fraction"),
                         rotation=90, va="top", ha="right", fontsize=7, color="grey")


def _label(ax_nll, ax_err, ax_lr, name: str) -> None:
    ax_nll.set_title(f"{name}: cost and error per epoch")
    ax_nll.set_ylabel("nll")
    ax_err.set_ylabel("error (%)")
    ax_lr.set_ylabel("rate")
    ax_lr.set_xlabel("epoch")
    rates = [v for line in ax_lr.get_lines() for v in line.get_ydata() if v == v]
    if rates and min(rates) > 0:
        ax_lr.set_yscale("log")
    for ax in (ax_nll, ax_err):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_lr.grid(alpha=0.3)
