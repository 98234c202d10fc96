"""Training and validation batches from a packed cache through ``torch.utils.data`` workers.

The unit of work is a whole batch: a worker reads its images with ``pread`` (no memory map, so
a process's memory stays flat however large the cache is), and either augments them on the CPU
or, when the device is a GPU, hands the uint8 images over pinned memory and the same functions
run on the device. The batch order of an epoch is one permutation drawn from (seed, epoch);
``batch_size`` is global (docs/design.md §8): rank r of ``world`` takes the r-th slice of
every global batch, so the ranks together see exactly the single-process batches.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import NetdefError
from . import augment
from .pack_reader import PackedData


class ShuffledBatches(Sampler):
    """Yields this rank's share of each global batch of one epoch, from ``start_batch`` on."""

    def __init__(self, n: int, batch_size: int, *, seed: int, epoch: int, rank: int = 0,
                 world: int = 1, drop_last: bool = True, start_batch: int = 0, shuffle=True):
        if not 0 <= rank < world:
            raise NetdefError(f"data: rank must be in 0..{world - 1} (got {rank})")
        if batch_size < world:
            raise NetdefError(f"data: batch-size {batch_size} is smaller than the {world} ranks")
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, epoch
        self.rank, self.world, self.shuffle = rank, world, shuffle
        full = n // batch_size
        self.batches = full if drop_last or n % batch_size == 0 else full + 1
        self.start_batch = min(max(0, start_batch), self.batches)

    def order(self) -> np.ndarray:
        """int64 (n,): the epoch's permutation, the same on every rank."""
        if not self.shuffle:
            return np.arange(self.n, dtype=np.int64)
        return np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch, 0x5EED]).permutation(
            self.n
        )

    def __len__(self) -> int:
        return self.batches - self.start_batch

    def __iter__(self):
        perm = self.order()
        for b in range(self.start_batch, self.batches):
            batch = perm[b * self.batch_size:(b + 1) * self.batch_size]
            yield np.array_split(batch, self.world)[self.rank]


class EpochBatches(Sampler):
    """:class:`ShuffledBatches` of ``epochs`` epochs in a row, from ``epoch`` (its first one
    from ``start_batch``); yields (epoch, indices), so that one set of loader workers serves
    the whole run (each epoch's augmentation is keyed by the epoch the item carries)."""

    def __init__(self, n: int, batch_size: int, *, seed: int, epoch: int, epochs: int,
                 rank: int = 0, world: int = 1, drop_last: bool = True, start_batch: int = 0):
        self.epochs = [ShuffledBatches(n, batch_size, seed=seed, epoch=e, rank=rank, world=world,
                                       drop_last=drop_last,
                                       start_batch=start_batch if e == epoch else 0)
                       for e in range(epoch, epoch + max(1, epochs))]
        self.batches = self.epochs[0].batches  # per epoch

    def __len__(self) -> int:
        return sum(len(e) for e in self.epochs)

    def __iter__(self):
        for e in self.epochs:
            for index in e:
                yield e.epoch, index


class _Reader:
    """Reads uint8 (N, C, S, S) records of one split with pread; reopens after a fork."""

    def __init__(self, data: PackedData, split: str):
        self.path, self.size, self.channels = data.file(split), data.image_size, data.channels
        self._fd, self._pid = -1, -1

    def read(self, index: np.ndarray) -> np.ndarray:
        if self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        rec = self.channels * self.size * self.size
        out = np.empty((len(index), self.channels, self.size, self.size), dtype=np.uint8)
        for k, i in enumerate(np.asarray(index).tolist()):
            got = os.preadv(self._fd, [out[k]], i * rec) if hasattr(os, "preadv") else None
            if got is None:
                out[k] = np.frombuffer(os.pread(self._fd, rec, i * rec), np.uint8).reshape(
                    out[k].shape)
            elif got != rec:
                raise NetdefError.at(self.path, f"short read at image {i} (cache truncated?)")
        return out

    def __getstate__(self) -> dict:
        return {"path": self.path, "size": self.size, "channels": self.channels, "_fd": -1,
                "_pid": -1}


