"""``netdef prep``: pack an image folder into the training cache, with a progress bar (DESIGN.md §3).

The library reports progress through ``on_event``; this module renders it with rich. It imports
neither numpy nor torch at module level, so ``netdef --help`` stays fast.
"""

from __future__ import annotations

import sys

import click

from ..errors import NetdefError


class _Progress:
    """Renders the data events (pack_start, pack_progress, skipped, rebuild, …) with rich."""

    def __init__(self, console):
        self.console, self.progress, self.task = console, None, None

    def __call__(self, kind: str, **info) -> None:
        if kind == "pack_start":
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                                       TimeRemainingColumn)

            self.progress = Progress("[bold]packing", BarColumn(), MofNCompleteColumn(),
                                     TimeRemainingColumn(), console=self.console, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("pack", total=info["total"])
        elif kind == "pack_progress" and self.progress is not None:
            self.progress.update(self.task, completed=info["done"])
        elif kind == "rebuild":
            self.console.print(f"[yellow]rebuilding[/] {info.get('dst', '')}: {info['reason']}")
        elif kind in ("skipped", "ignored"):
            self.stop()
            what = "unreadable images skipped" if kind == "skipped" else "non-image files ignored"
            self.console.print(f"[yellow]{info['count']} {what}[/], e.g.:")
            for p in info["paths"]:
                self.console.print(f"  {p}", markup=False, highlight=False)
        elif kind == "pack_done":
            self.stop()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


@click.command("prep")
@click.argument("src", type=click.Path(file_okay=False, path_type=str))
@click.argument("dst", required=False, type=click.Path(file_okay=False, path_type=str))
@click.option("--image-size", default=256, show_default=True, type=click.IntRange(8, None),
              help="packed side: shorter side scaled to this, then the centre square")
@click.option("--workers", type=click.IntRange(1, None), default=None,
              help="decode processes  [default: one per CPU]")
@click.option("--seed", default=0, show_default=True,
              help="held-out draw for a folder of class folders")
def prep_cmd(src: str, dst: str | None, image_size: int, workers: int | None, seed: int) -> None:
    """Pack the image folder SRC into the training cache (or into DST).

    SRC is ROOT/train/<class>/… with ROOT/val/<class>/… (or a flat ROOT/val/ with
    ROOT/val.txt), or one level of class folders. A current pack is reused.

    \b
    Example:
      netdef prep ~/data/imagenet ~/data/imagenet-256 --image-size 256
    """
    from rich.console import Console

    from ..data import open_dataset, prepare

    console = Console(stderr=True)
    events = _Progress(console)
    try:
        if dst is None:
            ds = open_dataset(src, image_size=image_size, seed=seed, workers=workers,
                              on_event=events)
        else:
            ds = prepare(src, dst, image_size=image_size, seed=seed, workers=workers,
                         on_event=events)
    except NetdefError as exc:
        events.stop()
        click.secho(str(exc), fg="red", err=True)
        sys.exit(1)
    finally:
        events.stop()
    click.echo(f"{ds.path}: {len(ds.classes)} classes, {ds.num_train} train and {ds.num_val} "
               f"val images at {ds.image_size}×{ds.image_size}")
