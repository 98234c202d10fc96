"""Hand-run benchmark: a training step of the compiled two-tower AlexNet vs a hand-written
PyTorch AlexNet with the same layers (DESIGN.md §5, issue 9).

    python bench/compiled_vs_reference.py [--batch 64] [--iters 4] [--rounds 2] [--no-compile]
                                          [--variants A,B] [--peak-gflops G] [--device cpu]

Every variant runs in its own process, so each has its own environment, and the variants
alternate round by round (reference, compiled, …, reference, compiled, …) so that drift in
the machine's load hits all alike. The compiled net runs in netdef's default settings: its
memory settings as ``netdef`` applies them (huge pages, ``THP_MEM_ALLOC_ENABLE=1``; glibc keeping
freed memory; see netdef/cli/memory.py), the fast cross-map norm, towers folded. The reference
runs in the default environment, as does the row "compiled fp32 plain mem"; with "reference
fp32 netdef mem" the hand-written net gets netdef's memory settings too, so the two extra rows
separate what the settings are worth from what the compiled net is. Rows: fp32, then bf16 autocast and ``torch.compile`` (fp32 and bf16) of
each side. Each process also reports its peak resident memory.

A step is zero_grad, forward, loss, backward and an SGD-with-momentum update on one fixed
random batch; a process reports the median step time after warm-up, and the table gives the
best of the rounds' medians as images/s, the ratio to the fp32 reference, GFLOP/s
(netdef.speed.step_flops: 2·MACs forward, 4·MACs backward, per image) and the share of the
FMA peak (netdef.speed.estimate_peak, or --peak-gflops).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "layers" / "alexnet-2gpu.cfg"
# name -> (side, precision, torch.compile, netdef's memory settings)
VARIANTS = {
    "reference fp32": ("reference", "fp32", False, False),
    "compiled fp32": ("compiled", "fp32", False, True),
    "compiled fp32 plain mem": ("compiled", "fp32", False, False),
    "reference fp32 netdef mem": ("reference", "fp32", False, True),
    "reference bf16": ("reference", "bf16", False, False),
    "compiled bf16": ("compiled", "bf16", False, True),
    "reference compile fp32": ("reference", "fp32", True, False),
    "compiled compile fp32": ("compiled", "fp32", True, True),
    "reference compile bf16": ("reference", "bf16", True, False),
    "compiled compile bf16": ("compiled", "bf16", True, True),
}


def build_reference():
    """The paper's two-tower AlexNet by hand, towers as groups, layers as in alexnet-2gpu.cfg:
    conv→relu→LRN→pool twice, conv3–5, pool, fc6/fc7 with dropout, fc8 (written the way
    torchvision writes AlexNet: in-place ReLU, nn.LocalResponseNorm)."""
    import torch.nn.functional as F
    from torch import nn

    class AlexNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
            self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
            self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
            self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
            self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
            self.fc6, self.fc7 = nn.Linear(9216, 4096), nn.Linear(4096, 4096)
            self.fc8 = nn.Linear(4096, 1000)
            self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)

        def forward(self, x):
            x = F.relu(self.conv1(F.pad(x, (0, 3, 0, 3))), inplace=True)  # (N, 96, 55, 55)
            x = F.max_pool2d(self.lrn(x), 3, 2)  # (N, 96, 27, 27)
            x = F.max_pool2d(self.lrn(F.relu(self.conv2(x), inplace=True)), 3, 2)  # (N, 256, 13, 13)
            x = F.relu(self.conv3(x), inplace=True)
            x = F.relu(self.conv4(x), inplace=True)
            x = F.relu(self.conv5(x), inplace=True)
            x = F.max_pool2d(x, 3, 2).flatten(1)  # (N, 9216)
            x = F.dropout(F.relu(self.fc6(x), inplace=True), 0.5, self.training)
            x = F.dropout(F.relu(self.fc7(x), inplace=True), 0.5, self.training)
            return self.fc8(x)

    return AlexNet()


def reference_forward(model, images, labels):
    import torch.nn.functional as F

    from netdef.train.metrics import StepResult

    loss = F.cross_entropy(model(images), labels)
    return StepResult(loss=loss, costs={"logprob": loss})


def worker(side: str, precision: str, compiled: bool, batch: int, iters: int, device: str) -> dict:
    """Runs in the child process: times ``iters`` steps after warm-up; a JSON-ready dict."""
    if os.environ.get("NETDEF_BENCH_KEEP_FREED") == "1":  # as netdef's main() does
        from netdef.cli.memory import keep_freed_memory

        keep_freed_memory()
    import torch

    from netdef.train.step import make_train_step
    from netdef.speed import time_steps

    torch.manual_seed(0)
    dev = torch.device(device)
    images = torch.randn(batch, 3, 224, 224, device=dev)
    labels = torch.randint(0, 1000, (batch,), device=dev)
    if side == "reference":
        model, forward = build_reference().to(dev).train(), reference_forward
    else:
        from netdef.check import load
        from netdef.compiler import compile_net

        model, forward = compile_net(load(CFG), devices=device).train(), None
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    events = []
    step = make_train_step(model, opt, precision, compiled, events.append, forward)
    t0 = time.perf_counter()
    times = time_steps(step, images, labels, iters, warmup=2 if compiled else 1)
    return {"median_s": statistics.median(times), "times": times,
            "events": [e.text for e in events], "total_s": time.perf_counter() - t0,
            "threads": torch.get_num_threads(), "thp": os.environ.get("THP_MEM_ALLOC_ENABLE"),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def environment(tuned: bool) -> dict[str, str]:
    """netdef's memory defaults (huge pages; glibc keeping freed memory, which the child sets
    itself, see ``worker``) for the compiled side; the user's environment for the reference
    and for the "plain mem" row (which shows what the settings are worth)."""
    env = dict(os.environ)
    if tuned:
        sys.path.insert(0, str(ROOT))
        from netdef.cli.memory import use_huge_pages

        use_huge_pages(env)
        env["NETDEF_BENCH_KEEP_FREED"] = "1"
    return env


def run_child(name: str, args) -> dict:
    side, precision, compiled, tuned = VARIANTS[name]
    cmd = [sys.executable, __file__, "--worker", name, "--batch", str(args.batch),
           "--iters", str(args.iters), "--device", args.device]
    proc = subprocess.run(cmd, env=environment(tuned), capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_table(results: dict[str, list[dict]], batch: int, peak, flops: float) -> None:
    """One row per variant: best median images/s, ratio to the fp32 reference, % of peak."""
    rate, rss = {}, {}
    for name, runs in results.items():
        good = [r["median_s"] for r in runs if "median_s" in r]
        rate[name] = batch / min(good) if good else None
        rss[name] = max((r.get("peak_rss_gb", 0) for r in runs), default=0)
    base = rate.get("reference fp32")
    print(f"{'variant':24} {'images/s':>9} {'× ref fp32':>10} {'GFLOP/s':>8} {'% peak':>7} "
          f"{'RSS GB':>7}")
    for name, r in rate.items():
        if r is None:
            print(f"{name:24} {'failed':>9}  {results[name][-1].get('error', '')[:60]}")
            continue
        gf = r * flops / 1e9
        ratio = f"{r / base:10.2f}" if base else f"{'-':>10}"
        print(f"{name:24} {r:9.1f} {ratio} {gf:8.1f} {100 * gf / peak.gflops:6.1f}% "
              f"{rss[name]:7.2f}")
    for name, runs in results.items():
        for event in {e for r in runs for e in r.get("events", [])}:
            print(f"  {name}: {event}")
    print(f"peak {peak.gflops:.0f} GFLOP/s: {peak.how}; {flops / 1e9:.2f} GFLOP per image per step")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-compile", action="store_true", help="Skip the torch.compile rows.")
    ap.add_argument("--no-bf16", action="store_true", help="Skip the bf16 rows.")
    ap.add_argument("--variants", default=None,
                    help="Comma-separated subset of the rows (default: all but those skipped).")
    ap.add_argument("--peak-gflops", type=float, default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.worker:
        side, precision, compiled, _ = VARIANTS[args.worker]
        print(json.dumps(worker(side, precision, compiled, args.batch, args.iters, args.device)))
        return
    from netdef.check import load
    from netdef.speed import estimate_peak, step_flops

    names = [n for n, (_, p, c, _) in VARIANTS.items()
             if not (c and args.no_compile) and not (p == "bf16" and args.no_bf16)
             and (args.variants is None or n in args.variants.split(","))]
    results: dict[str, list[dict]] = {n: [] for n in names}
    print(f"{CFG.name} on {args.device}, batch {args.batch}, {args.iters} timed steps per "
          f"process, {args.rounds} rounds; load before: {os.getloadavg()[0]:.2f}", flush=True)
    for _ in range(args.rounds):
        for name in names:  # alternate sides, one process each
            results[name].append(run_child(name, args))
            print(f"  {name}: {json.dumps(results[name][-1])[:160]}", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print_table(results, args.batch, estimate_peak(args.peak_gflops), step_flops(load(CFG)))


if __name__ == "__main__":
    main()
