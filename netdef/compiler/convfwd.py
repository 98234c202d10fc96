"""The CPU forward algorithm of a convolution: NNPACK where it is faster than oneDNN.

PyTorch runs every fp32 CPU convolution through oneDNN (mkldnn) while that backend is on, and
otherwise picks NNPACK for stride-1 convolutions of batches of 16 or more (ATen's
``use_nnpack``: NCHW float32, kernels up to 16×16, padding below the kernel size). On an AVX2
CPU NNPACK's forward beat oneDNN's for AlexNet's stride-1 layers (docs/performance.md "CPU
convolution forward: NNPACK where it beats oneDNN" has the measurements). The backward pass is
left to oneDNN: ``convolution_backward`` chooses its backend when it runs, with oneDNN back on,
so gradients are computed exactly as before.

NNPACK's kernels go no wider than AVX2, so on a CPU with AVX-512 oneDNN wins and NNPACK is
never chosen; nor for channels-last inputs (NNPACK reads NCHW only, and its NCHW output would
undo the layout).

NNPACK's 3×3 kernels use Winograd transforms, so outputs differ from oneDNN's by float
rounding (about 1e-5 relative); the algorithm is fixed per shape, so runs stay repeatable.
``NETDEF_CPU_CONV=onednn`` keeps oneDNN for every forward.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

MIN_BATCH = 16  # ATen's use_nnpack: below this PyTorch would pick its slow im2col path


def _switch():
    """torch's oneDNN on/off switch (private; None if this torch lacks it)."""
    get = getattr(torch._C, "_get_mkldnn_enabled", None)
    put = getattr(torch._C, "_set_mkldnn_enabled", None)
    return (get, put) if get and put else None


_SWITCH = _switch()
_AVX512 = torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def _nchw(x: torch.Tensor) -> bool:
    """Stored as NCHW (for one channel both layouts are contiguous: look at the strides)."""
    return x.is_contiguous() and (x.shape[1] == 1 and x.stride(1) != 1 or x.shape[1] > 1)


def wants_nnpack(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> bool:
    """Whether this forward should leave oneDNN for NNPACK (see the module docstring)."""
    return (_SWITCH is not None and os.environ.get("NETDEF_CPU_CONV", "auto") != "onednn"
            and x.device.type == "cpu" and x.dtype == torch.float32 and w.dtype == torch.float32
            and stride == 1 and x.dim() == 4 and x.shape[0] >= MIN_BATCH
            and w.shape[2] < 17 and w.shape[3] < 17 and padding < min(w.shape[2], w.shape[3])
            and _nchw(x) and not _AVX512 and torch.backends.nnpack.is_available()
            and _SWITCH[0]() and not torch.is_autocast_enabled("cpu")
            and not torch.compiler.is_compiling())


def conv2d(x: torch.Tensor, w: torch.Tensor, bias, stride: int, padding: int,
           groups: int) -> torch.Tensor:
    """``F.conv2d`` (N, C, H, W) -> (N, F, H', W') with the faster CPU forward where it applies."""
    if not wants_nnpack(x, w, stride, padding):
        return F.conv2d(x, w, bias, stride=stride, padding=padding, groups=groups)
    _SWITCH[1](False)
    try:
        return F.conv2d(x, w, bias, stride=stride, padding=padding, groups=groups)
    finally:
        _SWITCH[1](True)
