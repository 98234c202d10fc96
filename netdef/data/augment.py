"""The paper's augmentation as pure torch functions on uint8 (N, C, S, S) batches, on any device.

Krizhevsky et al. 2012, §4.1: random 224×224 patches and their horizontal reflections; PCA
lighting ("to each RGB image pixel we add [p1, p2, p3][α1λ1, α2λ2, α3λ3]ᵀ … αi ~ N(0, 0.1)",
drawn once per image per presentation — for RGB data; grey (1-channel) data gets no colour
noise, there being no colours to vary); at test time the four corner and the centre patches and
their reflections (ten views). Mean subtraction uses the centre crop of the mean image whatever
the crop, as cuda-convnet2's ImageNet provider did (``data_mean_crop``).

Randomness is counter-based: every draw is a hash of (seed, epoch, image index, stream), made on
the CPU with numpy, so a batch depends only on which images it holds, the same on one process
or many, in a worker or on the GPU, and after a resume. Only the arithmetic runs on the device,
and it is the same elementwise float32 steps everywhere, so the CPU and CUDA paths agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_STREAMS = 9       # 0-1 offsets, 2 flip, 3-8 three Box-Muller pairs for the lighting alphas


@dataclass
class TrainParams:
    """Per-image augmentation draws for one batch (CPU tensors)."""

    oy: torch.Tensor        # int64 (N,) crop top
    ox: torch.Tensor        # int64 (N,) crop left
    flip: torch.Tensor      # bool (N,) mirror horizontally
    shift: torch.Tensor     # float32 (N, C): PCA lighting Σᵢ αᵢλᵢpᵢ in 0..255 units (0 if C ≠ 3)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniforms(seed: int, epoch: int, index: np.ndarray, streams: int = _STREAMS) -> np.ndarray:
    """float64 (N, streams) in [0, 1): a hash of (seed, epoch, index, stream), no state."""
    mask = (1 << 64) - 1
    with np.errstate(over="ignore"):
        key = _mix(np.array([seed & mask], dtype=np.uint64))
        key = _mix(key ^ np.array([epoch & mask], dtype=np.uint64) * _GOLDEN)
        idx = np.asarray(index, dtype=np.int64).astype(np.uint64)
        base = _mix(key ^ (idx + np.uint64(1)) * _GOLDEN)                       # (N,)
        k = np.arange(1, streams + 1, dtype=np.uint64) * _GOLDEN               # (streams,)
        bits = _mix(base[:, None] + k[None, :])                                 # (N, streams)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def train_params(seed: int, epoch: int, index: np.ndarray, *, image_size: int, inner_size: int,
                 color_noise: float, eigval: np.ndarray, eigvec: np.ndarray,
                 random_crops: bool = True, mirrors: bool = True) -> TrainParams:
    """Crop offsets, mirrors and lighting shifts for the images ``index`` in ``epoch``;
    ``eigval`` (C,) and ``eigvec`` (C, C) are the data's pixel PCA: lighting for C = 3 only.
    ``random_crops=False`` takes the centre crop, ``mirrors=False`` never mirrors (the paper's
    ablation of §4.1); the lighting draws stay the same either way."""
    u = uniforms(seed, epoch, index)                                           # (N, 9)
    span = image_size - inner_size + 1
    oy = np.minimum((u[:, 0] * span).astype(np.int64), span - 1)
    ox = np.minimum((u[:, 1] * span).astype(np.int64), span - 1)
    if not random_crops:
        oy = ox = np.full(len(u), center_offset(image_size, inner_size), dtype=np.int64)
    flip = (u[:, 2] < 0.5) & mirrors
    radius = np.sqrt(-2.0 * np.log1p(-u[:, 3:6]))                              # Box-Muller
    alpha = (radius * np.cos(2 * np.pi * u[:, 6:9]) * color_noise).astype(np.float32)  # (N, 3)
    channels = len(eigval)
    shift = (lighting_shift(torch.from_numpy(alpha), eigval, eigvec) if channels == 3
             else torch.zeros(len(alpha), channels))
    return TrainParams(torch.from_numpy(oy), torch.from_numpy(ox), torch.from_numpy(flip), shift)


def lighting_shift(alpha: torch.Tensor, eigval, eigvec) -> torch.Tensor:
    """float32 (N, 3): Σᵢ αᵢλᵢpᵢ × 255 (the PCA is of pixels in [0, 1]; images are 0..255)."""
    lam = torch.as_tensor(np.asarray(eigval, dtype=np.float32))                # (3,)
    vec = torch.as_tensor(np.asarray(eigvec, dtype=np.float32))                # (3, 3) columns pᵢ
    return ((alpha * lam) @ vec.T) * 255.0                                     # (N, 3)


def crop_flip(images: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, flip: torch.Tensor,
              inner: int) -> torch.Tensor:
    """uint8 (N, C, S, S) -> (N, C, inner, inner): image n cropped at (oy[n], ox[n]), mirrored
    where flip[n]. A per-image slice loop on the CPU, one gather on other devices; both only
    select pixels, so they agree exactly."""
    if images.device.type != "cpu":
        return crop_flip_gather(images, oy, ox, flip, inner)
    # numpy slices, not torch's: a torch slice and copy costs microseconds of dispatch per
    # image (0.61 against 0.24 ms a batch of 64 at 56x56, docs/performance.md "The
    # in-process loader"), the same bytes either way
    src = images.numpy()
    out = np.empty((src.shape[0], src.shape[1], inner, inner), dtype=src.dtype)
    for n, (y, x, f) in enumerate(zip(oy.tolist(), ox.tolist(), flip.tolist(), strict=True)):
        patch = src[n, :, y:y + inner, x:x + inner]                         # (C, i, i)
        out[n] = patch[:, :, ::-1] if f else patch
    return torch.from_numpy(out)


def crop_flip_gather(images: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor,
                     flip: torch.Tensor, inner: int) -> torch.Tensor:
    """:func:`crop_flip` as a single advanced-indexing gather (few kernels on a GPU)."""
    dev = images.device
    ar = torch.arange(inner, device=dev)
    rows = oy.to(dev)[:, None] + ar                                            # (N, inner)
    cols = torch.where(flip.to(dev)[:, None], inner - 1 - ar, ar) + ox.to(dev)[:, None]
    n = torch.arange(images.shape[0], device=dev)[:, None, None, None]
    c = torch.arange(images.shape[1], device=dev)[None, :, None, None]
    return images[n, c, rows[:, None, :, None], cols[:, None, None, :]]        # (N, C, i, i)


def center_offset(image_size: int, inner: int) -> int:
    """cuda-convnet's border: (S - inner) // 2."""
    return (image_size - inner) // 2


