"""``netdef prep``: pack a data set into the training cache ahead of training, with a progress
bar. SRC may be an experiment file, whose ``data`` and data keys (``image-size``, ``channels``,
``max-bad``…) are then used, command-line options winning.

The data stage reports through ``on_event``; :mod:`netdef.cli.screen` draws it. This module
imports neither numpy nor torch at module level, so ``netdef --help`` stays fast.
"""

from __future__ import annotations

import os

import click
from rich.markup import escape

from .render import stderr_console, stdout_console
from .screen import Screen

DATA_OPTIONS = ("image_size", "channels", "max_bad", "val_fraction", "seed", "class_names",
                "label_set")


def _from_experiment(path: str) -> tuple[str, dict, set[str]]:
    """The experiment's data (relative to the file), its data keys, and the keys it sets."""
    from pathlib import Path

    from ..schema import read_experiment

    exp, _ = read_experiment(path)
    data = exp.data if exp.data.startswith("builtin:") else str(
        (Path(path).parent / Path(exp.data).expanduser()).resolve())
    values = {k: getattr(exp, k) for k in DATA_OPTIONS}
    return data, values, set(exp.model_fields_set)


def _choices(src: str, given: dict) -> tuple[str, dict, list[str]]:
    """The data source, the options to pack with, and a line per choice saying where it
    came from (the command line, the experiment file, or the default)."""
    from ..schema import is_experiment_file

    values, said, from_file, setting = {}, [], set(), None
    if os.path.isfile(src) and is_experiment_file(src):
        setting = src
        src, values, from_file = _from_experiment(src)
    for key, value in given.items():
        if value is not None:
            values[key] = value
    for key in ("image_size", "channels", "max_bad"):
        name = key.replace("_", "-")
        if given.get(key) is not None:
            where = "--" + name
        elif key in from_file:
            where = f"from {setting}"
        else:
            where = ("the default; set it with --" + name
                     + (" or in an experiment file" if setting is None else f" or in {setting}"))
        shown = values.get(key)
        if shown is None:
            shown = {"image_size": 256, "channels": "auto", "max_bad": "1%"}[key]
        said.append(f"{name} {shown} ({where})")
    return src, values, said


@click.command("prep", short_help="Pack a data set into the training cache, ahead of time.")
@click.argument("src", type=str)
@click.argument("dst", required=False, type=click.Path(file_okay=False, path_type=str))
@click.option("--image-size", type=click.IntRange(8, None), default=None,
              help="packed side: shorter side scaled to this, then the centre square  "
                   "[default: the experiment's image-size, else 256]")
@click.option("--channels", type=click.Choice(["auto", "1", "3"]), default=None,
              help="1 (grey) or 3 (RGB); auto: 1 when every image is grayscale  [default: auto]")
@click.option("--max-bad", default=None, metavar="N|P%",
              help="undecodable images that may be skipped: a count (5) or a percentage of "
                   "the images (2%); more stops the pack  [default: 1%]")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=None, help="share of each class held out for validation when the data "
                                 "has no validation split  [default: 0.1]")
@click.option("--seed", type=int, default=None, help="the held-out draw  [default: 0]")
@click.option("--class-names", default=None, metavar="A,B,…",
              help="readable class names in label order, comma-separated (else labels.txt)")
@click.option("--label-set", type=click.Choice(["fine", "coarse"]), default=None,
              help="CIFAR-100: fine (100) or coarse (20) classes  [default: fine]")
@click.option("--workers", type=click.IntRange(1, None), default=None,
              help="decode processes  [default: one per CPU]")
def prep_cmd(src: str, dst: str | None, workers: int | None, **given) -> None:
    """Pack the data SRC into the training cache (or into DST).

    SRC is an image folder — ROOT/train/<class>/… with ROOT/val/<class>/… (or a flat
    ROOT/val/ with ROOT/val.txt), or one folder per class —, a folder of MNIST-format (IDX)
    files, CIFAR-10/100 python batches, builtin:shapes, or an experiment file, whose data
    and image-size are then used. A current pack is reused; a pack is written under a
    temporary name and renamed when whole.

    \b
    Examples:
      netdef prep examples/quickstart.cfg
      netdef prep ~/data/imagenet ~/data/imagenet-256 --image-size 256 --max-bad 0.1%
    """
    from ..data import open_dataset, pack_dataset

    with Screen(stdout_console(), stderr_console(), label="packing") as screen:
        src, values, said = _choices(src, given)
        for line in said:
            screen.print(escape(line), "dim", err=True)
        if dst is None:
            ds = open_dataset(src, workers=workers, on_event=screen, **values)
        else:
            ds = pack_dataset(src, dst, workers=workers, on_event=screen, **values)
    test = f", {ds.num_test:,} test" if ds.num_test else ""
    click.echo(f"{ds.path}: {len(ds.classes)} classes, {ds.num_train:,} train, {ds.num_val:,} "
               f"val{test} images of {ds.channels}×{ds.image_size}×{ds.image_size} "
               f"({ds.meta['channels_reason']})")
