"""The comparisons of every claim, and ``ablate.json`` / ``ablate.md`` (torch-free).

Per claim and variant: the claim's number for base and variant, mean ± standard deviation over
the seeds, the difference and its verdict (:mod:`netdef.ablate.stats`); beside it the validation
top-1 error and the overfitting gap (validation minus training error). The page states the data
set, epochs, seeds, devices and wall time, so a reader can judge the budget behind each verdict.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NetdefError
from .claims import STEPS, Claim
from .plan import Plan, PlannedVariant
from .results import RunResult
from .stats import SEPARATION, Comparison, compare


@dataclass(kw_only=True)
class Setting:
    """What the runs were: the facts a results page must state."""

    experiment: str
    data: str
    classes: int
    num_train: int
    num_val: int
    image_size: int
    inner_size: int
    batch_size: int
    epochs: int
    steps: int  # per run
    seeds: list[int]
    devices: str
    threshold: float
    train_seconds: float  # every run's training time, summed (over resumed invocations too)
    wall_seconds: float  # this invocation, from plan to report
    machine: dict = field(default_factory=dict)
    command: str = ""


@dataclass(kw_only=True)
class VariantReport:
    """One variant of one claim against the base."""

    claim: Claim
    variant: PlannedVariant
    primary: Comparison  # on the claim's own number
    val_top1: Comparison
    gap: Comparison | None  # overfitting: validation minus training top-1
    runs: list[RunResult]

    def to_dict(self) -> dict:
        return {"variant": self.variant.name, "description": self.variant.variant.description,
                "changes": self.variant.variant.changes,
                "overrides": self.variant.variant.overrides, "params": self.variant.params,
                "macs": self.variant.macs, "metric": self.claim.metric,
                "primary": self.primary.to_dict(), "val_top1": self.val_top1.to_dict(),
                "gap": self.gap.to_dict() if self.gap else None,
                "runs": [r.to_dict() for r in self.runs]}


def compare_claims(plan: Plan, results: list[RunResult], steps: int) -> list[VariantReport]:
    """Every variant of every claim against the base, seed by seed."""
    base = _by_seed(results, plan.base.name, plan.seeds)
    out = []
    for claim, variants in plan.claims:
        for pv in variants:
            if not pv.variant.trains:  # ten-view: the base's own checkpoints, two ways
                ten = [r.views["ten"] for r in base]
                one = [r.views["one"] for r in base]
                views = compare(ten, one, paired=True)
                out.append(VariantReport(claim=claim, variant=pv, primary=views,
                                         val_top1=views, gap=None, runs=base))
                continue
            runs = _by_seed(results, pv.name, plan.seeds)
            val = compare([r.val_top1 for r in base], [r.val_top1 for r in runs])
            primary = (compare([r.steps_to_threshold for r in base],
                               [r.steps_to_threshold for r in runs], limit=steps)
                       if claim.metric == STEPS else val)
            gap = compare([r.gap for r in base], [r.gap for r in runs])
            out.append(VariantReport(claim=claim, variant=pv, primary=primary, val_top1=val,
                                     gap=gap, runs=runs))
    return out


def _by_seed(results: list[RunResult], variant: str, seeds: list[int]) -> list[RunResult]:
    found = {r.seed: r for r in results if r.variant == variant}
    return [found[s] for s in seeds]


def report_dict(setting: Setting, plan: Plan, reports: list[VariantReport],
                base: list[RunResult]) -> dict:
    """The content of ablate.json."""
    return {
        "setting": setting.__dict__,
        "separation": SEPARATION,
        "base": {"params": plan.base.params, "macs": plan.base.macs,
                 "runs": [r.to_dict(curves=True) for r in base]},
        "claims": [{"claim": c.name, "paper": c.paper, "where": c.where, "metric": c.metric,
                    "variants": [r.to_dict() for r in reports if r.claim is c]}
                   for c, _ in plan.claims],
    }


def write_text(path: Path, text: str) -> Path:
    """Write atomically (a temporary file renamed over the target)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise NetdefError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def write_json(path: Path, data: dict) -> Path:
    return write_text(path, json.dumps(data, indent=1, default=_plain) + "\n")


def _plain(x):
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON: {type(x).__name__}")
