"""``netdef check``, ``netdef summary`` and ``netdef schema``: the language commands."""

from __future__ import annotations

import json

import click
from rich.table import Table

from ..check import CheckedNet, load, params_candidates
from ..schema import is_experiment_file
from .paths import InputPath
from .render import human_bytes, print_diagnostics, stderr_console, stdout_console, thousands

input_size_option = click.option(
    "--input-size", type=click.IntRange(min=1), default=None, metavar="S",
    help="Image side the net reads (cuda-convnet files never fix it). Default 224, or the "
         "experiment's inner-size.")
params_option = click.option(
    "--params", "params", type=InputPath(what="params file"), default=None,
    help="The params file (layer-params.cfg). Default: found beside the definition.")
definition_arg = click.argument("definition", type=InputPath(what="definition file"),
                                metavar="DEF")


def _shape_text(net: CheckedNet) -> str:
    origin = " (default)" if net.input_size_default else ""
    return f"input {net.input_channels}×{net.input_size}×{net.input_size}{origin}"


def _params_line(net: CheckedNet, definition: str) -> str:
    spec = net.spec
    if spec.params_mode == "file":
        return f"params: {spec.params_path}"
    if spec.params_mode == "inline":
        return "params: written inside the definition (one-file form)"
    looked = ", ".join(str(p) for p in params_candidates(definition))
    return (f"params: none found (looked for {looked}); checked the definition alone "
            "(training will need a params file)")


@click.command("check", short_help="Validate a definition: every problem, located, in one pass.")
@definition_arg
@params_option
@input_size_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option(
    "--verbose", "-v", is_flag=True, help="Also list notes (ignored kernel-tuning keys…)."
)
@click.option("--allow-init-funcs", is_flag=True,
              help="Accept initWFunc/initBFunc/initCFunc (they name Python code to run).")
def check_cmd(definition: str, params: str | None, input_size: int | None, strict: bool,
              verbose: bool, allow_init_funcs: bool) -> None:
    """Validate a definition (and its params): every problem, located, in one pass.

    DEF is a layers.cfg file or an experiment file. Exit 0 when the net is sound, 1 if not.

    \b
    Examples:
      netdef check layers/alexnet-2gpu.cfg
      netdef check layers/cifar10-18pct.cfg --params layers/cifar10-18pct-params.cfg --input-size 32
      netdef check examples/quickstart.cfg
    """
    click.get_current_context().meta["netdef.notes"] = verbose  # notes also when it fails
    net = load(definition, params, input_size, strict=strict, allow_init_funcs=allow_init_funcs)
    print_diagnostics(stderr_console(), net.diagnostics, verbose=verbose)
    out = stdout_console()
    devices = f"{net.num_devices} device{'s' * (net.num_devices != 1)}"
    out.print(f"[bold green]ok:[/] {len(net.layers)} layers, {thousands(net.params)} parameters, "
              f"{devices}, {_shape_text(net)}")
    if verbose or net.spec.params_mode != "file" or is_experiment_file(definition):
        out.print(_params_line(net, definition), style="dim")


def summary_dict(net: CheckedNet) -> dict:
    """The ``--json`` object of ``netdef summary``."""
    layers = [{"name": i.name, "type": i.type, "device": i.device, "shape": list(i.shape),
               "neurons": i.neurons, "params": i.params, "macs": i.macs,
               "inputs": list(i.inputs), "replicas": i.replicas}
              for i in net.layers.values()]
    return {
        "input": [net.input_channels, net.input_size, net.input_size],
        "input_size_default": net.input_size_default,
        "layers": layers,
        "params": net.params,
        "macs": sum(i.macs for i in net.layers.values()),
        "devices": net.num_devices,
        "transfers": [{"from": t.src, "to": t.dst, "from_device": t.src_device,
                       "to_device": t.dst_device, "bytes_per_image": t.bytes_per_image}
                      for t in net.transfers],
        "memory": {str(d): m for d, m in net.device_memory().items()},
        "params_file": net.spec.params_path,
    }


@click.command("summary", short_help="Per-layer shapes, parameters, multiply-adds; transfers.")
@definition_arg
@params_option
@input_size_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def summary_cmd(definition: str, params: str | None, input_size: int | None, as_json: bool) -> None:
    """Per-layer table: device, output shape, neurons, parameters, multiply-adds per image.

    Then totals, every cross-device transfer with its bytes per image, and memory per device.

    \b
    Example:
      netdef summary layers/alexnet-2gpu.cfg --json
    """
    net = load(definition, params, input_size)
    if as_json:
        click.echo(json.dumps(summary_dict(net), indent=2))
        return
    out = stdout_console()
    out.print(_layer_table(net))
    total_macs = sum(i.macs for i in net.layers.values())
    out.print(f"total: {thousands(net.params)} parameters, {thousands(total_macs)} multiply-adds "
              f"per image, {_shape_text(net)}")
    if net.transfers:
        out.print(_transfer_table(net))
    else:
        out.print("no cross-device transfers")
    out.print(_memory_table(net))


def _layer_table(net: CheckedNet) -> Table:
    table = Table(title="layers", title_justify="left")
    for col, just in (("name", "left"), ("type", "left"), ("device", "right"),
                      ("output C×H×W", "right"), ("neurons", "right"), ("params", "right"),
                      ("MACs/image", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for i in net.layers.values():
        dev = (
            "-"
            if i.device is None
            else str(i.device) + (f" ×{i.replicas}" if i.replicas > 1 else "")
        )
        table.add_row(i.name, i.type, dev, "×".join(map(str, i.shape)), thousands(i.neurons),
                      thousands(i.params), thousands(i.macs))
    return table


def _transfer_table(net: CheckedNet) -> Table:
    table = Table(title="cross-device transfers", title_justify="left")
    for col in ("from", "to", "devices", "bytes/image"):
        table.add_column(col, justify="right" if col == "bytes/image" else "left")
    for t in net.transfers:
        table.add_row(t.src, t.dst, f"{t.src_device} → {t.dst_device}",
                      thousands(t.bytes_per_image))
    total = sum(t.bytes_per_image for t in net.transfers)
    table.add_row("total", "", "", thousands(total), style="bold")
    return table


def _memory_table(net: CheckedNet) -> Table:
    table = Table(title="memory per device (float32)", title_justify="left")
    for col in ("device", "parameters", "activations/image"):
        table.add_column(col, justify="right")
    for dev, mem in net.device_memory().items():
        table.add_row(str(dev), human_bytes(mem["params_bytes"]),
                      human_bytes(mem["activation_bytes_per_image"]))
    return table


@click.command("schema", short_help="Print the JSON Schema of definition and experiment files.")
@click.option("--markdown", is_flag=True, help="Print the language reference (docs/language.md).")
def schema_cmd(markdown: bool) -> None:
    """Print the JSON Schema of the language (layer sections and the experiment file).

    \b
    Example:
      netdef schema > netdef.schema.json
    """
    from ..schema.reference import json_schema, reference_markdown

    if markdown:
        click.echo(reference_markdown(), nl=False)
    else:
        click.echo(json.dumps(json_schema(), indent=2))

