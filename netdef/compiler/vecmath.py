"""Intel MKL's vector math (VML) settled before a net runs, so that a run's numbers do not
depend on which process computed them.

ATen sends contiguous float32/float64 unary ops on the CPU (``sqrt``, ``exp``, ``log``,
``tanh``, …) to MKL's VML, each intra-op thread calling it on its chunk. oneMKL picks each
VML function's kernel on the function's first call in a process; when that first call runs on
several threads at once, one thread can run a low-accuracy kernel on its whole chunk of that
call (github.com/pytorch/pytorch/issues/188792; oneMKL 2024.2, as in PyTorch's wheels). In
netdef that was cmrnorm's ``sqrt`` (``netdef/compiler/lrn.py``): from identical inputs, the
quickstart's first normalisation gave other bits in 2 of 60 fresh processes, and such a run
ended 2 epochs at 31.1 % validation error instead of 33.4 % (docs/performance.md "One process
like another"). One call on one element, in this thread (too small for a parallel region),
settles a function's kernel for the process; :func:`settle_vector_math` makes that call for
every unary function ATen may send to VML, in both precisions, once per process.
"""

from __future__ import annotations

import functools

import torch

# ATen's VML-backed unary ops (aten/src/ATen/cpu/vml.h) and their neighbours: a call on one
# element costs microseconds, so the list errs on the side of more. 0.5 is in every domain.
VECTOR_MATH = ("abs", "acos", "asin", "atan", "ceil", "cos", "cosh", "erf", "erfc", "erfinv",
               "exp", "expm1", "floor", "lgamma", "log", "log10", "log1p", "log2", "rsqrt",
               "sigmoid", "sin", "sinh", "sqrt", "tan", "tanh", "trunc")


@functools.cache
def settle_vector_math() -> tuple[str, ...]:
    """Call each of :data:`VECTOR_MATH` once on a one-element float32 and float64 CPU tensor,
    in the calling thread; the first call in a process does it, later calls return at once.
    Returns the names called."""
    for dtype in (torch.float32, torch.float64):
        x = torch.full((1,), 0.5, dtype=dtype)
        for name in VECTOR_MATH:
            getattr(torch, name)(x)
    return VECTOR_MATH
