"""The command line: a thin click shell over the library (the only module that imports click)."""

from __future__ import annotations

import click

from .. import __version__
from .language import check_cmd, schema_cmd, summary_cmd


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


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="netdef")
