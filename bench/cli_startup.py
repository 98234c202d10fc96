"""Start-up cost of the language commands (hand-run; prints ratios, never part of the tests).

`netdef check` must answer in well under a second: it imports no torch. This measures the
wall time of `netdef check layers/alexnet-2gpu.cfg` against a bare `python -c pass` and against
`python -c "import torch"` in the same run, as medians of interleaved repetitions.

    python bench/cli_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "netdef check alexnet-2gpu": [sys.executable, "-m", "netdef", "check",
                                  str(ROOT / "layers" / "alexnet-2gpu.cfg")],
    "netdef summary --json": [sys.executable, "-m", "netdef", "summary", "--json",
                              str(ROOT / "layers" / "alexnet-2gpu.cfg")],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, cmd in COMMANDS.items():  # interleaved, so drift hits all alike
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
            times[name].append(time.perf_counter() - t0)
    ref = statistics.median(times["python -c pass"])
    print(f"{'command':32} {'median s':>9} {'× python':>9}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:32} {med:9.3f} {med / ref:9.1f}")


if __name__ == "__main__":
    main()
