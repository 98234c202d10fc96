"""The command line: a thin click shell over the library (the only module that imports click)."""

from __future__ import annotations

import click

from .. import __version__
from . import bench_cmd as bench, memory, threads
from .ablate_cmd import ablate_cmd
from .compile_cmds import check_grads_cmd
from .data_cmds import prep_cmd
from .eval_cmds import (eval_cmd, features_cmd, plot_lr_cmd, predict_cmd, show_cost_cmd,
                        show_filters_cmd, show_preds_cmd)
from .language import check_cmd, schema_cmd, summary_cmd
from .train_cmd import train_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netdef")
def cli() -> None:
    """Train convolutional networks the way AlexNet was trained, from cuda-convnet files.

    \b
    Start with:
      netdef check layers/alexnet-2gpu.cfg
      netdef summary layers/alexnet-2gpu.cfg
    """


cli.add_command(check_cmd)
cli.add_command(summary_cmd)
cli.add_command(schema_cmd)
cli.add_command(check_grads_cmd)
cli.add_command(prep_cmd)
cli.add_command(train_cmd)
cli.add_command(eval_cmd)
cli.add_command(show_filters_cmd)
cli.add_command(show_cost_cmd)
cli.add_command(show_preds_cmd)
cli.add_command(plot_lr_cmd)
cli.add_command(predict_cmd)
cli.add_command(features_cmd)
cli.add_command(bench.bench_cmd)
cli.add_command(ablate_cmd)


def main() -> None:
    """Console-script entry point."""
    memory.tune_memory()  # before any command imports torch or allocates a tensor
    threads.tune_threads()  # before torch loads its OpenMP runtime
    cli(prog_name="netdef")
