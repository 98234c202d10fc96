"""``netdef ablate``: the paper's claims, each trained side by side with the user's net."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from .paths import InputPath
from .render import STYLE, stderr_console, stdout_console
from .screen import Screen

CLAIM_HELP = "relu, lrn, overlap-pool, dropout, augment, ten-view, towers"


def show_plan(plan, show: bool) -> None:
    """One line per variant (its size against the base); with ``show`` its diff too."""
    out = stdout_console()
    base = plan.base
    out.print(f"base: {escape(str(plan.options.experiment))} — {base.params:,} parameters, "
              f"{base.macs:,} multiply-adds per image")
    for claim, variants in plan.claims:
        for v in variants:
            out.print(f"[bold]{claim.name}[/] → {escape(v.name)}: "
                      f"{escape(v.variant.description)}; {v.params:,} parameters "
                      f"({v.params - base.params:+,}), {v.macs:,} multiply-adds "
                      f"({v.macs - base.macs:+,})", highlight=False)
            if show:
                _print_diff(out, v)
    for note in plan.notes:
        out.print(f"[{STYLE['note']}]note:[/] {escape(note)}")
    n = len(plan.trained()) * len(plan.seeds)
    out.print(f"{n} runs ({len(plan.trained())} nets × {len(plan.seeds)} seed"
              f"{'s' * (len(plan.seeds) != 1)}) of {plan.epochs} epoch"
              f"{'s' * (plan.epochs != 1)} into {escape(str(plan.out))}")


def _print_diff(out, v) -> None:
    if not v.diff:
        out.print("  (the same files: the variant differs in how it is evaluated)", style="dim")
        return
    for line in v.diff.splitlines():
        style = ("bold" if line.startswith(("---", "+++")) else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "cyan" if line.startswith("@@")
                 else "dim")
        out.print("  " + escape(line), style=style, highlight=False, soft_wrap=True)


def command_line(options) -> str:
    """The command as a reader would type it again (recorded in the report)."""
    parts = ["netdef ablate", options.experiment, *options.claims]
    for flag, value in (("--seeds", options.seeds), ("--epochs", options.epochs),
                        ("--out", options.out), ("--devices", options.devices)):
        if value is not None:
            parts += [flag, str(value)]
    if options.threshold != 0.25:
        parts += ["--threshold", f"{100 * options.threshold:g}"]
    return " ".join(parts + (["--quick"] if options.quick else []))


def show_verdicts(result) -> None:
    """The table of ablate.md: each variant's number against the base, and the verdict."""
    table = Table(title="claims", title_justify="left")
    for col in ("claim", "variant", "base", "variant ", "Δ", "verdict"):
        table.add_column(col, justify="left" if col in ("claim", "variant", "verdict") else "right")
    from ..ablate.markdown import delta_text, kind_of, mean_sd

    for r in result.reports:
        kind = kind_of(r)
        table.add_row(r.claim.name, r.variant.name, mean_sd(r.primary.base, kind),
                      mean_sd(r.primary.variant, kind), delta_text(r.primary, kind),
                      r.primary.verdict if r.primary.verdict != "not separable"
                      else "not separable at this budget")
    stdout_console().print(table)


@click.command("ablate", short_help="Test the paper's claims on your net, variant by variant.")
@click.argument("experiment", type=InputPath(what="experiment file"))
@click.argument("claims", nargs=-1, required=True, metavar="CLAIM...")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="Seeds per net (default 3; 1 with --quick).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs per run (default: the experiment's).")
@click.option("--quick", is_flag=True,
              help="One epoch, one seed, and builtin:shapes shrunk to at most 24 training and 8 "
                   "validation images per class (for trying the command).")
@click.option("--show", is_flag=True,
              help="Print each variant's diff against the base before training.")
@click.option("--dry-run", is_flag=True, help="Build, write and check the variants; train nothing.")
@click.option("--out", default=None, metavar="DIR",
              help="The ablation folder (default runs/ablate-<experiment>); rerun with the same "
                   "folder to continue.")
@click.option("--threshold", type=click.FloatRange(0, 100, min_open=True, max_open=True),
              default=25.0, show_default=True,
              help="relu: training top-1 error (%) whose first crossing is timed.")
@click.option("--devices", default=None, help="Overrides the experiment's 'devices'.")
def ablate_cmd(experiment: str, claims: tuple[str, ...], seeds, epochs, quick: bool,
               show: bool, dry_run: bool, out, threshold: float, devices) -> None:
    """Test the paper's claims on your net: each CLAIM trains a variant beside the base.

    CLAIM is one or more of: relu (tanh instead), lrn (normalisation removed), overlap-pool
    (pools 3/2 → 2/2), dropout (removed), augment (crops+mirrors off; lighting off),
    ten-view (centre crop vs ten views), towers (one tower from a two-tower file).
    Writes OUT/ablate.md, ablate.json and pictures; every run is a normal run folder.

    \b
    Example:
      netdef ablate examples/quickstart.cfg lrn dropout --seeds 3 --show
      netdef ablate examples/quickstart.cfg relu --quick
    """
    from ..ablate import AblateOptions, make_plan

    options = AblateOptions(experiment=experiment, claims=claims, seeds=seeds, epochs=epochs,
                            quick=quick, out=out, threshold=threshold / 100, devices=devices)
    plan = make_plan(options)
    show_plan(plan, show)
    if dry_run:
        return
    from ..ablate import run_ablation

    with Screen(stdout_console(), stderr_console(), bars_on_out=True) as screen:
        # an interrupted run is continued by rerunning the ablation: finished runs are
        # reused, the interrupted one resumes
        screen.resume_with = command_line(options)
        result = run_ablation(plan, on_event=screen, command=command_line(options))
    if result.interrupted:
        click.get_current_context().exit(130)
    show_verdicts(result)
