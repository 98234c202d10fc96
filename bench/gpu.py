"""GPU benchmark (hand-run; prints ratios, never part of the tests; docs/design.md §7).

On whatever CUDA devices exist, times a training step (forward, costs, backward, SGD-momentum
update) of the compiled two-tower AlexNet (``layers/alexnet-2gpu.cfg``) against the hand-written
PyTorch AlexNet of ``bench/compiled_vs_reference.py`` in the same process and run, in fp32 and
bf16 autocast; the towers folded on one GPU and split (on two GPUs when present, else as two
logical devices on one GPU, unfolded); then end-to-end images/s with the real loader on
``builtin:shapes`` at 224 (augmentation on the GPU) against the step alone; and the peak GPU
memory of each row. On a machine without CUDA it says so and exits 0.

    python bench/gpu.py [--batch 128] [--iters 20] [--loader-batches 30] [--workers 8]
    python bench/gpu.py --device cpu --batch 2 --iters 1 --loader-batches 2   # smoke run

Every row uses ``--channels-last`` (default auto: NHWC in bf16 on CUDA, for the hand-written
net too); two more rows time the bf16 reference and folded net in the other layout.

Targets (docs/performance.md "GPU checks"): compiled/hand-written ≥ 0.95 in bf16; end-to-end
≥ 0.9 of step-only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "layers" / "alexnet-2gpu.cfg"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _peak_reset(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device) -> float:
    import torch

    if torch.device(device).type != "cuda":
        return float("nan")
    return torch.cuda.max_memory_allocated() / 2**30


def build(side: str, devices: list[str]):
    """(model, forward, input device) for one row: the reference, folded or split."""
    from compiled_vs_reference import reference_forward

    from netdef.check import load
    from netdef.compiler import compile_net

    from reference_nets import AlexNet

    if side == "reference":
        return AlexNet().to(devices[0]).train(), reference_forward, devices[0]
    fold = side == "folded"
    net = compile_net(load(CFG), devices=devices if not fold else devices[0], fold=fold)
    return net.train(), None, devices[0]


def time_row(side: str, devices: list[str], precision: str, batch: int, iters: int,
             layout: str = "auto") -> dict:
    """Median seconds per training step of one row, and its peak memory."""
    import torch

    from netdef.speed import time_steps
    from netdef.train.step import make_train_step

    torch.manual_seed(0)
    model, forward, dev = build(side, devices)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    step = make_train_step(model, opt, precision, False, None, forward, channels_last=layout)
    images = torch.randn(batch, 3, 224, 224, device=dev)
    labels = torch.randint(0, 1000, (batch,), device=dev)
    _peak_reset(dev)
    times = time_steps(step, images, labels, iters, warmup=3)
    return {"s": statistics.median(times), "peak_gib": _peak_gib(dev)}


def end_to_end(devices: list[str], precision: str, batch: int, batches: int, workers: int,
               layout: str = "auto") -> dict:
    """Images/s of the folded compiled net fed by the real loader (GPU augmentation)."""
    import torch

    from netdef.check import load
    from netdef.compiler import compile_net
    from netdef.data import open_dataset, train_loader
    from netdef.train.step import make_train_step

    cache = os.environ.setdefault("NETDEF_CACHE", tempfile.mkdtemp(prefix="netdef-gpu-bench-"))
    count = max(1, -(-batch * batches // 10))  # images per class for `batches` batches
    ds = open_dataset(f"builtin:shapes?train={count}&val=10", image_size=256, cache_dir=cache)
    net = compile_net(load(CFG), devices=devices[0]).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    step = make_train_step(net, opt, precision, channels_last=layout)
    loader = train_loader(ds, batch, 224, 0.1, workers=workers, device=devices[0])
    seen, t0 = 0, None
    for k, (images, labels) in enumerate(loader):
        if k == 2:  # after warm-up (workers started, kernels chosen)
            _sync(devices[0])
            t0, seen = time.perf_counter(), 0
        step(images, labels)
        seen += images.shape[0]
    _sync(devices[0])
    elapsed = time.perf_counter() - (t0 or time.perf_counter())
    return {"images_s": seen / elapsed if t0 and elapsed > 0 else float("nan"),
            "batches": len(loader)}


def device_lists(device: str) -> tuple[list[str], list[str], str]:
    """Devices for the folded row, the split row, and a description of the split."""
    import torch

    if device != "cuda":
        return [device], [device, device], f"two logical devices on {device}"
    if torch.cuda.device_count() >= 2:
        return ["cuda:0"], ["cuda:0", "cuda:1"], "towers on cuda:0 and cuda:1"
    return ["cuda:0"], ["cuda:0", "cuda:0"], "two logical devices on one GPU, unfolded"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--loader-batches", type=int, default=30)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu for a smoke run")
    parser.add_argument("--channels-last", default="auto", choices=["auto", "on", "off"],
                        help="layout of every row, the hand-written one included (default auto: "
                             "on in bf16 on CUDA); the bf16 rows are also run the other way")
    args = parser.parse_args()
    import torch

    from netdef.train.step import use_channels_last

    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device on this machine; it measures GPUs only. "
              "(python bench/compiled_vs_reference.py measures the CPU.)")
        return
    torch.backends.cudnn.benchmark = True
    folded, split, how = device_lists(args.device)
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(f"{name}, batch {args.batch}, median of {args.iters} steps; split = {how}; "
          f"channels-last {args.channels_last}")
    print(f"{'row':28} {'images/s':>10} {'× hand-written':>15} {'peak GiB':>9}")
    step_rate = {}
    for precision in ("fp32", "bf16"):
        ref = time_row("reference", folded, precision, args.batch, args.iters, args.channels_last)
        for side, devs in (("reference", folded), ("folded", folded), ("split", split)):
            row = ref if side == "reference" else time_row(side, devs, precision, args.batch,
                                                           args.iters, args.channels_last)
            rate = args.batch / row["s"]
            step_rate[(side, precision)] = rate
            print(f"{side + ' ' + precision:28} {rate:10.1f} {ref['s'] / row['s']:15.2f} "
                  f"{row['peak_gib']:9.2f}")
    other = "off" if use_channels_last(args.channels_last, "bf16", [args.device]) else "on"
    ref = time_row("reference", folded, "bf16", args.batch, args.iters, other)
    row = time_row("folded", folded, "bf16", args.batch, args.iters, other)
    print(f"{'reference bf16 NHWC ' + other:28} {args.batch / ref['s']:10.1f} {1:15.2f} "
          f"{ref['peak_gib']:9.2f}")
    print(f"{'folded bf16 NHWC ' + other:28} {args.batch / row['s']:10.1f} "
          f"{ref['s'] / row['s']:15.2f} {row['peak_gib']:9.2f}")
    for precision in ("fp32", "bf16"):
        e2e = end_to_end(folded, precision, args.batch, args.loader_batches, args.workers,
                         args.channels_last)
        ratio = e2e["images_s"] / step_rate[("folded", precision)]
        print(f"end-to-end folded {precision:5} {e2e['images_s']:10.1f} images/s with the loader "
              f"= {ratio:.2f} × step-only (target ≥ 0.9)")


if __name__ == "__main__":
    main()