class _Batches(Dataset):
    """Dataset indexed by arrays of image indices; returns one prepared batch.

    ``on_device`` batches are (uint8 images (N, C, S, S), labels, params): the caller finishes
    them on the GPU; otherwise they are finished here: (float32 images, labels)."""

    def __init__(self, data: PackedData, split: str, *, inner: int, train: bool,
                 on_device: bool, seed: int = 0, epoch: int = 0, color_noise: float = 0.0,
                 crops: int = 1, random_crops: bool = True, mirrors: bool = True):
        self.reader = _Reader(data, split)
        self.labels = data.labels(split)
        self.size, self.inner, self.train, self.on_device = data.image_size, inner, train, on_device
        self.seed, self.epoch, self.color_noise, self.crops = seed, epoch, color_noise, crops
        self.random_crops, self.mirrors = random_crops, mirrors
        self.eigval, self.eigvec = data.eigval, data.eigvec
        self.mean_c = augment.mean_crop(data.mean, inner)                  # (C, i, i)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, item):
        """``item``: image indices (N,), or (epoch, indices) from :class:`EpochBatches`."""
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        images = torch.from_numpy(self.reader.read(index))                  # uint8 (N, C, S, S)
        labels = torch.from_numpy(self.labels[index])                       # int64 (N,)
        params = (augment.train_params(self.seed, epoch, index, image_size=self.size,
                                       inner_size=self.inner, color_noise=self.color_noise,
                                       eigval=self.eigval, eigvec=self.eigvec,
                                       random_crops=self.random_crops, mirrors=self.mirrors)
                  if self.train else None)
        if self.on_device:
            return images, labels, params
        return finish(images, params, self.mean_c, self.inner, self.crops), labels


def finish(images: torch.Tensor, params, mean_c: torch.Tensor, inner: int, crops: int
           ) -> torch.Tensor:
    """uint8 (N, C, S, S) -> float32 network input on the images' device: training crops
    when ``params`` is given, else the centre crop or (crops=10) the ten views."""
    if params is not None:
        return augment.augment_train(images, params, mean_c, inner)         # (N, C, i, i)
    if crops == 10:
        return augment.normalize(augment.ten_views(images, inner), mean_c)  # (N, 10, C, i, i)
    return augment.normalize(augment.center_crop(images, inner), mean_c)    # (N, C, i, i)


