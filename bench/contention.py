"""Hand-run benchmark: the quickstart trained end to end on a quiet machine and beside one and
two busy processes, with netdef's thread settings and with libgomp's defaults.

    python bench/contention.py [--epochs 2] [--repeats 2] [--busy 0,1,2]
                               [--variants netdef,libgomp] [--no-bench]

Each run is ``python -m netdef train examples/quickstart.cfg --epochs E`` in a fresh process,
with its own run folder and a shared data cache (packed once, before the timed runs). A busy
process is a Python loop that spins on one core; the script starts them before a run and ends
them after it. Variants:

* ``netdef``: the command line's defaults (netdef/cli/threads.py: ``OMP_WAIT_POLICY=PASSIVE``,
  threads budgeted against the loader's workers);
* ``libgomp``: ``NETDEF_THREADING=0``, so OpenMP runs as libgomp sets it up by default (idle
  threads spin before they sleep), as netdef did before it chose;
* ``NAME=VALUE``: netdef's defaults with that variable set, e.g. ``GOMP_SPINCOUNT=2000``
  (idle threads spin 2,000 rounds, then sleep; netdef leaves a wait setting the user made).

Runs alternate (for each repeat: every busy count, every variant), so drift in the machine's
load hits all alike. The table gives, per busy count and variant, the wall time of each run
(process start to exit), the training images/s (images trained / time in training steps and
loading, validation excluded; from the run's metrics.jsonl), its ratio to the same variant's
quiet rate, and the best validation top-1 error (the same in every row when training is
deterministic). Unless ``--no-bench``, ``netdef bench`` times the quickstart's step alone (same
batch and input size) after each repeat, and the quiet end-to-end rate is given as a share of
their mean.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "examples" / "quickstart.cfg"
VARIANTS = {"netdef": {}, "libgomp": {"NETDEF_THREADING": "0"}}
THREAD_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS",
               "NETDEF_THREADS", "NETDEF_THREADING")
SPIN = "while True:\n    pass\n"


def environment(variant: str, cache: str) -> dict[str, str]:
    """The user's environment without thread settings, plus the variant's and the cache."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_KEYS}
    env.update(variant_env(variant))
    env["NETDEF_CACHE"] = cache
    return env


def variant_env(variant: str) -> dict[str, str]:
    """The variables a variant sets: a named one, or ``NAME=VALUE`` (netdef's defaults plus it)."""
    if variant in VARIANTS:
        return VARIANTS[variant]
    name, sep, value = variant.partition("=")
    if not sep or not name:
        raise SystemExit(f"unknown variant {variant!r}: netdef, libgomp or NAME=VALUE")
    return {name: value}


def start_busy(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(count)]


