"""The command line: a thin click shell over the library (the only module that imports click).

Errors have one boundary, :class:`NetdefGroup`: bad input anywhere in a command (a NetdefError,
which carries located diagnostics) becomes those diagnostics on stderr and exit 1; click's own
usage errors exit 2; Ctrl-C exits 130. Commands never catch and print errors themselves.
"""

from __future__ import annotations

import click

from .. import __version__
from ..errors import NetdefError
from . import bench_cmd as bench
from . import memory, threads
from .ablate_cmd import ablate_cmd
from .compile_cmds import check_grads_cmd
from .data_cmds import prep_cmd
from .eval_cmds import (
    eval_cmd,
    features_cmd,
    plot_lr_cmd,
    predict_cmd,
    show_cost_cmd,
    show_filters_cmd,
    show_preds_cmd,
)
from .language import check_cmd, schema_cmd, summary_cmd
from .render import error_count, print_diagnostics, stderr_console
from .train_cmd import train_cmd


class BadInput(click.ClickException):
    """A NetdefError on its way out: every diagnostic, located, with a caret line; exit 1."""

    exit_code = 1

    def __init__(self, error: NetdefError, notes: bool = False):
        super().__init__(str(error))
        self.error, self.notes = error, notes

    def show(self, file=None) -> None:
        console = stderr_console()
        print_diagnostics(console, self.error.diagnostics, verbose=self.notes)
        count = error_count(self.error.diagnostics)
        if count:
            console.print(f"[bold red]{count}[/]", highlight=False)


class Interrupted(click.ClickException):
    """Ctrl-C outside training (which stops cleanly by itself): exit 130, as a shell would."""

    exit_code = 130

    def __init__(self):
        super().__init__("interrupted")

    def show(self, file=None) -> None:
        stderr_console().print("[bold yellow]interrupted[/]")


class NetdefGroup(click.Group):
    """The command group, and the one place where errors become messages and exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NetdefError as exc:
            # ``check --verbose`` asks for notes (via ctx.meta) also when the file is bad
            raise BadInput(exc, notes=ctx.meta.get("netdef.notes", False)) from None
        except KeyboardInterrupt:
            raise Interrupted() from None


@click.group(cls=NetdefGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netdef")
def cli() -> None:
    """Train convolutional networks the way AlexNet was trained, from cuda-convnet files.

    \b
    Start here: train the quickstart net on built-in generated images (CPU, minutes),
    then evaluate it and look at what it learned:
      netdef train examples/quickstart.cfg
      netdef eval --model runs/quickstart/ckpt.pt --crops 10
      netdef show-filters runs/quickstart/ckpt.pt
    Validate and inspect a definition file:
      netdef check layers/alexnet-2gpu.cfg
      netdef summary layers/alexnet-2gpu.cfg

    Exit codes: 0 ok, 1 bad input (every problem listed, located), 2 bad command line,
    130 interrupted. 'netdef COMMAND --help' explains each command.
    """


for command in (check_cmd, summary_cmd, schema_cmd, check_grads_cmd, prep_cmd, train_cmd,
                eval_cmd, predict_cmd, features_cmd, show_filters_cmd, show_cost_cmd,
                show_preds_cmd, plot_lr_cmd, bench.bench_cmd, ablate_cmd):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    memory.tune_memory()  # before any command imports torch or allocates a tensor
    threads.tune_threads()  # before torch loads its OpenMP runtime
    cli(prog_name="netdef")
