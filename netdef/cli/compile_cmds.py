"""``netdef check-grads``: the compiled net's gradients against finite differences."""

from __future__ import annotations

import click
from rich.table import Table

from ..check import load
from .language import definition_arg, input_size_option, params_option
from .render import stderr_console, stdout_console


@click.command("check-grads", short_help="Compare the net's gradients with finite differences.")
@definition_arg
@params_option
@input_size_option
@click.option("--batch", type=click.IntRange(min=1), default=2, show_default=True,
              help="Images in the random batch.")
@click.option("--entries", type=click.IntRange(min=1), default=8, show_default=True,
              help="Entries of each parameter perturbed (chosen by --seed).")
@click.option("--tolerance", type=click.FloatRange(min=0), default=1e-4, show_default=True,
              help="Largest relative error that passes.")
@click.option("--seed", type=int, default=0, show_default=True)
def check_grads_cmd(definition: str, params: str | None, input_size: int | None, batch: int,
                    entries: int, tolerance: float, seed: int) -> None:
    """Finite-difference gradient check of the compiled net (cuda-convnet's --check-grads).

    Compiles DEF in float64 on the CPU with dropout off, feeds a random batch and compares
    autograd's gradient of the summed costs with central differences, per parameter. Exit 0
    when every relative error is within --tolerance, 1 otherwise. Use a small --input-size
    where the net allows it: each perturbed entry costs two forward passes.

    \b
    Example:
      netdef check-grads layers/quickstart.cfg --input-size 24
    """
    net = load(definition, params, input_size)
    from ..compiler.gradcheck import check_grads

    report = check_grads(net, seed=seed, batch=batch, entries=entries)
    stdout_console().print(f"gradient check of {definition} at input {net.input_channels}×"
                           f"{net.input_size}×{net.input_size}, batch {batch}, float64")
    table = Table()
    table.add_column("parameter")
    table.add_column("relative error", justify="right")
    table.add_column("", justify="left")
    bad = 0
    for name, err in report:
        ok = err <= tolerance
        bad += not ok
        table.add_row(name, f"{err:.2e}", "[green]ok[/]" if ok else "[bold red]FAIL[/]")
    stdout_console().print(table)
    if bad:
        stderr_console().print(f"[bold red]{bad} of {len(report)} parameters exceed the tolerance "
                               f"{tolerance:g}[/]")
        click.get_current_context().exit(1)  # a result, like a failed check: exit 1
    stdout_console().print(f"[bold green]ok:[/] {len(report)} parameters within {tolerance:g}")
