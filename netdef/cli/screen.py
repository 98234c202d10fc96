"""Every event of the library, drawn on the terminal with rich: training, data, evaluation,
ablation.

The library never prints: training, data, evaluation and ablation hand dataclasses to an
``on_event`` callback (:mod:`netdef.train.events`, :mod:`netdef.data.events`,
:class:`netdef.evaluate.EvalProgress`, :mod:`netdef.ablate.events`). :class:`Screen` is the
one place that turns all of them into lines and progress bars, so a data event reads the same
under ``netdef train``, ``eval``, ``prep`` or ``ablate``.
Events are dispatched on their class name, so this module imports neither torch nor the
training code.

Results go to stdout; warnings, notes and the bars of ``eval``/``prep`` to stderr, so that
``--json`` output stays clean. The training display is live on a terminal (a bar that moves
every batch, and a line of numbers read back every ``log-freq`` batches); piped, it prints a
few plain lines per epoch instead.
"""

from __future__ import annotations

import math
import os
import signal as signals
import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, TaskID, TextColumn
from rich.text import Text

from .render import STYLE, counted, duration


def pct(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def num(x: float | None) -> str:
    """Fixed point from 0.001 to 10⁵, scientific outside (a blown-up cost: 9.000e+33)."""
    if x is None:
        return "-"
    return f"{x:.4f}" if x == 0 or (math.isfinite(x) and 1e-3 <= abs(x) < 1e5) else f"{x:.3e}"


def scores(nll: float | None, err: float | None, costs: dict[str, float]) -> str:
    """The classifier's nll and error; every cost layer by name when there is more than the
    classifier's, or no classifier at all (as cuda-convnet2 printed each cost layer)."""
    parts = [f"nll {num(nll)}  error {pct(err)}"] if nll is not None else []
    if nll is None or len(costs) > 1:
        parts += [f"{name} {num(value)}" for name, value in costs.items()]
    return "  ".join(parts)


class Times(ProgressColumn):
    """``elapsed 0:42  ETA 1:40``: labelled, so neither number is taken for the other. A task
    may carry its own ``eta`` (training: the whole run's, not the bar's)."""

    def render(self, task) -> Text:
        eta = task.fields.get("eta", task.time_remaining)
        elapsed = task.fields.get("elapsed", task.elapsed)
        text = f"elapsed {duration(elapsed)}"
        if not task.finished:
            text += f"  ETA {duration(eta)}"
        return Text(text, style="progress.remaining")


class Bars(Progress):
    """rich's Progress with two more lines under the bars: the training numbers, and a notice
    (a stop on its way). Class defaults: Progress.__init__ already renders once."""

    footer: str = ""
    notice: str = ""

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        if self.footer:
            yield Text(self.footer, no_wrap=True, overflow="ellipsis")
        if self.notice:
            yield Text(self.notice, style="bold yellow", no_wrap=True, overflow="ellipsis")


class Screen:
    """Draws events: call it with one (it is an ``on_event`` callback).

    The progress bars live on stdout for training (``bars_on_out``), on stderr for the
    commands whose stdout is a result. Use it as a context manager around the work."""

    def __init__(self, out: Console, err: Console, bars_on_out: bool = False,
                 label: str = "working"):
        self.out, self.err, self.label, self.bars_on_out = out, err, label, bars_on_out
        bars = out if bars_on_out else err
        self.progress = Bars(TextColumn("[bold]{task.description}"), BarColumn(bar_width=28),
                             TextColumn("{task.completed}/{task.total}"), Times(),
                             console=bars, transient=not bars_on_out,
                             disable=not bars.is_terminal)
        self.live = not self.progress.disable
        self.tasks: dict[str, TaskID] = {}
        self.run: dict = {}  # what Started said: epochs, classes, the rate's name
        self.clock: tuple[float, int] | None = None  # (time, step) of this process's 1st batch
        self.tests = 0
        self.logged = 0  # the step of the last progress line printed when piped
        self.stopping = ""  # "Ctrl-C" or "SIGTERM" once a stop was asked for
        self.resume_with = ""  # the command that continues, when not 'netdef train --resume'

    # -- plumbing -------------------------------------------------------------------------
    def __enter__(self) -> Screen:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, event) -> None:
        handler = getattr(self, f"on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)
        elif hasattr(event, "text"):  # e.g. torch.compile's: a sentence, maybe a severity
            self.note(getattr(event, "severity", "info"), event.text)

    def print(self, text: str, style: str | None = None, err: bool = False) -> None:
        """A line (markup allowed; escape what comes from outside). While the training display
        is live on the terminal every line goes through it, above the bars; else ``err``
        lines go to stderr."""
        console = self.err if err and not (self.live and self.bars_on_out) else self.out
        console.print(text, style=style, highlight=False, soft_wrap=True)

    def note(self, severity: str, text: str) -> None:
        """``warning: …`` / ``note: …`` on stderr; plain information on stdout."""
        style = STYLE.get(severity)
        if severity in ("warning", "note"):
            self.print(f"[{style}]{severity}:[/] {escape(text)}", err=True)
        else:
            self.print(escape(text))

    def bar(self, key: str, description: str, done: int, total: int, **fields) -> None:
        """Add or move the bar ``key``."""
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(description, total=total, **fields)
        self.progress.update(self.tasks[key], completed=done, total=total,
                             description=description, **fields)

    def drop(self, key: str) -> None:
        if key in self.tasks:
            self.progress.remove_task(self.tasks.pop(key))

    def stop(self) -> None:
        """End the live display (before a closing message, so it is not glued to a bar); its
        last frame stays on the terminal."""
        self.progress.stop()

    # -- messages and evaluation ----------------------------------------------------------
    def on_Message(self, e) -> None:
        self.note(e.severity, e.text)

    def on_EvalProgress(self, e) -> None:
        self.bar("eval", self.label, e.done, e.total)

    # -- data: the data stage's events, a sentence each (``text``), a bar while packing --
    def on_PackStarted(self, e) -> None:
        self.print(f"data: {escape(e.text)} (once; later runs reuse the pack)", "dim", err=True)
        self.bar("pack", "packing", 0, e.total)

    def on_PackProgress(self, e) -> None:
        self.bar("pack", "packing", e.done, e.total)

    def on_PackDone(self, e) -> None:
        self.drop("pack")
        self.print(f"data: {escape(e.text)}", "dim", err=True)

    def on_ImagesSkipped(self, e) -> None:
        self.note("warning", f"data: {e.text}")

    on_CacheRebuilt = on_ImagesSkipped

    def on_FilesIgnored(self, e) -> None:
        self.note("note", f"data: {e.text}")

    on_DataNote = on_FilesIgnored

    # -- training -------------------------------------------------------------------------
    def on_Started(self, e) -> None:
        self.drop("epoch")  # a previous run's (netdef ablate trains several)
        if self.live and not self.progress.live.is_started:
            self.progress.start()  # stopped by the previous run's Finished
        self.run = {"epochs": e.epochs, "classes": e.classes, "rate_of": e.rate_of}
        verb = f"resuming at step {e.step:,}" if e.resumed else "training"
        classes = f"{counted(e.classes, 'class', 'classes')}, " if e.classes is not None else ""
        self.print(f"{verb} on {', '.join(e.devices)}: {counted(e.params, 'parameter')}; "
                   f"{classes}{e.num_train:,} training / {e.num_val:,} validation images")
        batches = counted(e.batches_per_epoch, "batch", "batches")
        self.print(f"  {counted(e.epochs, 'epoch')} × {batches} of {e.batch_size}; "
                   f"run folder {escape(e.run_dir)}", "dim")
        self.clock = None

    def on_EpochStarted(self, e) -> None:
        self.drop("epoch")
        self.bar("epoch", f"epoch {e.epoch}/{self.run.get('epochs', '?')}", e.start_batch,
                 e.batches, eta=None, elapsed=self._elapsed())

    def on_BatchDone(self, e) -> None:
        now = time.perf_counter()
        if self.clock is None:
            self.clock = (now, e.step - 1)
        t0, step0 = self.clock
        done = e.step - step0
        eta = (now - t0) / done * (e.total_steps - e.step) if done else None
        if self.live:
            self.bar("epoch", f"epoch {e.epoch}/{self.run.get('epochs', '?')}", e.batch,
                     e.batches, eta=eta, elapsed=now - t0)

    def _elapsed(self) -> float | None:
        return time.perf_counter() - self.clock[0] if self.clock else 0.0

    def on_Progress(self, e) -> None:
        rate_of = self.run.get("rate_of") or "lr"
        numbers = (f"train {scores(e.nll, e.top1_err, getattr(e, 'costs', {}))}  {rate_of} "
                   f"{e.rate:.2e}  {e.images_per_s:,.0f} images/s")
        if self.live:
            self.progress.footer = "  " + numbers
            return
        # piped (a log file): a line per quarter epoch or so, and at the end of each epoch
        if e.batch == e.batches or e.step - self.logged >= max(1, e.batches // 4):
            self.logged = e.step
            self.print(f"epoch {e.epoch} batch {e.batch}/{e.batches}: {numbers}, "
                       f"ETA {duration(e.eta_s)}", "dim")

    def on_StopRequested(self, e) -> None:
        """Said at once, though sent from within the signal handler: printing there could
        re-enter a print in progress, so the live display shows it (its refresh thread draws
        it), and piped output gets one unbuffered write."""
        name = "SIGTERM" if e.signal == signals.SIGTERM else "Ctrl-C"
        again = " (Ctrl-C again: quit unsaved)" if name == "Ctrl-C" else ""
        self.stopping = name
        text = f"{name}: stopping after this batch, then saving{again}"
        if self.live:
            self.progress.notice = text
            return
        try:
            os.write(self.err.file.fileno(), (text + "\n").encode())
        except (AttributeError, OSError, ValueError):  # no file descriptor (a test's stream)
            self.progress.notice = text  # printed with the closing lines instead

    def on_Tested(self, e) -> None:
        top5 = (f"  top-5 error {pct(e.val_top5)}" if e.val_top5 is not None
                and (self.run.get("classes") or 0) > 5 else "")  # top-5 of ≤ 5 classes: always 0
        best = "  [bold green]best so far[/]" if e.best else ""
        self.print(f"[bold]test[/] after epoch {e.epoch} (step {e.step:,}){best}")
        val = scores(e.val_nll, e.val_top1, getattr(e, "val_costs", {}))
        train = scores(e.train_nll, e.train_top1, getattr(e, "train_costs", {}))
        self.print(f"  validation  {val}{top5}")
        self.print(f"  training    {train}  (mean since the last test)", "dim")
        if e.health and not self.tests:
            self.print("  weights: mean|w|, mean|Δw| of the last update, Δw/w = their ratio",
                       "dim")
        self.tests += 1
        width = max((len(h.name) for h in e.health), default=0)
        for h in e.health:
            ratio = h.mean_abs_dw / h.mean_abs_w if h.mean_abs_w else float("nan")
            self.print(f"  {h.name:<{width}}  mean|w| {h.mean_abs_w:.3e}  mean|Δw| "
                       f"{h.mean_abs_dw:.3e}  Δw/w {ratio:.1e}", "dim")

    def on_Checkpointed(self, e) -> None:
        if e.reason == "end":
            self.print(f"saved {escape(e.path)} (step {e.step})", "dim")

    def on_Finished(self, e) -> None:
        unsaid = "" if self.live else self.progress.notice
        self.stop()
        if unsaid:
            self.print(unsaid, "bold yellow", err=True)
        if e.interrupted:
            import shlex

            how = f" ({self.stopping})" if self.stopping else ""
            again = self.resume_with or f"netdef train --resume {shlex.quote(e.run_dir)}"
            self.print(f"[bold yellow]interrupted[/]{how} at step {e.step}; checkpoint saved in "
                       f"{escape(e.run_dir)}. Continue with:\n  {escape(again)}", err=True)
            return
        best = (f"; best validation error {pct(e.best_val_top1)} (best.pt)"
                if e.best_val_top1 is not None else "")
        self.print(f"[bold green]done[/] in {duration(e.seconds)}: {e.step} steps{best}; run "
                   f"folder {escape(e.run_dir)}")

    # -- ablation (netdef ablate): a header per run, the ten-view scores, the report ---------
    def on_RunStarted(self, e) -> None:
        verb = {"train": "training", "resume": "resuming", "reuse": "finished, reused"}[e.action]
        self.print(f"[bold]run {e.index}/{e.total}[/]: {escape(e.variant)} seed {e.seed} — "
                   f"{verb} ({escape(e.folder)})")

    def on_RunDone(self, e) -> None:
        self.print(f"  {escape(e.variant)} seed {e.seed}: validation error {pct(e.val_top1)}",
                   "dim")

    def on_ViewsScored(self, e) -> None:
        self.print(f"  ten-view, seed {e.seed}: error {pct(e.one_view)} on the centre crop, "
                   f"{pct(e.ten_views)} on ten views ({e.seconds:.0f} s)")

    def on_ReportWritten(self, e) -> None:
        self.print(f"[bold green]report[/]: {escape(e.markdown)}, {escape(e.json)}, "
                   f"{len(e.pictures)} picture(s)")
