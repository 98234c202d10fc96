"""``netdef train``: the library's training events rendered with a rich live display."""

from __future__ import annotations

import math
import os
import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from ..errors import NetdefError
from . import threads
from .render import STYLE, print_diagnostics, stderr_console, stdout_console

PATH_KEYS = ("data", "save", "layers", "params")


def _overrides(pairs: tuple[str, ...], **options) -> dict[str, str]:
    """``key=value`` words and the named options as experiment overrides; paths given on the
    command line are relative to the working folder, so they are made absolute here."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise click.UsageError(f"expected KEY=VALUE, got '{pair}'")
        out[key.strip().lower().replace("_", "-")] = value.strip()
    out.update({k.replace("_", "-"): str(v) for k, v in options.items() if v is not None})
    for key in PATH_KEYS:
        if key in out and out[key] and not out[key].startswith("builtin:"):
            out[key] = os.path.abspath(os.path.expanduser(out[key]))
    return out


def _loader_workers(options) -> int:
    """The experiment's loader worker processes (0 when the file does not read: ``train``
    then reports why)."""
    from ..schema.experiment import read_experiment

    try:
        return read_experiment(options.experiment, options.overrides)[0].workers
    except (NetdefError, OSError, ValueError):
        return 0


def _pct(x: float) -> str:
    return "  -  " if x is None or math.isnan(x) else f"{100 * x:5.1f}%"


def _num(x: float) -> str:
    """Fixed point from 0.001 to 10⁵, scientific outside it (a blown-up cost: 9.000e+33)."""
    if x is None:
        return "-"
    return f"{x:.4f}" if x == 0 or (math.isfinite(x) and 1e-3 <= abs(x) < 1e5) else f"{x:.3e}"


def _costs(nll: float | None, err: float | None, costs: dict[str, float]) -> str:
    """The classifier's nll and error, and every cost by name when there is more than the
    classifier's (cuda-convnet2 printed each cost layer's value)."""
    parts = [f"nll {_num(nll)}  err {_pct(err)}"] if nll is not None else []
    if nll is None or len(costs) > 1:
        parts += [f"{name} {_num(value)}" for name, value in costs.items()]
    return "  ".join(parts)


class Display:
    """Renders events: a live bar per epoch, one line per test, health lines, messages."""

    def __init__(self, out: Console, err: Console):
        self.out, self.err = out, err
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(bar_width=24),
            TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(), console=out, transient=False,
            disable=not out.is_terminal)
        self.task: TaskID | None = None
        self.pack: TaskID | None = None
        self.epochs = 0

    def __enter__(self) -> "Display":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, event) -> None:
        handler = getattr(self, f"on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def line(self, text: str, style: str | None = None) -> None:
        self.progress.console.print(text, style=style, highlight=False, soft_wrap=True)

    def on_Message(self, e) -> None:
        style = {"warning": STYLE["warning"], "note": STYLE["note"]}.get(e.severity)
        head = f"[{style}]{e.severity}:[/] " if style else ""
        self.progress.console.print(head + escape(e.text), highlight=False, soft_wrap=True)

    def on_PackStarted(self, e) -> None:
        self.line(f"data: {escape(e.text)} (once)", "dim")
        self.pack = self.progress.add_task("packing", total=e.total, stats="")

    def on_PackProgress(self, e) -> None:
        if self.pack is not None:
            self.progress.update(self.pack, completed=e.done)

    def on_PackDone(self, e) -> None:
        if self.pack is not None:
            self.progress.remove_task(self.pack)
            self.pack = None
        self.line(f"data: {escape(e.text)}", "dim")

    def on_ImagesSkipped(self, e) -> None:
        self.line(f"data: {escape(e.text)}", STYLE["warning"])

    on_CacheRebuilt = on_ImagesSkipped

    def on_FilesIgnored(self, e) -> None:
        self.line(f"data: {escape(e.text)}", "dim")

    on_DataNote = on_FilesIgnored

    def on_Started(self, e) -> None:
        self.epochs = e.epochs
        verb = f"resuming at step {e.step}" if e.resumed else "training"
        self.line(f"{verb}: {e.params:,} parameters on {', '.join(e.devices)}; "
                  f"{e.num_train:,} training / {e.num_val:,} validation images, {e.classes} "
                  f"classes; {e.epochs} epochs × {e.batches_per_epoch} batches of "
                  f"{e.batch_size}; run folder {e.run_dir}")

    def on_EpochStarted(self, e) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(f"epoch {e.epoch}/{self.epochs}", total=e.batches,
                                           completed=e.start_batch, stats="")

    def on_Progress(self, e) -> None:
        stats = (f"{_costs(e.nll, e.top1_err, e.costs)}  lr {e.rate:.2e}  "
                 f"{e.images_per_s:,.0f} img/s  ETA {_duration(e.eta_s)}")
        if self.progress.disable:
            if e.batch == e.batches or e.step % max(1, e.batches // 4) == 0 or e.batch < 2:
                self.line(f"epoch {e.epoch} batch {e.batch}/{e.batches}  {stats}", "dim")
            return
        if self.task is not None:
            self.progress.update(self.task, completed=e.batch, stats=stats)

    def on_Tested(self, e) -> None:
        best = "  [bold green]best[/]" if e.best else ""
        if e.val_nll is not None:
            val = f"val nll {_num(e.val_nll)}  top-1 {_pct(e.val_top1)}  top-5 {_pct(e.val_top5)}"
            train = f"train nll {_num(e.train_nll)}  top-1 {_pct(e.train_top1)}"
            if len(e.val_costs) > 1:
                val += "  " + _costs(None, None, e.val_costs)
                train += "  " + _costs(None, None, e.train_costs)
        else:
            val = "val " + _costs(None, None, e.val_costs)
            train = "train " + _costs(None, None, e.train_costs)
        self.progress.console.print(f"[bold]test[/] epoch {e.epoch} (step {e.step}): {val}   "
                                    f"{train}{best}", highlight=False, soft_wrap=True)
        width = max((len(h.name) for h in e.health), default=0)
        for h in e.health:
            ratio = h.mean_abs_dw / h.mean_abs_w if h.mean_abs_w else float("nan")
            self.line(f"  {h.name:<{width}}  mean|w| {h.mean_abs_w:.3e}  mean|Δw| "
                      f"{h.mean_abs_dw:.3e}  ({ratio:.1e})", "dim")

    def on_Checkpointed(self, e) -> None:
        if e.reason != "test":
            self.line(f"checkpoint ({e.reason}, step {e.step}): {e.path}", "dim")

    def on_Finished(self, e) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        if e.interrupted:
            self.err.print(f"[bold yellow]interrupted[/] at step {e.step}; checkpoint saved. "
                           f"Continue with: netdef train EXPERIMENT --resume {e.run_dir}",
                           highlight=False)
            return
        best = f"; best validation top-1 error {_pct(e.best_val_top1).strip()}" if e.best_val_top1 is not None else ""
        self.line(f"[bold green]done[/] in {_duration(e.seconds)}: {e.step} steps{best}; "
                  f"run folder {e.run_dir}")


def _duration(seconds: float) -> str:
    if seconds is None or math.isnan(seconds) or math.isinf(seconds):
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


@click.command("train", context_settings={"ignore_unknown_options": False})
@click.argument("experiment", type=click.Path(exists=True, dir_okay=False))
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--data", default=None, help="Image folder or builtin:shapes (overrides 'data').")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Overrides 'epochs'.")
@click.option("--save", default=None, metavar="DIR", help="Run folder (overrides 'save').")
@click.option("--devices", default=None,
              help="auto, one device (cpu, cuda:0, mps) or one per logical device "
                   "(cuda:0,cuda:1).")
@click.option("--resume", type=click.Path(exists=True, file_okay=False), default=None,
              metavar="DIR", help="Continue the run in DIR at its next batch.")
@click.option("--force", is_flag=True,
              help="With --resume: continue even though the definition file changed.")
@click.option("--init-from", type=click.Path(exists=True, dir_okay=False), default=None,
              metavar="CKPT", help="Start from another run's weights (matched by name and shape).")
@click.option("--allow-init-funcs", is_flag=True,
              help="Accept initWFunc/initBFunc/initCFunc (they name Python code to run).")
def train_cmd(experiment: str, overrides: tuple[str, ...], data, epochs, save, devices, resume,
              force, init_from, allow_init_funcs) -> None:
    """Train the net of an experiment file, with a live progress display.

    Any experiment key can be overridden as KEY=VALUE (batch-size=64, test-freq=2).
    Ctrl-C finishes the batch, saves a checkpoint and exits 130; --resume continues.

    \b
    Example:
      netdef train examples/quickstart.cfg
      netdef train examples/alexnet.cfg --data builtin:shapes --epochs 2
      netdef train examples/quickstart.cfg --resume runs/quickstart
    """
    from ..train import TrainOptions, train

    if force and not resume:
        raise click.UsageError("--force only applies with --resume")
    if init_from and resume:
        raise click.UsageError("--init-from starts a new run; it cannot be combined with --resume")
    options = TrainOptions(experiment, _overrides(overrides, data=data, epochs=epochs, save=save,
                                                  devices=devices),
                           resume, force, init_from, allow_init_funcs)
    threads.budget_for_loader(_loader_workers(options))
    err = stderr_console()
    try:
        with Display(stdout_console(), err) as display:
            result = train(options, on_event=display)
    except NetdefError as exc:
        print_diagnostics(err, exc.diagnostics)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[bold yellow]interrupted[/] (no checkpoint written)")
        sys.exit(130)
    if result.interrupted:
        sys.exit(130)
