"""The command line's thread settings (netdef/cli/threads.py): environment in, settings out; the
user's own settings win; a real `netdef` process and a real loader worker get them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from netdef.cli import threads
from netdef.cli.threads import (
    compute_threads,
    plan_threads,
    ranks_on_node,
    users_thread_count,
    wait_settings,
)

from conftest import ROOT


def test_passive_wait_unless_the_user_chose():
    assert wait_settings({}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    for key, value in (("OMP_WAIT_POLICY", "ACTIVE"), ("GOMP_SPINCOUNT", "10000"),
                       ("KMP_BLOCKTIME", "200")):
        assert wait_settings({key: value}) == {}  # any of the user's wait settings wins
    assert wait_settings({"NETDEF_THREADING": "0"}) == {}


@pytest.mark.parametrize("cpus, ranks, workers, want", [
    (2, 1, 0, 2), (2, 1, 2, 2),      # two CPUs: no core set aside for the loader
    (4, 1, 2, 3), (8, 1, 2, 6),      # one per worker, at most a quarter of the cores
    (16, 1, 2, 14), (16, 1, 8, 12),
    (16, 4, 2, 3), (16, 2, 0, 8),    # the node's CPUs shared among its ranks
    (2, 4, 2, 1), (1, 1, 0, 1),      # never below one
])
def test_compute_threads(cpus, ranks, workers, want):
    assert compute_threads(cpus, ranks, workers) == want


def test_plan_from_cpus_and_ranks():
    plan = plan_threads({}, cpus=8)
    assert plan.source == "netdef" and plan.threads == 8
    assert plan.env == {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "8"}
    plan = plan_threads({"LOCAL_WORLD_SIZE": "4"}, cpus=16, workers=2)
    assert plan.threads == 3 and plan.env["OMP_NUM_THREADS"] == "3"


def test_users_thread_count_wins():
    plan = plan_threads({"OMP_NUM_THREADS": "3"}, cpus=16)
    assert plan.source == "user" and plan.threads == 3
    assert "OMP_NUM_THREADS" not in plan.env  # left as the user set it
    plan = plan_threads({"NETDEF_THREADS": "5", "OMP_NUM_THREADS": "2"}, cpus=16)
    assert plan.source == "user" and plan.env["OMP_NUM_THREADS"] == "5"
    assert users_thread_count({"OMP_NUM_THREADS": "4,2"}) == 4  # nested: the outer level
    assert users_thread_count({"OMP_NUM_THREADS": "lots"}) is None  # unreadable: ours


def test_torchrun_default_of_one_thread_is_replaced():
    """torchrun sets OMP_NUM_THREADS=1 per rank when the user set none: not the user's."""
    env = {"OMP_NUM_THREADS": "1", "LOCAL_WORLD_SIZE": "2"}
    plan = plan_threads(env, cpus=16)
    assert plan.source == "netdef" and plan.env["OMP_NUM_THREADS"] == "8"
    assert plan_threads({"OMP_NUM_THREADS": "1"}, cpus=16).source == "user"  # no torchrun: theirs
    env = {"OMP_NUM_THREADS": "1", "LOCAL_WORLD_SIZE": "2", "NETDEF_THREADS": "1"}
    assert plan_threads(env, cpus=16).threads == 1  # NETDEF_THREADS says it outright


def test_turned_off():
    plan = plan_threads({"NETDEF_THREADING": "0"}, cpus=8)
    assert plan.source == "off" and plan.threads is None and plan.env == {}


def test_ranks_on_node():
    assert ranks_on_node({}) == 1
    assert ranks_on_node({"LOCAL_WORLD_SIZE": "4"}) == 4
    assert ranks_on_node({"LOCAL_WORLD_SIZE": "x"}) == 1


def test_cpus_per_process_shares_the_cpus_among_the_ranks(monkeypatch):
    """netdef/host.py: what the loop and eval budget loader workers with (the same helpers the
    command line reads before torch loads)."""
    from netdef import host

    monkeypatch.setattr(host, "available_cpus", lambda: 8)
    assert host.cpus_per_process({}) == 8
    assert host.cpus_per_process({"LOCAL_WORLD_SIZE": "3"}) == 2
    assert host.cpus_per_process({"LOCAL_WORLD_SIZE": "16"}) == 1
    assert host.cpus_per_process({"LOCAL_WORLD_SIZE": "0"}) == 8


def test_budget_for_loader_only_when_netdef_chose(monkeypatch):
    import torch

    monkeypatch.setattr(threads, "available_cpus", lambda: 8)
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(threads, "_decided", None)
        assert threads.budget_for_loader(2, {}) is None
        monkeypatch.setattr(threads, "_decided", plan_threads({"OMP_NUM_THREADS": "2"}, cpus=8))
        assert threads.budget_for_loader(2, {}) is None  # the user's count stands
        monkeypatch.setattr(threads, "_decided", plan_threads({}, cpus=8))
        assert threads.budget_for_loader(2, {}) == 6 and torch.get_num_threads() == 6
    finally:
        torch.set_num_threads(before)


PROBE = """
import json, os
from netdef.cli import memory, threads
memory.tune_memory(); threads.tune_threads()
import torch
print(json.dumps({"threads": torch.get_num_threads(), "wait": os.environ.get("OMP_WAIT_POLICY"),
                  "omp": os.environ.get("OMP_NUM_THREADS")}))
"""


def _probe(**env) -> dict:
    base = {k: v for k, v in os.environ.items()
            if k not in threads.WAIT_KEYS + ("OMP_NUM_THREADS", "NETDEF_THREADS",
                                             "NETDEF_THREADING", "LOCAL_WORLD_SIZE")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**base, **env}, cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_settings_reach_torch_in_a_fresh_process():
    got = _probe()
    assert got["wait"] == "PASSIVE" and got["threads"] == threads.available_cpus()
    assert _probe(NETDEF_THREADS="1")["threads"] == 1
    got = _probe(OMP_WAIT_POLICY="ACTIVE", OMP_NUM_THREADS="1")
    assert got == {"threads": 1, "wait": "ACTIVE", "omp": "1"}


def _worker_threads(_):
    import torch

    return torch.get_num_threads()


def test_loader_workers_run_one_thread_each():
    """torch.utils.data sets one intra-op thread in every worker process (the budget above
    counts each worker as one core)."""
    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(list(range(2)), batch_size=None, num_workers=2,
                        collate_fn=_worker_threads)
    assert list(loader) == [1, 1]
    assert torch.get_num_threads() >= 1
