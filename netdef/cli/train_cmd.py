"""``netdef train``: the experiment and overrides from the command line; the training events
are drawn by :mod:`netdef.cli.screen`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import NetdefError, Span
from . import threads
from .paths import InputPath
from .render import stderr_console, stdout_console
from .screen import Screen

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
    then reports why); on resume the run's recorded experiment and overrides count."""
    from ..data.options import AUTO_WORKERS
    from ..schema.experiment import read_experiment
    from ..train.rundir import read_record

    try:
        experiment, overrides = options.experiment, options.overrides
        if options.resume:
            source, recorded = read_record(options.resume)
            experiment, overrides = experiment or source, {**recorded, **overrides}
        workers = read_experiment(experiment, overrides)[0].workers
    except (NetdefError, OSError, ValueError):
        return 0
    # auto: the loop resolves it once the devices are known; for the thread budget it counts
    # as AUTO_WORKERS (where auto means none, on 2 CPUs or fewer, no core is set aside anyway)
    return AUTO_WORKERS if workers == "auto" else workers


def _experiment(experiment: str | None, overrides: tuple[str, ...], resume: str | None
                ) -> tuple[str | None, tuple[str, ...]]:
    """EXPERIMENT is optional with --resume: a first word KEY=VALUE that names no file is an
    override (``netdef train --resume runs/x epochs=20``)."""
    if experiment is not None and "=" in experiment and not Path(experiment).exists():
        experiment, overrides = None, (experiment, *overrides)
    if experiment is None and not resume:
        raise click.UsageError("give an EXPERIMENT file (e.g. examples/quickstart.cfg), or "
                               "--resume RUN to continue a run")
    if experiment is not None and not Path(experiment).is_file():
        raise NetdefError.at(Span(experiment), "no such experiment file")
    return experiment, overrides


@click.command("train", short_help="Train an experiment's net, or resume a stopped run.")
@click.argument("experiment", required=False, metavar="[EXPERIMENT]")
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--data", default=None,
              help="Image folder, IDX (MNIST-format) folder, CIFAR-10/100 python batches, "
                   "packed cache or builtin:shapes (overrides 'data').")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Overrides 'epochs'.")
@click.option("--save", default=None, metavar="DIR", help="Run folder (overrides 'save').")
@click.option("--devices", default=None,
              help="auto, one device (cpu, cuda:0, mps) or one per logical device "
                   "(cuda:0,cuda:1).")
@click.option("--resume", type=InputPath("dir", "run folder"), default=None,
              metavar="RUN", help="Continue the run in folder RUN at its next batch, with its "
                                  "recorded experiment and overrides.")
@click.option("--force", is_flag=True,
              help="With --resume: continue even though the definition file changed.")
@click.option("--init-from", type=InputPath("any", "checkpoint file or run folder"), default=None,
              metavar="CKPT", help="Start from another run's weights (matched by name and shape).")
@click.option("--allow-init-funcs", is_flag=True,
              help="Accept initWFunc/initBFunc/initCFunc (they name Python code to run).")
def train_cmd(experiment: str | None, overrides: tuple[str, ...], data, epochs, save, devices,
              resume, force, init_from, allow_init_funcs) -> None:
    """Train the net of an experiment file, with a live progress display.

    Any experiment key can be overridden as KEY=VALUE (batch-size=64, test-freq=2). The run
    folder (runs/<experiment name> unless --save) receives checkpoints, metrics.jsonl and
    run.yaml. Ctrl-C finishes the current batch, saves a checkpoint and exits 130;
    --resume RUN continues it: the experiment file and the overrides recorded in RUN/run.yaml
    are used again, and KEY=VALUE or options given with --resume win over them.

    \b
    Examples:
      netdef train examples/quickstart.cfg
      netdef train examples/alexnet.cfg --data builtin:shapes --epochs 2
      netdef train --resume runs/quickstart
      netdef train --resume runs/quickstart epochs=20
    """
    from ..train import TrainOptions, train

    if force and not resume:
        raise click.UsageError("--force only applies with --resume")
    if init_from and resume:
        raise click.UsageError("--init-from starts a new run; it cannot be combined with --resume")
    experiment, overrides = _experiment(experiment, overrides, resume)
    options = TrainOptions(experiment, overrides=_overrides(overrides, data=data, epochs=epochs,
                                                            save=save, devices=devices),
                           resume=resume, force=force, init_from=init_from,
                           allow_init_funcs=allow_init_funcs)
    threads.budget_for_loader(_loader_workers(options))
    with Screen(stdout_console(), stderr_console(), bars_on_out=True) as screen:
        result = train(options, on_event=screen)
    if result.interrupted:
        click.get_current_context().exit(130)
