"""Hand-run check: does the same training run give the same numbers in every fresh process?

    python bench/determinism.py [--runs 100] [--epochs 1] [--busy 0] [--experiment FILE]

Runs ``python -m netdef train FILE --epochs E`` (default: the quickstart) ``--runs`` times, each
in a fresh process with its own run folder and a shared data cache (packed once, before the
counted runs), optionally beside ``--busy`` processes that spin on a core each (thread timing
then varies more from run to run). Each run's metrics.jsonl, less its timing fields (``time``,
``images_per_s``, ``seconds``), is its outcome; the script prints how many runs gave each
distinct outcome, and for the others the first record that differs from the most common one.

Training is meant to be a function of the files and the seed on a given machine and thread
count (docs/performance.md "One process like another" has the fault this looks for: a few runs
in a hundred differed from the first cross-map normalisation on). The exit status is 1 when
the runs disagree.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("time", "images_per_s", "seconds")
SPIN = "while True:\n    pass\n"


def outcome(metrics: Path) -> tuple[str, ...]:
    """The run's records without their timing fields, as sorted JSON lines."""
    rows = []
    for line in metrics.read_text().splitlines():
        rec = {k: v for k, v in json.loads(line).items() if k not in TIMING}
        rows.append(json.dumps(rec, sort_keys=True))
    return tuple(rows)


def train(experiment: str, epochs: int, out: Path, cache: str) -> tuple[str, ...] | str:
    cmd = [sys.executable, "-m", "netdef", "train", experiment, "--epochs", str(epochs),
           "--save", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "NETDEF_CACHE": cache},
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    return outcome(out / "metrics.jsonl")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--busy", type=int, default=0, help="Spinning processes beside each run.")
    ap.add_argument("--experiment", default=str(ROOT / "examples" / "quickstart.cfg"))
    args = ap.parse_args()
    print("command: python bench/determinism.py " + " ".join(sys.argv[1:]), flush=True)
    results = []
    busy = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.busy)]
    try:
        with tempfile.TemporaryDirectory(prefix="netdef-determinism-") as tmp:
            cache = os.path.join(tmp, "cache")
            train(args.experiment, 1, Path(tmp) / "pack", cache)  # packs the data once
            for i in range(args.runs):
                results.append(train(args.experiment, args.epochs, Path(tmp) / f"run-{i}",
                                     cache))
                if (i + 1) % 10 == 0:
                    print(f"  {i + 1} runs", flush=True)
    finally:
        for p in busy:
            p.terminate()
            p.wait()
    counts = collections.Counter(results)
    common, n = counts.most_common(1)[0]
    print(f"{args.runs} runs of {Path(args.experiment).name}, {args.epochs} epoch(s), "
          f"beside {args.busy} busy: {len(counts)} distinct outcome(s); "
          f"the most common in {n} runs")
    for other, m in counts.items():
        if other == common:
            continue
        if isinstance(other, str) or isinstance(common, str):
            print(f"  {m} run(s): {other if isinstance(other, str) else 'completed'}")
            continue
        i = next((i for i, (a, b) in enumerate(zip(common, other, strict=False)) if a != b),
                 min(len(common), len(other)))
        print(f"  {m} run(s) differ from record {i + 1} on:")
        print(f"    most common: {common[i][:240] if i < len(common) else '(none)'}")
        print(f"    this one:    {other[i][:240] if i < len(other) else '(none)'}")
    return 0 if len(counts) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
