"""Data parallelism under torchrun (docs/design.md §8): two CPU ranks over gloo train the same
weights as one process with the same global batch (dropout included: its masks are keyed by
the image's place in the global batch), only rank 0 writes the run folder, and a run stopped
mid-epoch resumes bit for bit."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from netdef.train.distributed import Dist, from_env, rank_devices

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300  # a hung rank fails the test instead of hanging it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, NETDEF_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                "MASTER_PORT"):
        env.pop(key, None)
    return env


def _run(args: list[str], tmp_path: Path, ranks: int) -> subprocess.CompletedProcess:
    launch = ([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks),
               "--master-addr", "127.0.0.1", "--master-port", str(_free_port())]
              if ranks > 1 else [sys.executable])
    result = subprocess.run(launch + ["-m", "netdef", "train", *args], cwd=tmp_path,
                            env=_env(tmp_path), capture_output=True, text=True,
                            timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _experiment(tmp_path: Path, layers: Path, params_text: str, **keys) -> Path:
    (tmp_path / "params.cfg").write_text(params_text)
    lines = ["[train]", f"layers = {layers}", f"params = {tmp_path / 'params.cfg'}",
             "devices = cpu", "workers = 0", "seed = 0"]
    lines += [f"{k.replace('_', '-')} = {v}" for k, v in keys.items()]
    path = tmp_path / "exp.cfg"
    path.write_text("\n".join(lines) + "\n")
    return path


def _quickstart_params() -> str:
    text = (ROOT / "layers" / "quickstart-params.cfg").read_text()
    assert "[dropout]\nkeep=0.5\n" in text  # dropout on: the ranks draw the one-process masks
    return text


def _records(run: Path, kind: str) -> list[dict]:
    lines = run.joinpath("metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def _launch(ranks: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks),
            "--master-addr", "127.0.0.1", "--master-port", str(_free_port())]


# `netdef train` that sleeps after each progress report (rank 0 reports; the other rank waits
# for it in the next all_reduce), so that a test can stop a run in the middle of an epoch
SLOW_CLI = """\
import sys, time
from netdef.cli import cli
from netdef.cli.screen import Screen
shown = Screen.on_Progress
def slow(self, event):
    shown(self, event)
    time.sleep(float(sys.argv[1]))
Screen.on_Progress = slow
cli(sys.argv[2:], prog_name="netdef")
"""


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process(tmp_path):
    # 20 training images in global batches of 4: 5 steps an epoch, 2 epochs, a test after each
    exp = _experiment(tmp_path, ROOT / "layers" / "quickstart.cfg", _quickstart_params(),
                      data="builtin:shapes?classes=10&train=2&val=1", image_size=64,
                      inner_size=56, batch_size=4, epochs=2, test_freq=1)
    _run([str(exp), "--save", "single"], tmp_path, 1)
    multi = _run([str(exp), "--save", "multi"], tmp_path, 2)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "exp.cfg", "multi",
                                                          "params.cfg", "single"]
    single_dir, multi_dir = tmp_path / "single", tmp_path / "multi"
    assert sorted(p.name for p in multi_dir.iterdir()) == sorted(
        p.name for p in single_dir.iterdir()
    )
    assert multi.stdout.count("done in") == 1  # rank 0 alone prints

    a = torch.load(single_dir / "ckpt.pt", weights_only=False)
    b = torch.load(multi_dir / "ckpt.pt", weights_only=False)
    assert a["state"]["step"] == b["state"]["step"] == 10
    for name, w in a["weights"].items():
        torch.testing.assert_close(b["weights"][name], w, rtol=1e-4, atol=1e-6, msg=name)

    # one line per report and per test, written once (rank 1 appended nothing)
    assert len(_records(multi_dir, "train")) == len(_records(single_dir, "train"))
    tests_a, tests_b = _records(single_dir, "test"), _records(multi_dir, "test")
    assert len(tests_a) == len(tests_b) == 2
    for ra, rb in zip(tests_a, tests_b, strict=True):
        for key in ("val_nll", "val_top1_err", "val_top5_err"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-5, abs=1e-6), key


@pytest.mark.slow
def test_resume_under_torchrun(tmp_path):
    exp = _experiment(tmp_path, ROOT / "layers" / "quickstart.cfg", _quickstart_params(),
                      data="builtin:shapes?classes=10&train=2&val=1", image_size=64,
                      inner_size=56, batch_size=4, epochs=1, test_freq=1)
    _run([str(exp), "--save", "run"], tmp_path, 2)
    _run([str(exp), "--resume", "run", "--epochs", "2"], tmp_path, 2)
    state = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)["state"]
    assert state["step"] == 10
    assert len(_records(tmp_path / "run", "test")) == 2


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_sigint_mid_epoch_under_torchrun_resumes_bit_identically(tmp_path):
    """Two ranks, dropout and colour noise: stopped by Ctrl-C in the middle of epoch 2 and
    resumed, the weights and metrics equal those of an uninterrupted two-rank run."""
    import signal
    import time

    # 20 training images in global batches of 4: 5 steps an epoch
    exp = _experiment(tmp_path, ROOT / "layers" / "quickstart.cfg", _quickstart_params(),
                      data="builtin:shapes?classes=10&train=2&val=1", image_size=64,
                      inner_size=56, batch_size=4, epochs=3, test_freq=1, log_freq=1,
                      color_noise=0.1)
    _run([str(exp), "--save", "whole"], tmp_path, 2)
    (tmp_path / "slow.py").write_text(SLOW_CLI)
    proc = subprocess.Popen(_launch(2) + [str(tmp_path / "slow.py"), "0.5", "train", str(exp),
                                          "--save", "run"],
                            cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        metrics, end = tmp_path / "run" / "metrics.jsonl", time.time() + TIMEOUT_S
        while not (metrics.exists() and metrics.read_text().count('"train"') >= 6):
            assert proc.poll() is None and time.time() < end, proc.stdout.read()
            time.sleep(0.05)
        (rank1,) = _rank_pids(proc.pid, 1)
        os.kill(rank1, signal.SIGINT)
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    finally:
        proc.kill()
    assert "interrupted" in out, out
    state = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)["state"]
    assert state["epoch"] == 1 and 0 < state["batch"] < 5, state  # mid-epoch 2
    _run([str(exp), "--resume", "run"], tmp_path, 2)

    a = torch.load(tmp_path / "whole" / "ckpt.pt", weights_only=False)["weights"]
    b = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)["weights"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    clock = {"time", "images_per_s"}
    for kind in ("train", "test"):
        ra = [
            {k: v for k, v in r.items() if k not in clock}
            for r in _records(tmp_path / "whole", kind)
        ]
        rb = [
            {k: v for k, v in r.items() if k not in clock} for r in _records(tmp_path / "run", kind)
        ]
        assert ra == rb, kind


@pytest.mark.slow
def test_compat_2gpu_data_trains_under_two_ranks(tmp_path, compat):
    v2 = compat / "v2"
    exp = _experiment(tmp_path, v2 / "layers-imagenet-2gpu-data.cfg",
                      (v2 / "layer-params-imagenet-2gpu-data.cfg").read_text(),
                      data="builtin:shapes?classes=10&train=1&val=1", image_size=232,
                      inner_size=224, batch_size=4, epochs=1, test_freq=1)
    _run([str(exp), "--save", "run"], tmp_path, 2)
    assert (tmp_path / "run" / "ckpt.pt").exists()


def test_from_env_reads_torchrun_variables():
    assert not from_env({}).active
    dist = from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1",
                     "LOCAL_WORLD_SIZE": "2"})
    assert (dist.rank, dist.world, dist.local_rank, dist.local_world, dist.main) == (3, 4, 1, 2,
                                                                                    False)


def test_explicit_devices_are_split_among_local_ranks():
    def single(text, logical):
        return [text]

    four = "cuda:0,cuda:1,cuda:2,cuda:3"
    assert rank_devices(four, 2, Dist(1, 2, 1, 2), single) == ["cuda:2", "cuda:3"]
    assert rank_devices(four, 2, Dist(0, 2, 0, 2), single) == ["cuda:0", "cuda:1"]
    assert rank_devices("cpu", 2, Dist(1, 2, 1, 2), single) == ["cpu"]
    assert rank_devices("cuda:0", 1, Dist(), single) == ["cuda:0"]


def _broadcast_worker(rank: int, port: int, out: str) -> None:
    """Rank r compiles the quickstart net with seed r, then takes rank 0's weights."""
    import torch.distributed as td

    from netdef.check import load
    from netdef.compiler import compile_net
    from netdef.train.distributed import broadcast_params

    td.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                          world_size=2)
    try:
        net = compile_net(load(ROOT / "layers" / "quickstart.cfg", input_size=24), seed=rank)
        before = {k: v.clone() for k, v in net.state_dict().items()}
        broadcast_params(Dist(rank, 2, rank, 2), net)
        torch.save({"before": before, "after": net.state_dict()}, f"{out}/rank{rank}.pt")
    finally:
        td.destroy_process_group()


