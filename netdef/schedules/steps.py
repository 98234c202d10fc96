"""Arithmetic shared by both schedule grammars: cuda-convnet2's discrete-exp steps, numbers."""

from __future__ import annotations

import math
import re

INT_MAX = 2**31 - 1  # the originals read integers into a C int
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d+")  # integers are plain: '4.0' is not one (cuda-convnet2)


def dexp_rate(base: float, t: float, n: int, k: int) -> float:
    """Step k of n of a discrete-exp schedule (cuda-convnet2 DiscreteExpParameterSchedule,
    cudaconvnet/src/lr.cu): step k < n−1 is the exp schedule sampled at progress k/(n−1);
    the last step is b/t, so n=1 gives just b/t."""
    return base / t if k >= n - 1 else base * t ** (-k / (n - 1))


def dexp_index(p: float, n: int) -> int:
    """cuda-convnet2's step at progress p: the first k with p <= (k+1)/n (else the last).
    Starts from ceil(p·n)−1 and corrects for rounding so the comparison is exactly theirs."""
    k = min(max(math.ceil(p * n) - 1, 0), n - 1)
    while k > 0 and p <= k / n:
        k -= 1
    while k < n - 1 and p > (k + 1) / n:
        k += 1
    return k


def number_text(x: float | int) -> str:
    """A number as written back: ``10``, ``0.1``, ``1e-05``."""
    r = str(x) if isinstance(x, int) else repr(float(x))
    return r[:-2] if r.endswith(".0") else r
