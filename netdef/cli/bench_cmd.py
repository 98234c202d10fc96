"""``netdef bench``: per-layer times, images/s of a training step and its share of the
machine's measured fp32 matrix-multiply rate (in the spirit of ``caffe time``)."""

from __future__ import annotations

import json
import statistics

import click
from rich.table import Table

from ..check import load, params_candidates
from .language import definition_arg, input_size_option, params_option
from .render import stderr_console, stdout_console
from .screen import Screen


def _measure(checked, devices: str, batch: int, precision: str, compiled: bool, iters: int,
             peak_gflops: float | None, on_event, channels_last: str = "auto") -> dict:
    """Compile, time per layer (fp32, eager), then time whole steps; a JSON-ready dict."""
    import torch

    from ..compiler import compile_net
    from ..compiler.compile import output_layer
    from ..compiler.layout import as_nhwc
    from ..optim import build_optimizer
    from ..schema.shapes import numel
    from ..speed import measure_peak, step_flops, time_layers, time_steps
    from ..train.step import make_train_step

    net = compile_net(checked, devices=devices.split(","), seed=0).train()
    first = net.steps[0].device
    peak = measure_peak(first, override=peak_gflops)  # at start, before any step
    images = torch.randn(batch, checked.input_channels, checked.input_size, checked.input_size,
                         device=first)
    classes = numel(checked.layers[output_layer(checked)].shape)  # the scores' width
    labels = torch.randint(0, classes, (batch,), device=first)
    opt = build_optimizer(net)  # the update netdef train runs (the paper's rule)
    step = make_train_step(net, opt, precision=precision, compile=compiled, on_event=on_event,
                           channels_last=channels_last)  # re-lays the weights if channels-last
    layers = time_layers(net, as_nhwc(images) if step.channels_last else images, labels, iters)
    seconds = statistics.median(time_steps(step, images, labels, iters, warmup=1 + compiled))
    flops = step_flops(checked)
    rate = batch / seconds
    return {"definition": checked.spec.path, "batch": batch, "devices": devices,
            "precision": precision, "compile": compiled, "iters": iters,
            "channels_last": step.channels_last,
            "threads": torch.get_num_threads(),
            "layers": [{"name": n, "forward_ms": f * 1e3, "backward_ms": b * 1e3}
                       for n, (f, b) in layers.items()],
            "step_ms": seconds * 1e3, "images_per_s": rate,
            "gflop_per_image": flops / 1e9, "gflops": rate * flops / 1e9,
            "peak_gflops": peak.gflops, "peak_how": peak.how,
            "peak_share": rate * flops / 1e9 / peak.gflops if peak.gflops else None}


def _need_params(checked, definition: str) -> None:
    """NetdefError unless the net has its params (the step needs the normalisation constants
    and the learning parameters, as ``netdef train`` does)."""
    from ..errors import NetdefError

    if checked.spec.params_mode in ("file", "inline"):
        return
    looked = ", ".join(str(p) for p in params_candidates(definition))
    raise NetdefError.at(definition, f"netdef bench times a training step, which needs the "
                         f"params file (learning rates, normalisation constants): none found "
                         f"(looked for {looked}); give one with --params")


def _print(result: dict) -> None:
    out = stdout_console()
    # a line of its own: as a Table title rich wraps it to the (narrow) table's width
    out.print(f"{result['definition']}, batch {result['batch']}, {result['devices']}: "
              f"per layer (fp32 eager, median of {result['iters']})", highlight=False)
    table = Table()
    table.add_column("layer")
    table.add_column("forward ms", justify="right")
    table.add_column("backward ms", justify="right")
    for row in result["layers"]:
        table.add_row(row["name"], f"{row['forward_ms']:.2f}", f"{row['backward_ms']:.2f}")
    fw = sum(r["forward_ms"] for r in result["layers"])
    bw = sum(r["backward_ms"] for r in result["layers"])
    table.add_row("[bold]total[/]", f"{fw:.2f}", f"{bw:.2f}")
    out.print(table)
    share = result["peak_share"]
    layout = ", channels-last" if result["channels_last"] else ""
    out.print(f"training step ({result['precision']}{', compiled' if result['compile'] else ''}"
              f"{layout}, "
              f"netdef's update rule): {result['step_ms']:.1f} ms, "
              f"[bold]{result['images_per_s']:,.1f} images/s[/], "
              f"{result['gflops']:.1f} GFLOP/s ({result['gflop_per_image']:.3g} GFLOP/image)")
    if share is not None:
        out.print(f"{100 * share:.1f} % of the fp32 matrix-multiply rate "
                  f"{result['peak_gflops']:.0f} GFLOP/s ({result['peak_how']}; "
                  "--peak-gflops to override)")
        if share > 1:
            out.print("[yellow]over 100 %: the machine was busier while the rate was "
                      "measured than while the step ran, or Winograd convolutions (counted "
                      "at their direct FLOPs) beat the matrix multiply[/]")


@click.command("bench", short_help="Time each layer, and whole training steps, of a net.")
@definition_arg
@params_option
@input_size_option
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--devices", default="cpu", show_default=True,
              help="One device for all layers (cpu, cuda:0) or one per logical device.")
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16", "fp16"]),
    default="fp32",
    show_default=True,
    help="Of the training step (per-layer times are fp32, in the step's layout).",
)
@click.option("--compile", "compiled", is_flag=True, help="torch.compile the training step.")
@click.option("--channels-last", type=click.Choice(["auto", "on", "off"]), default="auto",
              show_default=True, help="NHWC layout of the training step (auto: on on the "
                                      "CPU and for bf16/fp16 on CUDA).")
@click.option("--iters", type=click.IntRange(min=1), default=5, show_default=True,
              help="Timed passes (after one warm-up; medians reported).")
@click.option("--peak-gflops", type=click.FloatRange(min=0, min_open=True), default=None,
              help="The machine's fp32 rate to compare with, instead of measuring torch.mm "
                   "at start.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def bench_cmd(definition: str, params: str | None, input_size: int | None, batch: int,
              devices: str, precision: str, compiled: bool, channels_last: str, iters: int,
              peak_gflops: float | None, as_json: bool) -> None:
    """Time the compiled net: each layer's forward and backward, then whole training steps.

    DEF is a layers.cfg file or an experiment file. Random images and labels; the step is
    forward, costs, backward and the update netdef train runs, so the file needs its params
    (as for training). FLOPs count 2·MACs forward
    and 4·MACs backward per image for layers with weights; the step's GFLOP/s are compared
    with the fp32 torch.mm rate measured on the same device at start (half a second).

    \b
    Example:
      netdef bench layers/alexnet-2gpu.cfg --batch 64
      netdef bench layers/quickstart.cfg --input-size 24 --precision bf16 --json
    """
    checked = load(definition, params, input_size)
    _need_params(checked, definition)
    screen = Screen(stdout_console(), stderr_console())
    result = _measure(checked, devices, batch, precision, compiled, iters, peak_gflops,
                      on_event=screen, channels_last=channels_last)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print(result)
