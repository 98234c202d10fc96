"""``netdef bench`` through CliRunner, the FLOP and peak arithmetic, and the memory settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from netdef.check import load
from netdef.cli import cli
from netdef.cli.memory import keep_freed_memory, use_huge_pages, wants_kept_memory
from netdef.speed import measure_peak, step_flops

from conftest import LAYERS, cli_failed

QUICKSTART = str(LAYERS / "quickstart.cfg")
ARGS = ["bench", QUICKSTART, "--input-size", "24", "--batch", "4", "--iters", "1"]


def test_bench_json_reports_layers_rate_and_peak():
    r = CliRunner().invoke(cli, ARGS + ["--json", "--peak-gflops", "100"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    names = [row["name"] for row in out["layers"]]
    assert names[:3] == ["conv1", "pool1", "rnorm1"] and "fc10" in names
    conv1 = out["layers"][0]
    assert conv1["forward_ms"] > 0 and conv1["backward_ms"] > 0
    assert out["images_per_s"] > 0 and out["peak_gflops"] == 100
    assert abs(out["peak_share"] - out["gflops"] / 100) < 1e-9


def test_bench_table_and_bf16():
    r = CliRunner().invoke(cli, ARGS + ["--precision", "bf16"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "rnorm1" in r.output and "images/s" in r.output and "bf16" in r.output
    assert (
        "% of the fp32 matrix-multiply rate" in r.output and "measured: fp32 torch.mm" in r.output
    )


def test_bench_fp16_on_cpu_exits_1():
    cli_failed(CliRunner().invoke(cli, ARGS + ["--precision", "fp16"]),
               "fp16 needs every layer on a CUDA device")


def test_bench_of_a_bad_file_exits_1(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text("[data]\ntype=nope\n")
    cli_failed(CliRunner().invoke(cli, ["bench", str(bad)]), f"{bad}:2:6: error:")


def test_step_flops_of_alexnet():
    # 2·MACs forward + 4·MACs backward; conv1 (reads the data) 2·MACs backward: 4.14 GFLOP/image
    flops = step_flops(load(LAYERS / "alexnet-2gpu.cfg"))
    assert abs(flops / 1e9 - 4.14) < 0.01


def test_peak_is_measured_or_given():
    assert measure_peak(override=233.0) == measure_peak("cpu", override=233.0)
    assert measure_peak(override=233.0).how == "given"
    peak = measure_peak("cpu", budget_s=0.05, max_side=256)
    assert peak.gflops > 0 and peak.how.startswith("measured: fp32 torch.mm 256×256 on cpu")


def test_huge_pages_default_and_opt_out():
    env = {}
    assert use_huge_pages(env) and env["THP_MEM_ALLOC_ENABLE"] == "1"
    env = {"NETDEF_HUGE_PAGES": "0"}
    assert not use_huge_pages(env) and "THP_MEM_ALLOC_ENABLE" not in env
    env = {"THP_MEM_ALLOC_ENABLE": "0"}  # the user's own setting wins
    assert not use_huge_pages(env) and env["THP_MEM_ALLOC_ENABLE"] == "0"


FAULTS = """
import resource, sys, numpy as np
from netdef.cli.memory import keep_freed_memory
on = keep_freed_memory({}) if sys.argv[1] == "1" else False
np.ones(64 << 18, np.float32)  # 64 MiB, freed at once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(64 << 18, np.float32)  # the same size again: fresh pages, or the freed ones
print(int(on), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _second_alloc_faults(keep: bool, numpy_huge_pages: str) -> tuple[bool, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["NUMPY_MADVISE_HUGEPAGE"] = numpy_huge_pages
    out = subprocess.run([sys.executable, "-c", FAULTS, "1" if keep else "0"], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0] == "1", int(out[1])


@pytest.mark.skipif(not wants_kept_memory({}), reason="glibc only")
@pytest.mark.parametrize("numpy_huge_pages", ["0", "1"])
def test_kept_memory_reuses_freed_pages(numpy_huge_pages):
    """With glibc told to keep freed memory, a second 64 MiB array faults on no fresh page.

    Without the setting, 64 MiB is above glibc's largest dynamic mmap threshold (32 MiB on
    64-bit), so each array is a fresh mapping that faults once per page it touches. How many
    faults that is depends on the page size the kernel backs it with: 16,384 with 4 KiB pages;
    about 32 (or a few hundred, when the kernel cannot find whole 2 MiB pages at once) with
    transparent huge pages, which numpy asks for on arrays of 4 MiB and more
    (``NUMPY_MADVISE_HUGEPAGE``, on by default on Linux) and the kernel grants when
    /sys/kernel/mm/transparent_hugepage/enabled is ``madvise`` or ``always`` (with ``always``,
    even unasked). Both page sizes are tried, so the bounds are in pages of either size: a
    fresh 64 MiB faults at least once per 2 MiB; a kept one on far fewer pages."""
    on, kept = _second_alloc_faults(True, numpy_huge_pages)
    off, plain = _second_alloc_faults(False, numpy_huge_pages)
    assert on and not off
    assert plain >= 32 and kept < min(64, plain // 4), (kept, plain)


def test_kept_memory_opt_outs():
    assert not wants_kept_memory({"NETDEF_KEEP_FREED": "0"})
    assert not keep_freed_memory({"NETDEF_KEEP_FREED": "0"})
    assert not wants_kept_memory(
        {"MALLOC_TRIM_THRESHOLD_": "1000"}
    )  # the user's glibc setting wins
    assert not wants_kept_memory({"MALLOC_MMAP_MAX_": "8"})


def test_bench_needs_the_params_file(tmp_path):
    """The step is netdef train's (its update rule, the norms' constants): a definition
    without its params file is refused, clearly, not with a traceback."""
    bare = tmp_path / "bare.cfg"
    bare.write_text((LAYERS / "quickstart.cfg").read_text())
    r = CliRunner().invoke(cli, ["bench", str(bare), "--input-size", "24", "--batch", "4"])
    cli_failed(r, "needs the params file", "bare-params.cfg")
