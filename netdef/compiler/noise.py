"""Counter-based dropout masks: each mask element is a hash of (key, layer, element index), so a
mask depends on nothing but the numbers that name it, never on a generator's state.

The caller keys a forward pass with :meth:`~netdef.compiler.net.Net.set_noise` (the training
step passes a key made from the seed and the step). Each dropout layer then mixes that key with
its own name and hashes the index of each image, counted from ``first_image`` (a torchrun
rank's offset in the global batch), and of each element within the image (C, H, W).
So the masks are the same

- after a resume (no generator state to restore),
- on one process or on several ranks sharing a global batch,
- with towers folded into one op or run one by one (each member keeps its own name), and
- on the CPU and on CUDA, eager or under ``torch.compile`` (integer arithmetic is exact
  everywhere).

The hash is Wellons' ``lowbias32``, computed in int64 tensors with every product kept below
2⁶³ (:func:`_mul32_`), so no arithmetic ever overflows.
"""

from __future__ import annotations

import zlib

import torch

M32 = 0xFFFFFFFF
M64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """splitmix64's finaliser on a Python int (wrapping 64-bit arithmetic)."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def mix64(*values: int) -> int:
    """A 64-bit hash of a sequence of integers, the same in every process and on every run
    (Python's ``hash`` is salted per process; this is not)."""
    h = 0
    for v in values:
        h = _splitmix64(h ^ (int(v) & M64))
    return h


def name_word(name: str) -> int:
    """A layer name as a 32-bit number (CRC-32 of its UTF-8 bytes)."""
    return zlib.crc32(name.encode("utf-8"))


def member_keys(key: int, members: tuple[str, ...] | list[str], first_image: int
                ) -> list[list[int]]:
    """One row ``[word0, word1, first_image]`` per layer: the pass's ``key`` mixed with the
    layer's name, split into two 32-bit words."""
    rows = []
    for name in members:
        h = mix64(key, name_word(name))
        rows.append([h & M32, h >> 32, int(first_image)])
    return rows


def _mul32_(x: torch.Tensor, c: int) -> torch.Tensor:
    """x ← (x · c) mod 2³², in place, for int64 ``x`` in [0, 2³²) and a 32-bit constant,
    with no product reaching 2⁶³: x·c = x·lo + x·hi·2¹⁶, and only the low 16 bits of x·hi
    survive the shift."""
    lo, hi = c & 0xFFFF, c >> 16
    high = (x * hi).bitwise_and_(0xFFFF).bitwise_left_shift_(16)
    return x.mul_(lo).add_(high).bitwise_and_(M32)


def hash32_(x: torch.Tensor) -> torch.Tensor:
    """Wellons' lowbias32 on int64 values in [0, 2³²), in place: a bijection with good
    avalanche."""
    x.bitwise_xor_(x >> 16)
    _mul32_(x, 0x7FEB352D)
    x.bitwise_xor_(x >> 15)
    _mul32_(x, 0x846CA68B)
    return x.bitwise_xor_(x >> 16)


def keep_mask(x: torch.Tensor, keys: torch.Tensor, keep: float) -> torch.Tensor:
    """bool, shaped like ``x`` (R, …): True where an element is kept (probability ``keep``).

    ``keys`` int64 (k, 3) holds one row per layer (:func:`member_keys`); with k > 1 the rows
    of ``x`` are k towers folded into the batch, row n·k + j being image n of tower j, so each
    tower draws exactly the mask it would draw unfolded. Each row (an image of one layer)
    gets a 32-bit key from two hash rounds of (layer key, image index); each element is one
    round of (row key XOR its index within the row), so most of the work is per row."""
    k = keys.shape[0]
    rows, per = x.shape[0], x[0].numel()
    dev = keys.device
    r = torch.arange(rows, device=dev)
    member = keys[r % k]                                                        # (R, 3)
    image = member[:, 2] + torch.div(r, k, rounding_mode="floor")               # (R,)
    row = hash32_((image & M32).bitwise_xor_(member[:, 0]))
    row = hash32_(row.bitwise_xor_(member[:, 1]).bitwise_xor_(image >> 32))     # (R,)
    h = hash32_(torch.arange(per, device=dev)[None, :] ^ row[:, None])          # (R, per)
    threshold = min(int(keep * 2**32), 2**32)
    return (h < threshold).reshape(x.shape)
