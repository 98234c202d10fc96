"""Seed-to-seed statistics and the verdict on one comparison (pure Python, no torch).

Each claim compares a number (validation top-1 error, or steps to a training-error threshold)
of the base and of a variant over the same seeds. The difference Δ = mean(variant) − mean(base)
counts as separable when it passes a two-sided t-test at the 5 % level: |Δ| exceeds
t(0.975, df) standard errors, the error taken from the seed-to-seed standard deviations
(Welch: SE² = sd_b²/n_b + sd_v²/n_v with the Welch–Satterthwaite df; for the ten-view claim,
where both numbers come from the same checkpoints, from the per-seed differences, df = n − 1).
Anything else is "not separable at this budget": more seeds or epochs might separate it, or
nothing might. With three seeds t is about 2.8, so only a difference well outside the spread of
the seeds counts.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["paper's sign", "opposite sign", "not separable"]
SEPARATION = "a two-sided t-test at the 5% level (Welch; paired for ten-view)"
# t(0.975, df) for df = 1 … 30 (any statistics table); beyond 30, the normal 1.96 is within 4 %.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: float) -> float:
    """The two-sided 5 % critical value of Student's t; a fractional df rounds down (the
    stricter value)."""
    k = max(1, math.floor(df + 1e-9))
    return _T975[k - 1] if k <= len(_T975) else 1.96


@dataclass(frozen=True, kw_only=True)
class Summary:
    """One side's values over the seeds; ``None`` values did not reach a threshold."""

    values: tuple[float | None, ...]

    @property
    def reached(self) -> list[float]:
        return [v for v in self.values if v is not None]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def censored(self) -> int:
        return self.n - len(self.reached)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values and not self.censored else None

    @property
    def sd(self) -> float | None:
        """The sample standard deviation over seeds (None for fewer than two)."""
        return statistics.stdev(self.values) if self.n >= 2 and not self.censored else None


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Base against variant on one number, and the verdict."""

    base: Summary
    variant: Summary
    delta: float | None
    se: float | None
    margin: float | None  # t · SE: |Δ| beyond it is separable (the bar chart's error bar)
    verdict: Verdict
    reason: str

    @property
    def ratio(self) -> float | None:
        """mean(variant) / mean(base), for counts such as steps (None when undefined)."""
        b, v = self.base.mean, self.variant.mean
        return v / b if b and v is not None else None

    def to_dict(self) -> dict:
        return {"base": list(self.base.values), "variant": list(self.variant.values),
                "base_mean": self.base.mean, "base_sd": self.base.sd,
                "variant_mean": self.variant.mean, "variant_sd": self.variant.sd,
                "delta": self.delta, "se": self.se, "margin": self.margin, "ratio": self.ratio,
                "verdict": self.verdict, "reason": self.reason}


def compare(base: list[float | None], variant: list[float | None], *, paired: bool = False,
            expected: int = 1, limit: int | None = None) -> Comparison:
    """The verdict on variant − base. ``None`` values did not reach a threshold within
    ``limit`` steps; ``paired``: both lists come from the same runs, seed by seed."""
    b, v = Summary(values=tuple(base)), Summary(values=tuple(variant))
    if b.censored or v.censored:
        return _censored(b, v, expected, limit)
    delta = v.mean - b.mean
    if b.n < 2 or v.n < 2:
        return Comparison(base=b, variant=v, delta=delta, se=None, margin=None,
                          verdict="not separable",
                          reason="one seed: no seed-to-seed spread to compare the difference "
                                 "with")
    se, df = _paired(base, variant) if paired else _welch(b, v)
    margin = t975(df) * se
    if abs(delta) <= margin:
        return Comparison(base=b, variant=v, delta=delta, se=se, margin=margin,
                          verdict="not separable",
                          reason=f"|Δ| ≤ {t975(df):.2f} × its standard error: within the "
                                 f"seed-to-seed spread")
    sign = "paper's sign" if delta * expected > 0 else "opposite sign"
    return Comparison(base=b, variant=v, delta=delta, se=se, margin=margin, verdict=sign,
                      reason=f"|Δ| > {t975(df):.2f} × its standard error")


def _welch(b: Summary, v: Summary) -> tuple[float, float]:
    """Welch's standard error of the difference of means and its Welch–Satterthwaite df."""
    qb, qv = b.sd ** 2 / b.n, v.sd ** 2 / v.n
    if qb + qv == 0:
        return 0.0, float(b.n + v.n - 2)
    df = (qb + qv) ** 2 / (qb ** 2 / (b.n - 1) + qv ** 2 / (v.n - 1))
    return math.sqrt(qb + qv), df


def _paired(base: list[float], variant: list[float]) -> tuple[float, float]:
    diffs = [v - b for b, v in zip(base, variant, strict=True)]
    return statistics.stdev(diffs) / math.sqrt(len(diffs)), float(len(diffs) - 1)


def _censored(b: Summary, v: Summary, expected: int, limit: int | None) -> Comparison:
    """Some runs never reached the threshold: only an all-or-nothing split says anything."""
    within = f" within {limit} steps" if limit else ""
    if b.censored == b.n and v.censored == v.n:
        reason = f"neither reached the threshold{within}: train longer or raise --threshold"
    elif b.n < 2 or v.n < 2:
        reason = "one seed: no seed-to-seed spread to compare the difference with"
    elif b.censored == 0 and v.censored == v.n:
        return Comparison(base=b, variant=v, delta=None, se=None, margin=None,
                          verdict="paper's sign" if expected > 0 else "opposite sign",
                          reason=f"every base run reached the threshold, no variant run "
                                 f"did{within}")
    elif v.censored == 0 and b.censored == b.n:
        return Comparison(base=b, variant=v, delta=None, se=None, margin=None,
                          verdict="opposite sign" if expected > 0 else "paper's sign",
                          reason=f"every variant run reached the threshold, no base run "
                                 f"did{within}")
    else:
        reason = (f"the threshold was reached in {len(b.reached)}/{b.n} base and "
                  f"{len(v.reached)}/{v.n} variant runs{within}")
    return Comparison(base=b, variant=v, delta=None, se=None, margin=None,
                      verdict="not separable", reason=reason)
