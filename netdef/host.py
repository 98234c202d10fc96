"""What this process may use of its machine: the CPUs in its affinity mask and the ranks of its
run on the node. Standard library only, so the command line can read it before torch loads
(``netdef/cli/threads.py``) and the training loop and evaluation can budget loader workers with
the same numbers."""

from __future__ import annotations

import os


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. under ``taskset``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def positive_int(value: str | None) -> int | None:
    """``value`` as an int when it is one above 0, else None."""
    try:
        n = int(value) if value is not None else None
    except ValueError:
        return None
    return n if n and n > 0 else None


def ranks_on_node(environ=os.environ) -> int:
    """Processes of this run on this machine: torchrun's ``LOCAL_WORLD_SIZE``, else 1."""
    return positive_int(environ.get("LOCAL_WORLD_SIZE")) or 1


def cpus_per_process(environ=os.environ) -> int:
    """The CPUs this process may use, shared evenly among its run's ranks on the node."""
    return max(1, available_cpus() // ranks_on_node(environ))
