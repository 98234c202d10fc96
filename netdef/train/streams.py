"""Every random stream of a training run, in one place.

Each stream is a function of the experiment's ``seed`` and a position (the step, the epoch,
an image's index, an element's index), never of a generator's state. So nothing needs saving
for a resume to draw exactly what the uninterrupted run drew, and ranks under torchrun or
loader workers draw the same numbers as one process. torch's and numpy's global generators
are never used in training.

============================  ==============================  ================================
stream                        keyed by                        drawn in
============================  ==============================  ================================
weights, randSparse subsets   seed (one generator, in file    ``compiler.compile.init_tensors``
                              order)
batch order                   seed, epoch                     ``data.loader.ShuffledBatches``
crops, mirrors, PCA lighting  seed, epoch, image index        ``data.augment.uniforms``
dropout masks                 seed, step, layer, element      ``compiler.noise.keep_mask``
schedule noise (A12)          seed, step                      ``optim``
DataLoader worker seeds       seed, epoch                     :meth:`Streams.loader`
============================  ==============================  ================================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..compiler.noise import mix64

_DROPOUT, _LOADER = 0xD209, 0x10AD  # stream tags: different streams never share a key


@dataclass(frozen=True)
class Streams:
    """The run's random streams (see the module docstring)."""

    seed: int

    @property
    def init_seed(self) -> int:
        """The seed of the weight initialisation (``compile_net``) and of the optimizer's
        schedule noise (``build_optimizer``)."""
        return self.seed

    def dropout_key(self, step: int) -> int:
        """The key of step ``step``'s dropout masks (:meth:`netdef.compiler.Net.set_noise`)."""
        return mix64(self.seed, _DROPOUT, step)

    def loader(self, epoch: int) -> torch.Generator:
        """The generator a ``DataLoader`` draws its base seed from when an epoch's iterator
        is made (workers are seeded from it). Left to itself a DataLoader takes that draw
        from torch's global generator, which is how a resume once shifted every later
        dropout mask. netdef's workers draw nothing (augmentation is counter-based); the
        seed is fixed all the same."""
        return torch.Generator().manual_seed(mix64(self.seed, _LOADER, epoch) >> 1)


def rank_offset(batch_size: int, rank: int, world: int) -> int:
    """The index of rank ``rank``'s first image in a global batch split as
    ``numpy.array_split`` splits it (``data.loader.ShuffledBatches``): the first
    ``batch_size % world`` ranks take one image more."""
    return rank * (batch_size // world) + min(rank, batch_size % world)