def ignore_stop_signals(worker_id: int) -> None:
    """A DataLoader worker's start (``worker_init_fn``): ignore SIGINT and SIGTERM. Ctrl-C
    reaches every process of the terminal's group, and a scheduler's SIGTERM every process of
    the job; the main process stops after the batch in flight and shuts its workers down
    itself. A forked worker would otherwise run the main process's handler (and say it is
    stopping, once per worker) or die mid-batch. A worker whose main process dies still
    exits: torch's workers watch their parent."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)


class Loader:
    """An iterable of (images, labels) on ``device``; ``len()`` is the batches it will yield.

    ``generator`` seeds the DataLoader's workers; without one the DataLoader would draw that
    seed from torch's global generator each time an iterator is made (the workers draw
    nothing random here: augmentation is a hash of (seed, epoch, index)). ``persistent``:
    the workers outlive an iteration, so iterating again (the next validation) starts none."""

    def __init__(self, dataset: _Batches, sampler: Sampler, workers: int, device,
                 generator: torch.Generator | None = None, persistent: bool = False):
        self.device = torch.device(device)
        self.dataset, self.sampler = dataset, sampler
        self.batches_per_epoch = getattr(sampler, "batches", len(sampler))
        self.loader = DataLoader(dataset, batch_size=None, sampler=sampler,
                                 num_workers=max(0, workers),
                                 pin_memory=self.device.type == "cuda",
                                 prefetch_factor=2 if workers > 0 else None,
                                 worker_init_fn=ignore_stop_signals,
                                 persistent_workers=persistent and workers > 0,
                                 generator=generator or torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.sampler)

    def _items(self):
        """The dataset's items in the sampler's order: through the DataLoader when it has
        workers or pins memory, else straight from the dataset (the DataLoader's own
        single-process path adds a third of a millisecond a batch and nothing else here)."""
        if self.loader.num_workers > 0 or self.loader.pin_memory:
            return iter(self.loader)
        return (self.dataset[index] for index in self.sampler)

    def __iter__(self):
        ds, dev = self.dataset, self.device
        mean_c = ds.mean_c.to(dev)
        for item in self._items():
            if ds.on_device:
                images, labels, params = item
                images = images.to(dev, non_blocking=True)
                x = finish(images, params, mean_c, ds.inner, ds.crops)
                yield x, labels.to(dev, non_blocking=True)
            else:
                x, labels = item
                yield x.to(dev, non_blocking=True), labels.to(dev, non_blocking=True)


def train_loader(ds: PackedData, batch_size: int, inner_size: int, color_noise: float = 0.1,
                 seed: int = 0, epoch: int = 0, start_batch: int = 0, rank: int = 0,
                 world: int = 1, workers: int = 2, device="cpu", drop_last: bool = True,
                 on_device: bool | None = None, generator: torch.Generator | None = None,
                 random_crops: bool = True, mirrors: bool = True, epochs: int = 1) -> Loader:
    """Augmented training batches: float32 (N, C, inner, inner), int64 (N,), of ``epochs``
    epochs from ``epoch`` (the first from ``start_batch``) through the same worker processes:
    workers started once per run, not once per epoch (docs/performance.md "Loader workers:
    once per run").
    ``len()`` counts the batches of all of them; ``batches_per_epoch`` one epoch's.
    PCA lighting (``color_noise``) applies to 3-channel data only.
    ``on_device``: augment in the consuming process on ``device`` (uint8 batches cross over);
    default: when ``device`` is a GPU. Both paths compute the same numbers. ``generator``:
    the workers' seed (:class:`Loader`). ``random_crops``/``mirrors`` off: centre crops,
    never mirrored."""
    _check_inner(ds, inner_size)
    on_device = _device_path(device, on_device)
    dataset = _Batches(ds, "train", inner=inner_size, train=True, on_device=on_device,
                       seed=seed, epoch=epoch, color_noise=color_noise,
                       random_crops=random_crops, mirrors=mirrors)
    if epochs == 1:
        sampler = ShuffledBatches(ds.num_train, batch_size, seed=seed, epoch=epoch, rank=rank,
                                  world=world, drop_last=drop_last, start_batch=start_batch)
    else:
        sampler = EpochBatches(ds.num_train, batch_size, seed=seed, epoch=epoch, epochs=epochs,
                               rank=rank, world=world, drop_last=drop_last,
                               start_batch=start_batch)
    return Loader(dataset, sampler, workers, device, generator)


def val_loader(ds: PackedData, batch_size: int, inner_size: int, crops: int = 1,
               workers: int = 2, device="cpu", split: str = "val", rank: int = 0,
               world: int = 1, on_device: bool | None = None,
               persistent: bool = False) -> Loader:
    """The split (``val``, ``train`` or ``test``) in order, centre crops (N, C, i, i) or ten
    views (N, 10, C, i, i); ``on_device`` as for :func:`train_loader`; ``persistent``: the
    workers stay for the next iteration (a run's next test)."""
    _check_inner(ds, inner_size)
    if crops not in (1, 10):
        raise NetdefError(f"data: crops must be 1 or 10 (got {crops})")
    if split not in ("train", "val", "test"):
        raise NetdefError(f"data: split must be 'train', 'val' or 'test' (got {split!r})")
    on_device = _device_path(device, on_device)
    dataset = _Batches(ds, split, inner=inner_size, train=False, on_device=on_device,
                       crops=crops)
    sampler = _Sequential(ds.count(split), batch_size, rank, world)
    return Loader(dataset, sampler, workers, device, persistent=persistent)


class _Sequential(Sampler):
    """The split in order, in batches of ``batch_size``, the last one short; ranks interleave
    whole batches (rank r takes batches r, r + world, …)."""

    def __init__(self, n: int, batch_size: int, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.rank, self.world = n, batch_size, rank, world
        self.batches = -(-n // batch_size)

    def __len__(self) -> int:
        return len(range(self.rank, self.batches, self.world))

    def __iter__(self):
        for b in range(self.rank, self.batches, self.world):
            yield np.arange(b * self.batch_size, min(self.n, (b + 1) * self.batch_size))


def _check_inner(ds: PackedData, inner: int) -> None:
    if not 0 < inner <= ds.image_size:
        raise NetdefError(f"data: inner-size {inner} must be in 1..image-size "
                          f"({ds.image_size}) of {ds.path}")


def _device_path(device, on_device: bool | None) -> bool:
    return torch.device(device).type == "cuda" if on_device is None else bool(on_device)
