"""Data parallelism under ``torchrun`` (docs/design.md §8): gloo on CPU, NCCL on GPUs.

Each rank holds the whole (possibly two-device) net and trains on its slice of every global
batch; after ``backward`` the gradients are averaged across ranks with one ``all_reduce`` over a
flat bucket. DistributedDataParallel is not used: netdef's ``Net`` spreads its layers over
several devices and runs its own forward (``Net.run_layers``), which DDP's single-module
wrapping does not fit; one explicit bucket per step does the same arithmetic (sum / world) with
no hooks.

Without torchrun (no ``WORLD_SIZE`` in the environment) everything here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch

from ..errors import NetdefError

TIMEOUT_S = 120  # a rank that died makes the others fail with a message after this, not hang


@dataclass(frozen=True)
class Dist:
    """Where this process sits: global rank and world, and its rank on this machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0: the only one that prints, logs and writes the run folder."""
        return self.rank == 0


SINGLE = Dist()


def from_env(env=None) -> Dist:
    """The torchrun variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE), or one process."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return SINGLE
    try:
        world = int(env["WORLD_SIZE"])
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", str(rank)))
        local_world = int(env.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError:
        raise NetdefError("torchrun: RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE must be "
                          "integers") from None
    return Dist(rank, world, local_rank, local_world)


def init(dist: Dist, devices: list[str]) -> None:
    """Join the process group (NCCL when this rank's net is on CUDA, else gloo)."""
    if not dist.active or torch.distributed.is_initialized():
        return
    cuda = torch.device(devices[0]).type == "cuda"
    if cuda:
        torch.cuda.set_device(torch.device(devices[0]))
    try:
        torch.distributed.init_process_group("nccl" if cuda else "gloo",
                                             timeout=timedelta(seconds=TIMEOUT_S))
    except Exception as exc:  # noqa: BLE001 - rendezvous failures come in many types
        raise NetdefError(f"torchrun: rank {dist.rank} of {dist.world} could not join the "
                          f"process group within {TIMEOUT_S} s ({exc})") from None


def close(dist: Dist, *, finished: bool) -> None:
    """Leave the process group. After a run that ``finished`` on every rank, the ranks first
    meet at a barrier: a gloo rank that tears its group down while a peer is still sending
    (rank 0 writes the last checkpoint after the others are done) can abort in C++
    ("terminate called without an active exception"). After an error no barrier is
    attempted: the other ranks may never reach it."""
    if not (dist.active and torch.distributed.is_initialized()):
        return
    if finished:
        _collective(dist, "the closing barrier", torch.distributed.barrier)
    torch.distributed.destroy_process_group()


def _collective(dist: Dist, what: str, fn):
    try:
        return fn()
    except RuntimeError as exc:
        raise NetdefError(f"torchrun: rank {dist.rank}: {what} failed; another rank probably "
                          f"stopped or died (timeout {TIMEOUT_S} s): {exc}") from None


def _bucketed(dist: Dist, what: str, tensors, collective) -> None:
    """Run ``collective(flat)`` once per (device, dtype) bucket of ``tensors``, flattened, and
    copy the results back into them (the bucketing DDP does)."""
    buckets: dict[tuple, list[torch.Tensor]] = {}
    for t in tensors:
        buckets.setdefault((t.device, t.dtype), []).append(t)
    with torch.no_grad():
        for same in buckets.values():
            flat = torch.cat([t.reshape(-1) for t in same])  # one 1-D bucket
            _collective(dist, what, lambda flat=flat: collective(flat))
            for t, value in zip(same, flat.split([t.numel() for t in same]), strict=True):
                t.copy_(value.view_as(t))


def average_grads(dist: Dist, params: list[torch.Tensor]) -> None:
    """grad ← (Σ over ranks of grad) / world, one all_reduce per device's flat bucket."""
    if not dist.active:
        return

    def average(flat: torch.Tensor) -> None:
        torch.distributed.all_reduce(flat)
        flat /= dist.world

    _bucketed(dist, "the gradient all_reduce", [p.grad for p in params if p.grad is not None],
              average)


def broadcast_params(dist: Dist, net) -> None:
    """Every parameter and buffer ← rank 0's, one broadcast per device's flat bucket (as DDP
    does at construction). Ranks draw the same init from the same seed, but a different
    torch build, thread count or ``--init-from`` file seen differently must not let the
    replicas start apart: averaged gradients would never bring them together."""
    if not dist.active:
        return
    tensors = [t for t in [*net.parameters(), *net.buffers()]
               if t.is_floating_point() or t.dtype in (torch.int64, torch.int32)]
    _bucketed(dist, "broadcasting rank 0's weights", tensors,
              lambda flat: torch.distributed.broadcast(flat, src=0))


def sum_across(dist: Dist, values: torch.Tensor) -> torch.Tensor:
    """Σ over ranks of a small tensor (a copy; the input is left alone)."""
    if not dist.active:
        return values
    out = values.clone()
    _collective(dist, "reducing metrics", lambda: torch.distributed.all_reduce(out))
    return out


def any_rank(dist: Dist, flag: bool) -> bool:
    """Whether ``flag`` is set on any rank (a one-number all_reduce; the flag itself without
    torchrun)."""
    if not dist.active:
        return flag
    device = "cuda" if torch.distributed.get_backend() == "nccl" else "cpu"
    return bool(sum_across(dist, torch.tensor([float(flag)], device=device)).item() > 0)


def rank_devices(text: str, logical: int, dist: Dist, resolve) -> list[str]:
    """With ``auto`` local rank r takes GPUs r·k … r·k+k−1 (folded when fewer); an explicit
    list is split evenly among the local ranks; ``resolve`` is the single-process rule, used
    as is without torchrun or on CPU (docs/design.md §8)."""
    n = dist.local_world
    if n <= 1:
        return resolve(text, logical)
    if text.strip().lower() == "auto":
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not gpus:
            return ["cpu"]
        if gpus >= n * logical:
            return [f"cuda:{dist.local_rank * logical + k}" for k in range(logical)]
        share = max(gpus // n, 1)  # fewer GPUs than ranks × towers: fold each rank's towers
        first = (dist.local_rank * share) % gpus
        return [f"cuda:{first + k * share // logical}" for k in range(logical)]
    listed = [d.strip() for d in text.split(",") if d.strip()]
    if len(listed) == 1:
        return listed
    if len(listed) % n:
        raise NetdefError(f"torchrun: --devices lists {len(listed)} devices, which cannot be "
                          f"split evenly among {n} local ranks")
    per = len(listed) // n
    return listed[dist.local_rank * per:(dist.local_rank + 1) * per]