def stop_busy(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def train_rate(metrics: Path, batch: int) -> float:
    """Training images/s of a run: Σ images / Σ (images / window rate) over its log windows."""
    images = seconds = 0.0
    last = {}
    for line in metrics.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind") != "train":
            continue
        start = last.get(rec["epoch"], 0)
        n = (rec["batch"] - start) * batch
        last[rec["epoch"]] = rec["batch"]
        images += n
        seconds += n / rec["images_per_s"]
    return images / seconds if seconds else float("nan")


def best_error(metrics: Path) -> float:
    errs = [json.loads(line).get("val_top1_err") for line in metrics.read_text().splitlines()]
    return min(e for e in errs if e is not None)


def run_once(variant: str, busy: int, epochs: int, cache: str, out: Path) -> dict:
    """One training run beside ``busy`` spinning processes; wall time, rate, best error."""
    cmd = [sys.executable, "-m", "netdef", "train", str(EXPERIMENT), "--epochs", str(epochs),
           "--save", str(out)]
    procs = start_busy(busy)
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=environment(variant, cache), cwd=ROOT,
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
    finally:
        stop_busy(procs)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    metrics = out / "metrics.jsonl"
    return {"wall_s": wall, "images_per_s": train_rate(metrics, 64),
            "best_err": best_error(metrics)}


def bench_rate(cache: str) -> float | None:
    """``netdef bench``'s step-only images/s for the quickstart net at batch 64, 56×56."""
    cmd = [sys.executable, "-m", "netdef", "bench", str(ROOT / "layers" / "quickstart.cfg"),
           "--input-size", "56", "--batch", "64", "--iters", "20", "--json"]
    proc = subprocess.run(cmd, env=environment("netdef", cache), cwd=ROOT, capture_output=True,
                          text=True)
    return json.loads(proc.stdout)["images_per_s"] if proc.returncode == 0 else None


def print_table(results: dict, variants: list[str], busies: list[int]) -> None:
    print("\n| quickstart, end to end | variant | wall s (each run) | train images/s | "
          "× quiet | best val error |")
    print("|---|---|---|---|---|---|")
    for busy in busies:
        for variant in variants:
            runs = [r for r in results[(busy, variant)] if "wall_s" in r]
            if not runs:
                err = results[(busy, variant)][-1].get("error", "?")
                print(f"| {busy} busy | {variant} | failed: {err[:60]} | | | |")
                continue
            rate = statistics.mean(r["images_per_s"] for r in runs)
            quiet = [r["images_per_s"] for r in results.get((0, variant), []) if "wall_s" in r]
            ratio = f"{rate / statistics.mean(quiet):.2f}" if quiet else "-"
            walls = ", ".join(f"{r['wall_s']:.1f}" for r in runs)
            errs = sorted({f"{100 * r['best_err']:.1f} %" for r in runs})
            label = "quiet" if busy == 0 else f"beside {busy} busy"
            print(f"| {label} | {variant} | {walls} | {rate:,.0f} | {ratio} | {', '.join(errs)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--busy", default="0,1,2", help="Busy-process counts, comma-separated.")
    ap.add_argument("--variants", default="netdef,libgomp",
                    help="Comma-separated: netdef, libgomp or NAME=VALUE.")
    ap.add_argument("--no-bench", action="store_true", help="Skip the netdef bench row.")
    args = ap.parse_args()
    busies = [int(b) for b in args.busy.split(",")]
    variants = args.variants.split(",")
    print("command: python bench/contention.py " + " ".join(sys.argv[1:]))
    print(f"CPUs: {len(os.sched_getaffinity(0))}; load before: {os.getloadavg()[0]:.2f}",
          flush=True)
    results = {(b, v): [] for b in busies for v in variants}
    with tempfile.TemporaryDirectory(prefix="netdef-contention-") as tmp:
        cache = os.path.join(tmp, "cache")
        warm = run_once("netdef", 0, 1, cache, Path(tmp) / "warm-up")  # packs the data once
        print(f"  warm-up (data packed): {json.dumps(warm)}", flush=True)
        steps = []  # the step alone, once per repeat, so that it drifts with the runs
        for rep in range(args.repeats):
            for busy in busies:
                for variant in variants:
                    out = Path(tmp) / f"run-{rep}-{busy}-{variant}"
                    results[(busy, variant)].append(run_once(variant, busy, args.epochs, cache,
                                                             out))
                    print(f"  {busy} busy, {variant}: {json.dumps(results[(busy, variant)][-1])}",
                          flush=True)
            if not args.no_bench and (rate := bench_rate(cache)):
                steps.append(rate)
                print(f"  netdef bench (step only): {rate:,.0f} images/s", flush=True)
        step = statistics.mean(steps) if steps else None
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print_table(results, variants, busies)
    quiet = [r["images_per_s"] for r in results.get((0, "netdef"), []) if "wall_s" in r]
    if step and quiet:
        share = statistics.mean(quiet) / step
        print(f"\nnetdef bench layers/quickstart.cfg --input-size 56 --batch 64 (step only, mean "
              f"of {len(steps)}): {step:,.0f} images/s; quiet end-to-end training is "
              f"{share:.2f}× that")


if __name__ == "__main__":
    main()
