"""``netdef ablate`` from a checked plan to the report: runs, ten-view scores, pictures, pages."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..train import StopFlag
from .claims import STEPS
from .events import ReportWritten
from .markdown import render_markdown
from .pictures import render_curves, render_differences
from .plan import Plan
from .report import Setting, VariantReport, compare_claims, report_dict, write_json, write_text
from .results import RunResult
from .runner import inspect_runs, score_views, train_runs

JSON, MARKDOWN, DIFFERENCES = "ablate.json", "ablate.md", "differences.png"


@dataclass(kw_only=True)
class AblateResult:
    """How it ended: the report's files, or ``interrupted`` (rerun to continue)."""

    interrupted: bool = False
    json: Path | None = None
    markdown: Path | None = None
    pictures: list[Path] = field(default_factory=list)
    reports: list[VariantReport] = field(default_factory=list)
    setting: Setting | None = None


def run_ablation(plan: Plan, on_event: Callable[[object], None] = lambda e: None,
                 stop: StopFlag | None = None, command: str = "") -> AblateResult:
    """Train (or reuse) every run of the plan, then write ablate.json, ablate.md and the
    pictures into ``plan.out``. Stale run folders raise NetdefError before any training."""
    t0 = time.perf_counter()
    runs = inspect_runs(plan)
    outcome = train_runs(plan, runs, on_event, stop)
    if outcome.interrupted:
        return AblateResult(interrupted=True)
    results = outcome.results
    if any(not v.variant.trains for _, vs in plan.claims for v in vs):
        score_views(plan, results, on_event)
    base = [r for r in results if r.variant == plan.base.name]
    reports = compare_claims(plan, results, base[0].steps)
    pictures = _pictures(plan, results, reports)
    setting = _setting(plan, results, time.perf_counter() - t0, command)
    json_path = write_json(plan.out / JSON, report_dict(setting, plan, reports, base))
    names = {k: p.name for k, p in pictures.items()}
    md_path = write_text(plan.out / MARKDOWN, render_markdown(setting, plan, reports, names))
    on_event(ReportWritten(json=str(json_path), markdown=str(md_path),
                           pictures=tuple(str(p) for p in pictures.values())))
    return AblateResult(json=json_path, markdown=md_path, pictures=list(pictures.values()),
                        reports=reports, setting=setting)


def _pictures(plan: Plan, results: list[RunResult], reports: list[VariantReport]
              ) -> dict[str, Path]:
    out = {}
    for claim, variants in plan.claims:
        trained = [v for v in variants if v.variant.trains]
        if not trained:
            continue
        sides = {v.name: [r for r in results if r.variant == v.name]
                 for v in [plan.base] + trained}
        threshold = plan.options.threshold if claim.metric == STEPS else None
        out[claim.name] = render_curves(claim.name, sides, plan.out / f"curves-{claim.name}.png",
                                        threshold)
    out["differences"] = render_differences(reports, plan.out / DIFFERENCES)
    return out


def _setting(plan: Plan, results: list[RunResult], wall: float, command: str) -> Setting:
    from ..data import DataOptions, open_dataset

    exp = plan.exp  # the pack the runs trained on (made by the first of them)
    data = open_dataset(plan.data, options=DataOptions.from_experiment(exp))
    base = [r for r in results if r.variant == plan.base.name]
    return Setting(experiment=plan.options.experiment, data=plan.data,
                   classes=len(data.class_names), channels=data.channels,
                   num_train=data.num_train,
                   num_val=data.num_val, image_size=exp.image_size, inner_size=exp.inner_size,
                   batch_size=exp.batch_size, epochs=exp.epochs, steps=base[0].steps,
                   seeds=list(plan.seeds), devices=exp.devices,
                   threshold=plan.options.threshold,
                   train_seconds=sum(r.seconds or 0.0 for r in results), wall_seconds=wall,
                   machine=machine(exp.devices), command=command)


def machine(devices: str) -> dict[str, str]:
    """Where the numbers were measured: CPU, core count, GPU (if used), library versions."""
    import torch

    from ..train.rundir import versions

    info = {"cpu": platform.processor() or platform.machine(), "cores": str(os.cpu_count()),
            "system": platform.platform(terse=True)}
    if "cuda" in devices or (devices == "auto" and torch.cuda.is_available()):
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    info.update(versions())
    return info