def test_broadcast_params_makes_every_rank_start_from_rank_0(tmp_path):
    torch.multiprocessing.spawn(_broadcast_worker, args=(_free_port(), str(tmp_path)),
                                nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert any(not torch.equal(r0["before"][k], r1["before"][k]) for k in r0["before"])
    for k, v in r0["before"].items():
        assert torch.equal(r0["after"][k], v)  # rank 0 keeps its own
        assert torch.equal(r1["after"][k], v)  # rank 1 now holds rank 0's


def _rank_pids(parent: int, rank: int) -> list[int]:
    """PIDs of the torchrun workers (children of ``parent``) whose RANK is ``rank``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[1]) == parent and f"RANK={rank}".encode() in environ:
            out.append(int(entry.name))
    return out


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_sigint_to_one_rank_stops_both_at_the_next_report(tmp_path):
    """Ctrl-C reaching only rank 1: the ranks agree at the next report (its all_reduce carries
    the flag), rank 0 checkpoints and both leave, well inside the 120 s collective timeout."""
    import signal
    import time

    exp = _experiment(tmp_path, ROOT / "layers" / "quickstart.cfg", _quickstart_params(),
                      data="builtin:shapes?classes=10&train=20&val=1", image_size=64,
                      inner_size=56, batch_size=4, epochs=50, test_freq=1, log_freq=2)
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
              "--master-addr", "127.0.0.1", "--master-port", str(_free_port())]
    proc = subprocess.Popen(launch + ["-m", "netdef", "train", str(exp), "--save", "run"],
                            cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        metrics, end = tmp_path / "run" / "metrics.jsonl", time.time() + TIMEOUT_S
        while not (metrics.exists() and metrics.read_text().count('"train"') >= 2):
            assert proc.poll() is None and time.time() < end, proc.stdout.read()
            time.sleep(0.2)
        (rank1,) = _rank_pids(proc.pid, 1)
        os.kill(rank1, signal.SIGINT)
        sent = time.time()
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    finally:
        proc.kill()
    assert time.time() - sent < 60, out  # not the 120 s collective timeout
    assert "interrupted" in out and "--resume" in out, out
    assert "another rank probably stopped" not in out, out
    state = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)["state"]
    assert 0 < state["epoch"] * 5 + state["batch"] < 50 * 5
