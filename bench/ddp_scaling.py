"""Data-parallel scaling of the quickstart net (hand-run; prints a table, never part of the tests).

Trains ``layers/quickstart.cfg`` on ``builtin:shapes`` for one epoch as one process and as two
torchrun ranks (gloo on CPU; NCCL on GPUs when there are at least two), with the same global
batch, and reports the training images/s that rank 0 logged (the first report, which includes
start-up, is left out).

    python bench/ddp_scaling.py [--batch-size 64] [--train 40] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(ranks: int, device: str, args, tmp: Path) -> float:
    save = tmp / f"{device}-{ranks}"
    exp = tmp / "exp.cfg"
    exp.write_text(f"[train]\nlayers = {ROOT / 'layers' / 'quickstart.cfg'}\n"
                   f"data = builtin:shapes?classes=10&train={args.train}&val=2\n"
                   f"image-size = 64\ninner-size = 56\nbatch-size = {args.batch_size}\n"
                   f"epochs = 1\ntest-freq = 1\nworkers = 0\nlog-freq = 2\nseed = 0\n"
                   f"devices = {device}\n")
    launch = ([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks),
               "--master-addr", "127.0.0.1", "--master-port", str(_port())]
              if ranks > 1 else [sys.executable])
    env = dict(os.environ, NETDEF_CACHE=str(tmp / "cache"), OMP_NUM_THREADS=str(args.threads))
    subprocess.run(launch + ["-m", "netdef", "train", str(exp), "--save", str(save)], env=env,
                   check=True, capture_output=True, timeout=1200)
    speeds = [json.loads(line)["images_per_s"]
              for line in (save / "metrics.jsonl").read_text().splitlines()
              if json.loads(line)["kind"] == "train"]
    speeds = speeds[1:] or speeds
    return sum(speeds) / len(speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64, help="global batch")
    parser.add_argument("--train", type=int, default=40, help="training images per class")
    parser.add_argument("--threads", type=int, default=1, help="OMP threads per rank")
    args = parser.parse_args()
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available() and torch.cuda.device_count() >= 2:
        devices.append("auto")
    print(f"quickstart net, global batch {args.batch_size}, {args.threads} thread(s) per rank")
    print(f"{'device':<8} {'ranks':>5} {'images/s':>10} {'speed-up':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for device in devices:
            base = None
            for ranks in (1, 2):
                speed = run(ranks, device, args, Path(tmp))
                base = base or speed
                name = "cpu" if device == "cpu" else "cuda"
                print(f"{name:<8} {ranks:>5} {speed:>10.1f} {speed / base:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
