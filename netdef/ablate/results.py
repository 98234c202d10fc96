"""One run's numbers, read back from its ``metrics.jsonl`` (torch-free).

The training loop logs a ``train`` record every ``log-freq`` batches (the mean nll and top-1
error of those batches, in training mode) and a ``test`` record after each test (validation nll,
top-1, top-5 on the centre crops, and the training means since the last test). The numbers a
claim is judged on are the last test's, and, for the relu claim, the first step at which the
logged training error is at or below the threshold (the paper's Figure 1 reads 25 %).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..show import read_metrics


@dataclass(kw_only=True)
class RunResult:
    """The final numbers and the curves of one (variant, seed) run; errors are fractions."""

    variant: str
    seed: int
    folder: str
    steps: int
    steps_per_epoch: float
    seconds: float | None
    val_top1: float | None
    val_top5: float | None
    val_nll: float | None
    train_top1: float | None  # training mode (dropout and augmentation on), last epochs' mean
    train_nll: float | None
    best_val_top1: float | None
    steps_to_threshold: int | None  # None: never at or below the threshold
    train_curve: list[tuple[float, float]] = field(default_factory=list)  # (epoch, top-1)
    val_curve: list[tuple[float, float]] = field(default_factory=list)  # (epoch, top-1)
    views: dict[str, float] = field(default_factory=dict)  # ten-view: "one", "ten" top-1

    @property
    def gap(self) -> float | None:
        """Validation minus training top-1 error: how much the run overfits."""
        if self.val_top1 is None or self.train_top1 is None:
            return None
        return self.val_top1 - self.train_top1

    def to_dict(self, curves: bool = False) -> dict:
        out = asdict(self)
        out["gap"] = self.gap
        if not curves:
            out.pop("train_curve")
            out.pop("val_curve")
        return out


def read_run(folder: Path, variant: str, seed: int, threshold: float,
             seconds: float | None) -> RunResult:
    """The run's numbers from ``folder/metrics.jsonl`` (NetdefError if it has none)."""
    records = read_metrics(folder)
    train = [r for r in records if r["kind"] == "train"]
    tests = [r for r in records if r["kind"] == "test"]
    per = _steps_per_epoch(tests, train)
    last = tests[-1] if tests else {}
    hit = next((r["step"] for r in train if _finite(r.get("top1_err"))
                and r["top1_err"] <= threshold), None)
    scored = [r["val_top1_err"] for r in tests if _finite(r.get("val_top1_err"))]
    return RunResult(
        variant=variant, seed=seed, folder=str(folder),
        steps=max((r["step"] for r in records), default=0), steps_per_epoch=per,
        seconds=seconds, val_top1=_num(last.get("val_top1_err")),
        val_top5=_num(last.get("val_top5_err")), val_nll=_num(last.get("val_nll")),
        train_top1=_num(last.get("train_top1_err")), train_nll=_num(last.get("train_nll")),
        best_val_top1=min(scored) if scored else None, steps_to_threshold=hit,
        train_curve=[(r["step"] / per, r["top1_err"]) for r in train if _finite(r.get("top1_err"))],
        val_curve=[(r["epoch"], r["val_top1_err"]) for r in tests
                   if _finite(r.get("val_top1_err"))])


def _steps_per_epoch(tests: list[dict], train: list[dict]) -> float:
    for r in tests:
        if r.get("epoch"):
            return r["step"] / r["epoch"]
    return float(max((r.get("batch", 1) for r in train), default=1)) or 1.0


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and x == x and abs(x) != float("inf")


def _num(x) -> float | None:
    return float(x) if _finite(x) else None