def mean_crop(mean: np.ndarray, inner: int) -> torch.Tensor:
    """float32 (C, inner, inner): the centre crop of the (C, S, S) mean image."""
    b = center_offset(mean.shape[-1], inner)
    return torch.from_numpy(np.ascontiguousarray(mean[:, b:b + inner, b:b + inner],
                                                 dtype=np.float32))


def normalize(crops: torch.Tensor, mean_c: torch.Tensor, shift: torch.Tensor | None = None
              ) -> torch.Tensor:
    """uint8 (N, ..., C, i, i) -> float32: minus the mean crop, plus a per-image (N, C) shift.
    On the CPU numpy's one thread does it (as fast as torch's team here, and no parallel region
    for the loader's share of the cores); the same float32 subtraction and addition, so the
    same bits as on a GPU."""
    if crops.device.type == "cpu":
        x = np.subtract(crops.numpy(), mean_c.numpy(), dtype=np.float32)
        if shift is not None:
            x += shift.numpy()[:, :, None, None]                             # (N, C, 1, 1)
        return torch.from_numpy(x)
    x = torch.sub(crops, mean_c.to(crops.device))  # uint8 − float32 -> float32 in one pass
    if shift is not None:
        x.add_(shift.to(crops.device)[:, :, None, None])                     # (N, C, 1, 1)
    return x


def augment_train(images: torch.Tensor, p: TrainParams, mean_c: torch.Tensor, inner: int
                  ) -> torch.Tensor:
    """uint8 (N, C, S, S) -> float32 (N, C, inner, inner): crop, mirror, mean, lighting."""
    return normalize(crop_flip(images, p.oy, p.ox, p.flip, inner), mean_c, p.shift)


def center_crop(images: torch.Tensor, inner: int) -> torch.Tensor:
    """uint8 (N, C, S, S) -> (N, C, inner, inner): the centre patch (the test view)."""
    b = center_offset(images.shape[-1], inner)
    return images[:, :, b:b + inner, b:b + inner]


def ten_views(images: torch.Tensor, inner: int) -> torch.Tensor:
    """uint8 (N, C, S, S) -> (N, 10, C, inner, inner): the four corners and the centre, then
    the same five mirrored (the paper's ten test patches, §4.1)."""
    s, b = images.shape[-1], center_offset(images.shape[-1], inner)
    far = s - inner
    starts = [(0, 0), (0, far), (far, 0), (far, far), (b, b)]
    views = [images[:, :, y:y + inner, x:x + inner] for y, x in starts]
    views += [v.flip(-1) for v in views]
    return torch.stack(views, dim=1)
