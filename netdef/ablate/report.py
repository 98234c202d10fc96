"""The comparisons of every claim, and ``ablate.json`` / ``ablate.md`` (torch-free).

Per claim and variant: the claim's number for base and variant, mean ± standard deviation over
the seeds, the difference and its verdict (:mod:`netdef.ablate.stats`); beside it the validation
top-1 error and the overfitting gap (validation minus training error). The page states the data
set, epochs, seeds, devices and wall time, so a reader can judge the budget behind each verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..files import write_atomic
from .claims import GAP, STEPS, VAL_TOP1, Claim
from .plan import Plan, PlannedVariant
from .results import RunResult
from .stats import SEPARATION, Comparison, compare


@dataclass(kw_only=True)
class Setting:
    """What the runs were: the facts a results page must state."""

    experiment: str
    data: str
    classes: int
    channels: int
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
    val_top1: Comparison  # the bar chart's number, for every variant
    others: dict[str, Comparison]  # the claim's ``also`` numbers
    runs: list[RunResult]

    def to_dict(self) -> dict:
        return {"variant": self.variant.name, "description": self.variant.variant.description,
                "changes": self.variant.variant.changes,
                "overrides": self.variant.variant.overrides, "params": self.variant.params,
                "macs": self.variant.macs, "metric": self.claim.metric,
                "primary": self.primary.to_dict(), "val_top1": self.val_top1.to_dict(),
                "also": {k: c.to_dict() for k, c in self.others.items()},
                "runs": [r.to_dict() for r in self.runs]}


def compare_claims(plan: Plan, results: list[RunResult], steps: int) -> list[VariantReport]:
    """Every variant of every claim against the base, seed by seed."""
    base = _by_seed(results, plan.base.name, plan.seeds)
    out = []
    for claim, variants in plan.claims:
        for pv in variants:
            if not pv.variant.trains:  # ten-view: the base's own checkpoints, two ways
                views = compare([r.views["ten"] for r in base], [r.views["one"] for r in base],
                                paired=True)
                out.append(VariantReport(claim=claim, variant=pv, primary=views,
                                         val_top1=views, others={}, runs=base))
                continue
            runs = _by_seed(results, pv.name, plan.seeds)

            def on(metric: str, expected: int = 1, runs=runs) -> Comparison:
                number = _NUMBERS[metric]
                return compare([number(r) for r in base], [number(r) for r in runs],
                               expected=expected, limit=steps if metric == STEPS else None)

            out.append(VariantReport(claim=claim, variant=pv, primary=on(claim.metric),
                                     val_top1=on(VAL_TOP1),
                                     others={m: on(m, sign) for m, sign in claim.also},
                                     runs=runs))
    return out


_NUMBERS = {VAL_TOP1: lambda r: r.val_top1, STEPS: lambda r: r.steps_to_threshold,
            GAP: lambda r: r.gap}


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
    return write_atomic(path, text, what="the report")


def write_json(path: Path, data: dict) -> Path:
    return write_text(path, json.dumps(data, indent=1, default=_plain) + "\n")


def _plain(x):
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON: {type(x).__name__}")
