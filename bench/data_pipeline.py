"""Data pipeline throughput vs the training step (hand-run; prints ratios, never part of the tests).

Measures, in one run (docs/design.md §3, §7):

1. packing: images/s per core (JPEG decode + resize + write) on ImageNet-sized (500×375) JPEGs;
2. loading: packed cache → augmented float32 training batch at 224 (2 workers), images/s;
3. the compiled two-tower AlexNet's CPU training rate (``netdef.compile_net``), or a
   hand-written torch AlexNet when the compiler is unavailable (said in the output);
4. peak memory (max RSS of the loading process and its workers) over one epoch of a small
   packed set and of a large one (``--big-gb``, default 2): it must stay flat.

    python bench/data_pipeline.py [--pack-images 200] [--big-gb 2] [--batch 128] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def make_jpegs(root: str, n: int) -> None:
    """``n`` 500×375 JPEGs (ImageNet's typical size) in an ImageNet layout, 2 classes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:375, 0:500]
    for i in range(n):
        split = "val" if i % 10 == 0 else "train"
        d = os.path.join(root, split, f"c{i % 2}")
        os.makedirs(d, exist_ok=True)
        base = np.stack([(xx * rng.uniform(0.2, 1)) % 256, (yy * rng.uniform(0.2, 1)) % 256,
                         ((xx + yy) * rng.uniform(0.1, 0.5)) % 256], -1)
        a = (base + rng.normal(0, 20, base.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(a).save(os.path.join(d, f"{i:05d}.jpg"), quality=90)


def bench_pack(tmp: str, n: int) -> float:
    """Images/s of one decode process packing ``n`` JPEGs at 256."""
    from netdef.data import pack_dataset

    make_jpegs(os.path.join(tmp, "jpegs"), n)
    t = time.perf_counter()
    pack_dataset(os.path.join(tmp, "jpegs"), os.path.join(tmp, "packed-jpegs"), image_size=256,
            workers=1)
    return n / (time.perf_counter() - t)


def make_packed(dst: str, gigabytes: float, size: int = 256) -> int:
    """A valid packed cache of about ``gigabytes`` of random images (written directly)."""
    from netdef.data.writer import PackSummary, write_meta

    rec = 3 * size * size
    n = max(256, int(gigabytes * 1e9) // rec)
    os.makedirs(dst, exist_ok=True)
    rng = np.random.default_rng(0)
    block = rng.integers(0, 256, (256, 3, size, size), dtype=np.uint8).tobytes()
    for split, count in (("train", n), ("val", 256)):
        with open(os.path.join(dst, f"{split}.u8"), "wb") as f:
            for start in range(0, count, 256):
                f.write(block[: min(256, count - start) * rec])
        np.save(os.path.join(dst, f"{split}_labels.npy"), np.arange(count, dtype=np.int64) % 1000)
    eigval = np.array([0.2175, 0.0188, 0.0045])                       # the usual ImageNet PCA
    eigvec = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140],
                       [-0.5836, -0.6948, 0.4203]])
    packed = PackSummary(counts={"train": n, "val": 256}, channels=3, channels_reason="generated",
                    mean=np.full((3, size, size), 127.5, np.float32), eigval=eigval,
                    eigvec=eigvec)
    classes = [f"c{k}" for k in range(1000)]
    write_meta(dst, packed, source=dst, layout="imagenet", fingerprint="bench",
               options={"image_size": size, "seed": 0}, classes=classes, class_names=classes)
    return n


LOAD_CHILD = """
import json, os, sys, time
from netdef.data import PackedData, train_loader

def rss_mb(pid):
    try:
        text = open(f"/proc/{pid}/status").read()
    except OSError:
        return 0
    return int(text.split("VmRSS:")[1].split()[0]) / 1024

def kids():
    me = os.getpid()
    out = []
    for task in os.listdir(f"/proc/{me}/task"):
        out += open(f"/proc/{me}/task/{task}/children").read().split()
    return out

ds = PackedData(sys.argv[1]); batch, workers = int(sys.argv[2]), int(sys.argv[3])
loader = train_loader(ds, batch, 224, workers=workers)
n, t0, peak_self, peak_worker = 0, None, 0, 0
for b, (x, y) in enumerate(loader):
    if b == 2: t0, n = time.perf_counter(), 0
    n += len(y)
    peak_self = max(peak_self, rss_mb(os.getpid()))
    peak_worker = max([peak_worker] + [rss_mb(k) for k in kids()])
rate = n / (time.perf_counter() - t0)
print(json.dumps({"rate": rate, "self_mb": peak_self, "worker_mb": peak_worker}))
"""


def bench_load(path: str, batch: int, workers: int) -> dict:
    """Loader rate over one epoch and peak RSS (sampled each batch from /proc: the loading
    process and its largest worker), in a fresh process so the RSS is this measurement's."""
    out = subprocess.run([sys.executable, "-c", LOAD_CHILD, path, str(batch), str(workers)],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_alexnet(batch: int, steps: int = 3) -> tuple[float, str]:
    """CPU training images/s of the compiled alexnet-2gpu.cfg, or of a hand-written AlexNet."""
    import torch
    import torch.nn.functional as F

    try:
        import netdef

        net = netdef.compile_net(netdef.load(os.path.join(ROOT, "layers", "alexnet-2gpu.cfg")),
                                 devices=("cpu", "cpu"))
        what = "compiled layers/alexnet-2gpu.cfg (netdef.compile_net)"
        def loss_fn(x, y):
            return sum(net.costs(x, y).values())
    except Exception as exc:  # a broken install: time a hand-written net instead, and say so
        net = _hand_alexnet()
        what = f"hand-written torch AlexNet (compile_net unavailable: {type(exc).__name__})"
        def loss_fn(x, y):
            return F.cross_entropy(net(x), y)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(batch, 3, 224, 224), torch.randint(0, 1000, (batch,))
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        opt.zero_grad()
        loss_fn(x, y).backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return batch / min(times[1:]), what


def _hand_alexnet():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 96, 11, 4, 2), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 2),
        nn.MaxPool2d(3, 2), nn.Conv2d(96, 256, 5, 1, 2, groups=2), nn.ReLU(),
        nn.LocalResponseNorm(5, 1e-4, 0.75, 2), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, 1, 1), nn.ReLU(), nn.Conv2d(384, 384, 3, 1, 1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, 1, 1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096),
        nn.ReLU(), nn.Linear(4096, 1000))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack-images", type=int, default=200)
    ap.add_argument("--big-gb", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--step-batch", type=int, default=32, help="batch for the AlexNet step")
    args = ap.parse_args()
    print(f"cpus: {os.cpu_count()}  affinity: {len(os.sched_getaffinity(0))}")
    with tempfile.TemporaryDirectory(prefix="netdef-bench-") as tmp:
        pack_rate = bench_pack(tmp, args.pack_images)
        print(
            f"pack (decode 500×375 JPEG + resize 256 + write), 1 process: "
            f"{pack_rate:8.1f} img/s/core"
        )
        small = os.path.join(tmp, "small")
        n_small = make_packed(small, 0.25)
        s = bench_load(small, args.batch, args.workers)
        print(f"load → augmented batch at 224, {args.workers} workers: {s['rate']:8.1f} img/s "
              f"({n_small} images, {n_small * 3 * 256 * 256 / 1e9:.2f} GB packed)")
        step_rate, what = bench_alexnet(args.step_batch)
        print(
            f"AlexNet CPU training step, batch {args.step_batch}: {step_rate:8.1f} img/s  [{what}]"
        )
        print(f"ratio loader / training step: {s['rate'] / step_rate:8.1f}× (target >= 3×)")
        big = os.path.join(tmp, "big")
        n_big = make_packed(big, args.big_gb)
        b = bench_load(big, args.batch, args.workers)
        print(
            f"peak RSS (sampled per batch), one epoch: "
            f"{n_small * 3 * 256 * 256 / 1e9:.2f} GB set: main "
            f"{s['self_mb']:.0f} MB, largest worker {s['worker_mb']:.0f} MB; "
            f"{n_big * 3 * 256 * 256 / 1e9:.2f} GB set: main {b['self_mb']:.0f} MB, "
            f"largest worker {b['worker_mb']:.0f} MB (loader {b['rate']:.1f} img/s)"
        )


if __name__ == "__main__":
    main()
