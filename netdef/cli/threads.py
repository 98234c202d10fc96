"""How many compute threads the command line runs, and how they wait: decided in ``main()``
before torch loads, since the OpenMP runtime reads its environment once, when it starts.

PyTorch's CPU kernels run on an OpenMP team (GNU libgomp in PyTorch's Linux wheels). By
default libgomp's idle threads spin for 300,000 ``pause`` instructions (milliseconds on
current x86 CPUs) at every barrier and between parallel regions before they sleep. On an
idle machine that saves a wake-up per region; on a busy one (the loader's own worker
processes, a browser, another run) the spinning threads take the cores that the thread
everyone waits for needs, and a step can run several times slower (docs/performance.md
"Threads: sleeping, not spinning" has the measurements). So:

* :func:`wait_settings`: ``OMP_WAIT_POLICY=PASSIVE`` unless the user set the wait policy
  (``OMP_WAIT_POLICY``, libgomp's ``GOMP_SPINCOUNT`` or LLVM/Intel OpenMP's ``KMP_BLOCKTIME``)
  or ``NETDEF_THREADING=0``.
* :func:`compute_threads`: the CPUs this process may run on, shared evenly among the ranks
  on the node (``LOCAL_WORLD_SIZE`` under torchrun), less one per loader worker process but
  at most a quarter of them: the workers (one thread each, as ``torch.utils.data`` sets in
  every worker) then run beside the team instead of pre-empting one of its threads, which
  stalls the whole team at the next barrier. On two CPUs no core is set aside: the loader of
  a packed cache needs a small share of one (bench/data_pipeline.py), and half the team is
  the larger loss. The user's ``OMP_NUM_THREADS`` wins, except torchrun's own default of 1
  per rank (set when the user set none), which leaves all but one core per rank idle;
  ``NETDEF_THREADS=N`` sets the count outright.

``main()`` applies the start-up part (:func:`tune_threads`): the wait policy and the count
for no loader workers; ``netdef train`` then sets aside cores for its experiment's workers
(:func:`budget_for_loader`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..host import available_cpus, ranks_on_node
from ..host import positive_int as _positive_int

WAIT_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
TORCHRUN_DEFAULT = "1"  # torch/distributed/run.py: OMP_NUM_THREADS=1 when unset and nproc > 1


@dataclass(frozen=True, kw_only=True)
class ThreadPlan:
    """What sets the thread count (``source``: "netdef", "user" or "off", the last for
    ``NETDEF_THREADING=0``), the count where known, and the environment to set before torch
    loads."""

    source: str
    threads: int | None
    env: dict[str, str]


def compute_threads(cpus: int, ranks: int = 1, workers: int = 0) -> int:
    """Intra-op threads of one rank: ``cpus // ranks``, less ``min(workers, that // 4)``
    cores left to the loader's worker processes; at least 1."""
    per_rank = max(1, cpus // max(1, ranks))
    return max(1, per_rank - min(max(0, workers), per_rank // 4))


def users_thread_count(environ=os.environ) -> int | None:
    """The thread count the user asked for: ``NETDEF_THREADS``, else ``OMP_NUM_THREADS``
    unless it is torchrun's default of 1 for several ranks; None when neither."""
    ours = _positive_int(environ.get("NETDEF_THREADS"))
    if ours:
        return ours
    omp = environ.get("OMP_NUM_THREADS")
    if omp is None or (omp.strip() == TORCHRUN_DEFAULT and ranks_on_node(environ) > 1):
        return None
    return _positive_int(omp.split(",")[0])  # a nested list "4,2": the outer level


def wait_settings(environ=os.environ) -> dict[str, str]:
    """``{"OMP_WAIT_POLICY": "PASSIVE"}``, or nothing when the user chose how threads wait
    or turned netdef's threading settings off."""
    if environ.get("NETDEF_THREADING", "1") == "0" or any(k in environ for k in WAIT_KEYS):
        return {}
    return {"OMP_WAIT_POLICY": "PASSIVE"}


def plan_threads(environ=os.environ, cpus: int | None = None, workers: int = 0) -> ThreadPlan:
    """The settings for this environment (environment in, settings out; nothing changed)."""
    env = wait_settings(environ)
    if environ.get("NETDEF_THREADING", "1") == "0":
        return ThreadPlan(source="off", threads=None, env=env)
    users = users_thread_count(environ)
    if users is not None:
        if "NETDEF_THREADS" in environ:
            env["OMP_NUM_THREADS"] = str(users)
        return ThreadPlan(source="user", threads=users, env=env)
    cpus = available_cpus() if cpus is None else cpus
    n = compute_threads(cpus, ranks_on_node(environ), workers)
    env["OMP_NUM_THREADS"] = str(n)
    return ThreadPlan(source="netdef", threads=n, env=env)


_decided: ThreadPlan | None = None  # what tune_threads chose in this process


def tune_threads(environ=os.environ) -> ThreadPlan:
    """Apply :func:`plan_threads` (no loader workers yet) to ``environ``; call before torch
    is imported."""
    global _decided
    _decided = plan_threads(environ)
    environ.update(_decided.env)
    return _decided


def budget_for_loader(workers: int, environ=os.environ) -> int | None:
    """Once the experiment's loader ``workers`` are known: lower torch's thread count by the
    cores set aside for them (:func:`compute_threads`) when netdef chose the count in
    :func:`tune_threads`; returns the count now set, or None when it was left alone."""
    if _decided is None or _decided.source != "netdef":
        return None
    n = compute_threads(available_cpus(), ranks_on_node(environ), workers)
    if n != _decided.threads:
        import torch

        torch.set_num_threads(n)
    return n
