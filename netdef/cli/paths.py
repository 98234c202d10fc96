"""The path type of every file or folder a command reads.

A missing, wrong-kind or unreadable input is bad input (exit 1, ``PATH: error: …`` as every
other file error is shown), not a bad command line (exit 2, which click's
``Path(exists=True)`` would give): the README's exit codes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import click

from ..errors import NetdefError


class InputPath(click.ParamType):
    """A path a command reads: ``kind`` "file", "dir" (a folder) or "any"; ``what`` names it
    in the message ("definition file", "run folder"…). Converts to ``str``; raises
    NetdefError (which the command group renders, exit 1) when it is not there."""

    name = "path"

    def __init__(self, kind: Literal["file", "dir", "any"] = "file", what: str = "file"):
        self.kind, self.what = kind, what

    def convert(self, value, param, ctx) -> str:
        path = Path(value)
        if not path.exists():
            raise NetdefError.at(value, f"no such {self.what}")
        if self.kind == "file" and path.is_dir():
            raise NetdefError.at(value, f"a folder, not a file: give the {self.what}")
        if self.kind == "dir" and not path.is_dir():
            raise NetdefError.at(value, f"not a folder: give the {self.what}")
        if not os.access(path, os.R_OK):
            raise NetdefError.at(value, f"cannot read the {self.what} (permission denied)")
        return str(value)
