"""The runner: a stop in the middle of a run ends the ablation cleanly, and the next call with
the same folder reuses the finished runs and resumes the stopped one."""

from __future__ import annotations

import pytest

from netdef.ablate import AblateOptions, RunStarted, make_plan, run_ablation
from netdef.ablate.runner import inspect_runs
from netdef.train import Progress, StopFlag

from ablatenets import write_experiment


@pytest.fixture(autouse=True)
def cache(eval_cache):
    return eval_cache


def test_stopped_then_continued(tmp_path):
    exp = write_experiment(tmp_path / "src", epochs=1)
    plan = make_plan(AblateOptions(experiment=str(exp), claims=("dropout",), seeds=1,
                                   out=str(tmp_path / "out")))
    stop, seen = StopFlag(), []

    def on_event(event):
        seen.append(event)
        if isinstance(event, Progress) and event.step == 1 and len(
                [e for e in seen if isinstance(e, RunStarted)]) == 2:
            stop.request()  # the second run (no-dropout) stops after its first batch

    result = run_ablation(plan, on_event=on_event, stop=stop)
    assert result.interrupted and result.json is None
    assert not (plan.out / "ablate.json").exists()
    assert [r.action for r in inspect_runs(plan)] == ["reuse", "resume"]

    started = []
    done = run_ablation(plan, on_event=lambda e: isinstance(e, RunStarted) and started.append(e))
    assert [e.action for e in started] == ["reuse", "resume"]
    assert done.json.is_file() and [r.variant.name for r in done.reports] == ["no-dropout"]
    assert all(r.steps == 3 for r in done.reports[0].runs)
