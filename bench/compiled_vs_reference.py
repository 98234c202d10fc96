"""Hand-run benchmark: a training step of a compiled net vs the same net written by hand in
PyTorch (bench/reference_nets.py: eager, idiomatic, NCHW).

    python bench/compiled_vs_reference.py [--net alexnet|18pct|quickstart] [--batch 64]
        [--iters 4] [--rounds 2] [--warmup 1] [--no-compile] [--no-bf16] [--variants A,B]
        [--threads N] [--peak-gflops G] [--device cpu]

Nets: ``alexnet`` (layers/alexnet-2gpu.cfg at 224, towers as groups by hand), ``18pct``
(layers/cifar10-18pct.cfg at 32, cuda-convnet's CIFAR-10 example) and ``quickstart``
(layers/quickstart.cfg at 56). The hand-written net starts from the compiled net's initial
weights (copied by name; a two-tower layer's halves joined) and each reference process first
checks that both give the same loss on a batch (reported as ``same_loss``: relative difference).

Every variant runs in its own process, so each has its own environment, and the variants
alternate round by round (reference, compiled, …, reference, compiled, …) so that drift in
the machine's load hits all alike. The compiled net runs as ``netdef`` runs it: its memory
and thread settings as the command line applies them (huge pages, glibc keeping freed memory,
OpenMP threads that sleep when idle; netdef/cli/memory.py, netdef/cli/threads.py), its
default layout (channels-last on the CPU) and its optimizer (the paper's rule, netdef.optim).
The reference runs in the user's environment with ``torch.optim.SGD`` (momentum 0.9), as does
the row "compiled fp32 plain env"; with "reference fp32 netdef env" the hand-written net gets
netdef's process settings too, so the two extra rows separate what the settings are worth from
what the compiled net is. Rows: fp32, then bf16 autocast and ``torch.compile`` (fp32 and bf16)
of each side. Each process also reports its peak resident memory.

The row "compiled fp32 nchw" (ask for it with ``--variants``) runs the compiled net in NCHW,
showing what the channels-last layout is worth. ``--threads N`` runs every process with N
OpenMP threads; with ``--threads 1`` the "CPU ms" column (process CPU time per step, the best
round) is what the machine's other load disturbs least.

A step is zero_grad, forward, loss, backward and the update on one fixed random batch; a
process reports the median step time after warm-up, and the table gives the best of the
rounds' medians as images/s, the ratio to the fp32 reference, GFLOP/s
(netdef.speed.step_flops: 2·MACs forward, 4·MACs backward, per image) and the share of the
measured fp32 matrix-multiply rate (netdef.speed.measure_peak, or --peak-gflops).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_nets import NETS, check_same_loss, copy_weights  # noqa: E402

# name -> (side, precision, torch.compile, netdef's process settings); the compiled side runs
# in netdef's default layout unless the name says "nchw"
VARIANTS = {
    "reference fp32": ("reference", "fp32", False, False),
    "compiled fp32": ("compiled", "fp32", False, True),
    "compiled fp32 plain env": ("compiled", "fp32", False, False),
    "reference fp32 netdef env": ("reference", "fp32", False, True),
    "compiled fp32 nchw": ("compiled", "fp32", False, True),
    "reference bf16": ("reference", "bf16", False, False),
    "compiled bf16": ("compiled", "bf16", False, True),
    "reference compile fp32": ("reference", "fp32", True, False),
    "compiled compile fp32": ("compiled", "fp32", True, True),
    "reference compile bf16": ("reference", "bf16", True, False),
    "compiled compile bf16": ("compiled", "bf16", True, True),
}


def reference_forward(model, images, labels):
    import torch.nn.functional as F

    from netdef.train.metrics import StepResult

    loss = F.cross_entropy(model(images), labels)
    return StepResult(loss=loss, costs={"logprob": loss})


def _compiled(case, device: str):
    from netdef.check import load
    from netdef.compiler import compile_net

    return compile_net(load(case.cfg, input_size=case.side), devices=device, seed=0).train()


def worker(net: str, name: str, batch: int, iters: int, device: str, warmup: int = 1) -> dict:
    """Runs in the child process: times ``iters`` steps after ``warmup`` untimed ones (one
    more when compiled); a JSON-ready dict."""
    if os.environ.get("NETDEF_BENCH_KEEP_FREED") == "1":  # as netdef's main() does
        from netdef.cli.memory import keep_freed_memory

        keep_freed_memory()
    import torch

    from netdef.optim import build_optimizer
    from netdef.speed import time_steps
    from netdef.train.step import make_train_step

    side, precision, compiled, _ = VARIANTS[name]
    case = NETS[net]
    torch.manual_seed(0)
    dev = torch.device(device)
    images = 50 * torch.randn(batch, 3, case.side, case.side, device=dev)  # pixel-sized
    labels = torch.randint(0, case.classes, (batch,), device=dev)
    same = None
    if side == "reference":
        model, forward = case.build().to(dev).train(), reference_forward
        twin = _compiled(case, device)
        copy_weights(model, twin)
        same = check_same_loss(model, twin, images[:8], labels[:8])
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        model, forward = _compiled(case, device), None
        opt = build_optimizer(model)
    events = []
    nchw = side == "reference" or "nchw" in name  # the hand-written net: PyTorch's NCHW
    step = make_train_step(model, opt, precision, compiled, events.append, forward,
                           channels_last="off" if nchw else "auto")
    t0 = time.perf_counter()
    time_steps(step, images, labels, 0, warmup=warmup + compiled)
    cpu0 = time.process_time()
    times = time_steps(step, images, labels, iters, warmup=0)
    cpu = (time.process_time() - cpu0) / iters
    return {"median_s": statistics.median(times), "times": times, "cpu_s": cpu,
            "same_loss": same,
            "events": [e.text for e in events], "total_s": time.perf_counter() - t0,
            "threads": torch.get_num_threads(), "thp": os.environ.get("THP_MEM_ALLOC_ENABLE"),
            "wait": os.environ.get("OMP_WAIT_POLICY"),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def environment(tuned: bool, threads: int | None = None) -> dict[str, str]:
    """netdef's process settings (huge pages and OpenMP threads as ``main()`` sets them; glibc
    keeping freed memory, which the child sets itself, see ``worker``) for the compiled side;
    the user's environment for the reference and for the "plain env" row (which shows what the
    settings are worth). ``threads``: OMP_NUM_THREADS for every side."""
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    if tuned:
        sys.path.insert(0, str(ROOT))
        from netdef.cli.memory import use_huge_pages
        from netdef.cli.threads import plan_threads

        use_huge_pages(env)
        env.update(plan_threads(env).env)
        env["NETDEF_BENCH_KEEP_FREED"] = "1"
    return env


def run_child(name: str, args) -> dict:
    tuned = VARIANTS[name][3]
    cmd = [sys.executable, __file__, "--worker", name, "--net", args.net, "--batch",
           str(args.batch), "--iters", str(args.iters), "--device", args.device,
           "--warmup", str(args.warmup)]
    proc = subprocess.run(cmd, env=environment(tuned, args.threads), capture_output=True,
                          text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_table(results: dict[str, list[dict]], batch: int, peak, flops: float) -> None:
    """One row per variant: best median images/s, ratio to the fp32 reference, % of peak."""
    rate, rss, cpu = {}, {}, {}
    for name, runs in results.items():
        good = [r for r in runs if "median_s" in r]
        rate[name] = batch / min(r["median_s"] for r in good) if good else None
        cpu[name] = min(r["cpu_s"] for r in good) * 1e3 if good else None
        rss[name] = max((r.get("peak_rss_gb", 0) for r in runs), default=0)
    base = rate.get("reference fp32")
    print(f"{'variant':26} {'images/s':>9} {'× ref fp32':>10} {'GFLOP/s':>8} {'% mm':>7} "
          f"{'CPU ms':>8} {'RSS GB':>7}")
    for name, r in rate.items():
        if r is None:
            print(f"{name:26} {'failed':>9}  {results[name][-1].get('error', '')[:60]}")
            continue
        gf = r * flops / 1e9
        ratio = f"{r / base:10.2f}" if base else f"{'-':>10}"
        print(f"{name:26} {r:9.1f} {ratio} {gf:8.1f} {100 * gf / peak.gflops:6.1f}% "
              f"{cpu[name]:8.1f} {rss[name]:7.2f}")
    for name, runs in results.items():
        for event in {e for r in runs for e in r.get("events", [])}:
            print(f"  {name}: {event}")
    print(f"fp32 matrix-multiply rate {peak.gflops:.0f} GFLOP/s ({peak.how}); "
          f"{flops / 1e9:.3g} GFLOP per image per step")


def measured_peak(args):
    """The fp32 torch.mm rate, measured in a child with netdef's process settings."""
    from netdef.speed import Peak

    if args.peak_gflops:
        return Peak(args.peak_gflops, "given")
    cmd = [sys.executable, __file__, "--worker", "peak", "--device", args.device]
    out = subprocess.run(cmd, env=environment(True, args.threads), capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout
    return Peak(**json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", choices=sorted(NETS), default="alexnet")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1,
                    help="Untimed steps first in each process (AlexNet's first three steps "
                         "on the CPU are slower while memory settles: use 3).")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-compile", action="store_true", help="Skip the torch.compile rows.")
    ap.add_argument("--no-bf16", action="store_true", help="Skip the bf16 rows.")
    ap.add_argument("--variants", default=None,
                    help="Comma-separated subset of the rows (default: all but those skipped).")
    ap.add_argument("--peak-gflops", type=float, default=None)
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP_NUM_THREADS for every process (default: each side's own).")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.worker == "peak":
        from netdef.speed import measure_peak

        print(json.dumps(measure_peak(args.device).__dict__))
        return
    if args.worker:
        print(json.dumps(worker(args.net, args.worker, args.batch, args.iters, args.device,
                                args.warmup)))
        return
    from netdef.check import load
    from netdef.speed import step_flops

    case = NETS[args.net]
    default = [n for n, (_, p, c, _) in VARIANTS.items()
               if not (c and args.no_compile) and not (p == "bf16" and args.no_bf16)
               and "nchw" not in n]
    names = args.variants.split(",") if args.variants else default
    results: dict[str, list[dict]] = {n: [] for n in names}
    print("command: python bench/compiled_vs_reference.py " + " ".join(sys.argv[1:]))
    print(f"{case.cfg.name} at {case.side}×{case.side} on {args.device}, batch {args.batch}, "
          f"{args.iters} timed steps per process, {args.rounds} rounds; "
          f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    peak = measured_peak(args)
    for _ in range(args.rounds):
        for name in names:  # alternate sides, one process each
            results[name].append(run_child(name, args))
            print(f"  {name}: {json.dumps(results[name][-1])[:160]}", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print_table(results, args.batch, peak, step_flops(load(case.cfg, input_size=case.side)))
    same = [r["same_loss"] for runs in results.values() for r in runs
            if r.get("same_loss") is not None]
    if same:
        print(f"hand-written net from the compiled net's weights: loss relative difference "
              f"at most {max(same):.1e}")


if __name__ == "__main__":
    main()
