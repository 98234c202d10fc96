"""Training the planned runs into one folder, resumably, and scoring the ten-view claim.

``OUT/runs/<variant>/seed-<s>/`` is a normal run folder (``netdef train``'s). Before the first
batch every existing folder is inspected: a finished run is reused, an unfinished one resumed,
and one trained from other files, another experiment or more epochs is refused (all such
problems at once), so rerunning ``netdef ablate`` with the same folder continues where it
stopped and never mixes results of different nets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NetdefError
from ..files import write_atomic
from ..schema import read_experiment
from ..train import StopFlag, TrainOptions, read_checkpoint, train
from .events import RunDone, RunStarted, ViewsScored
from .plan import Plan, PlannedVariant
from .results import RunResult, read_run

SECONDS = "seconds.json"  # OUT/: training seconds per run, summed over resumed invocations
# Experiment keys that do not change what a run computes (checked against its checkpoint).
_FREE_KEYS = {"save", "epochs", "devices", "devices-used", "workers", "log-freq", "test-freq"}


@dataclass(kw_only=True)
class Run:
    """One (variant, seed) run and what to do with it."""

    variant: PlannedVariant
    seed: int
    folder: Path
    action: str = "train"  # "train", "resume" or "reuse"


@dataclass(kw_only=True)
class Outcome:
    """Every run's numbers, or ``interrupted`` when a signal stopped a run."""

    results: list[RunResult] = field(default_factory=list)
    interrupted: bool = False
    wall_seconds: float = 0.0


def run_folder(plan: Plan, variant: str, seed: int) -> Path:
    return plan.out / "runs" / variant / f"seed-{seed}"


def inspect_runs(plan: Plan) -> list[Run]:
    """Every run of the plan with its action; refuses stale folders, all at once."""
    runs, problems = [], []
    for pv in plan.trained():
        expected = read_experiment(pv.experiment)[0].model_dump(by_alias=True)
        for seed in plan.seeds:
            run = Run(variant=pv, seed=seed, folder=run_folder(plan, pv.name, seed))
            try:
                run.action = _action(run, plan.epochs, dict(expected, seed=seed))
            except NetdefError as exc:
                problems += exc.diagnostics
            runs.append(run)
    if problems:
        raise NetdefError(problems)
    return runs


def _action(run: Run, epochs: int, expected: dict) -> str:
    ckpt = run.folder / "ckpt.pt"
    if not ckpt.is_file():
        return "train"
    data = read_checkpoint(ckpt)
    texts = run.variant.checked.spec.texts
    stale = [what for what, then, now in (("definition", data.definition, texts.get("def", "")),
                                          ("params", data.params, texts.get("params", "")))
             if then != now]
    trained = data.experiment
    stale += [f"'{k}' ({trained.get(k)!r}, now {v!r})" for k, v in expected.items()
              if k not in _FREE_KEYS and trained.get(k) != v]
    if stale:
        raise NetdefError.at(run.folder, f"this run was trained with another {', '.join(stale)} "
                             f"than variant '{run.variant.name}' has now; remove the folder or "
                             f"give another --out")
    state = data.state
    done = int(state.get("epoch") or 0)
    if done > epochs:
        raise NetdefError.at(run.folder, f"the run has trained {done} epochs, more than the "
                             f"{epochs} asked for; give --epochs {done} or another --out")
    return "reuse" if done == epochs and not state.get("pending_test") else "resume"


def train_runs(plan: Plan, runs: list[Run], on_event: Callable[[object], None],
               stop: StopFlag | None = None) -> Outcome:
    """Train, resume or reuse each run in order; stop early (interrupted) on a signal."""
    t0, stop = time.perf_counter(), stop or StopFlag()
    seconds = _read_seconds(plan.out)
    outcome = Outcome()
    for index, run in enumerate(runs, start=1):
        key = f"{run.variant.name}/seed-{run.seed}"
        on_event(RunStarted(index=index, total=len(runs), variant=run.variant.name,
                            seed=run.seed, folder=str(run.folder), action=run.action))
        if run.action != "reuse":
            started = time.perf_counter()  # the whole run: data, compiling, training, tests
            finished = train(_options(run), on_event=on_event, stop=stop)
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - started
            _write_seconds(plan.out, seconds)
            if finished.interrupted:
                outcome.interrupted = True
                break
        result = read_run(run.folder, run.variant.name, run.seed, plan.options.threshold,
                          seconds.get(key))
        outcome.results.append(result)
        on_event(RunDone(variant=result.variant, seed=result.seed, val_top1=result.val_top1,
                         seconds=result.seconds))
    outcome.wall_seconds = time.perf_counter() - t0
    return outcome


def _options(run: Run) -> TrainOptions:
    overrides = {"seed": str(run.seed)}
    if run.action == "resume":
        return TrainOptions(str(run.variant.experiment), overrides=overrides,
                            resume=str(run.folder))
    stale = run.folder / "metrics.jsonl"  # from a run killed before its first checkpoint
    if stale.is_file():
        stale.unlink()
    overrides["save"] = str(run.folder.resolve())
    return TrainOptions(str(run.variant.experiment), overrides=overrides)


def score_views(plan: Plan, results: list[RunResult], on_event: Callable[[object], None]
                ) -> None:
    """Each base checkpoint on its centre crop and on the ten views (one evaluation pass)."""
    from ..evaluate import evaluate, load_model, open_eval_data

    for result in results:
        if result.variant != plan.base.name:
            continue
        t0 = time.perf_counter()
        model = load_model(Path(result.folder) / "ckpt.pt", devices=plan.exp.devices)
        scored = evaluate(model, open_eval_data(model), crops=10,
                          batch_size=plan.exp.batch_size)
        result.views = {"one": scored.one_crop.top1_err, "ten": scored.top1_err}
        on_event(ViewsScored(seed=result.seed, folder=result.folder,
                             one_view=result.views["one"], ten_views=result.views["ten"],
                             seconds=time.perf_counter() - t0))


def _read_seconds(out: Path) -> dict[str, float]:
    try:
        data = json.loads((out / SECONDS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} \
        if isinstance(data, dict) else {}


def _write_seconds(out: Path, seconds: dict[str, float]) -> None:
    write_atomic(out / SECONDS, json.dumps(seconds, indent=1, sort_keys=True),
                 what="the run times")
