"""``netdef ablate``: the paper's claims about its ingredients, each tested by training the
user's net beside a variant without the ingredient (Krizhevsky et al. 2012, §3–§4).

    plan = make_plan(AblateOptions(experiment="examples/quickstart.cfg", claims=("lrn",)))
    result = run_ablation(plan, on_event=print)       # OUT/ablate.json, ablate.md, pictures

Each variant is a transformation of the user's parsed files (:mod:`netdef.ablate.transform`,
torch-free), written as a normal experiment and checked like any other before anything trains.
"""

from __future__ import annotations

from typing import Any

from .claims import CLAIMS, Claim, known_claims
from .events import ReportWritten, RunDone, RunStarted, ViewsScored
from .plan import AblateOptions, Plan, PlannedVariant, make_plan

__all__ = ["CLAIMS", "Claim", "known_claims", "AblateOptions", "Plan", "PlannedVariant",
           "make_plan", "run_ablation", "AblateResult", "RunStarted", "RunDone", "ViewsScored",
           "ReportWritten"]

_LAZY = {"run_ablation": "netdef.ablate.run", "AblateResult": "netdef.ablate.run"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # training needs torch; planning does not (PEP 562)
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'netdef.ablate' has no attribute {name!r}")
