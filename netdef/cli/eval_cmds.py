"""``eval``, ``predict``, ``features`` and the picture commands (``show-filters``, ``show-cost``,
``show-preds``, ``plot-lr``): thin click shells over :mod:`netdef.evaluate` and
:mod:`netdef.show`. torch loads inside the commands, so ``netdef check`` stays fast."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..errors import NetdefError
from .render import print_diagnostics, stderr_console, stdout_console

CROPS = click.Choice(["1", "10"])


def reports_errors(command):
    """Bad input (NetdefError) -> located message on stderr and exit 1; Ctrl-C -> 130."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except NetdefError as exc:
            print_diagnostics(stderr_console(), exc.diagnostics)
            sys.exit(1)
        except KeyboardInterrupt:
            stderr_console().print("[bold yellow]interrupted[/]")
            sys.exit(130)
    return wrapper


class Bar:
    """A rich progress bar fed by EvalProgress events and the data packer's events (shown
    on stderr so ``--json`` output stays clean)."""

    def __init__(self, label: str):
        self.progress = Progress(TextColumn(f"[bold]{label}"), BarColumn(bar_width=30),
                                 TextColumn("{task.completed}/{task.total}"),
                                 TimeRemainingColumn(), console=stderr_console(),
                                 transient=True)
        self.task = None

    def __enter__(self) -> "Bar":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, event) -> None:
        done, total = getattr(event, "done", None), getattr(event, "total", None)
        if done is None or total is None:
            return
        if self.task is None:
            self.task = self.progress.add_task("", total=total)
        self.progress.update(self.task, completed=done, total=total)

    def data(self, event) -> None:
        """The data stage's events: a line when it packs (once per data set) and for
        anything it skipped, ignored or packed again."""
        kind = type(event).__name__
        if kind in ("PackStarted", "ImagesSkipped", "FilesIgnored", "CacheRebuilt", "DataNote"):
            self.progress.console.print(f"data: {escape(event.text)}", style="dim")


def _model(path: str):
    from ..evaluate import load_checkpoint

    return load_checkpoint(path, devices="auto")


def _workers(model) -> int:
    return int(model.experiment.get("workers") or 0)


def _out(out: str | None, beside: str | Path, name: str) -> Path:
    from ..show import check_writable, default_out

    return check_writable(out if out else default_out(beside, name))


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


@click.command("eval")
@click.option("--model", "ckpt", required=True, metavar="CKPT", help="A checkpoint (ckpt.pt).")
@click.option("--data", default=None, help="Image folder, packed cache or builtin:shapes "
                                           "(default: the run's own data).")
@click.option("--crops", type=CROPS, default="1", show_default=True,
              help="1: the centre crop; 10: corners and centre, mirrored, softmax averaged.")
@click.option("--split", type=click.Choice(["val", "test"]), default="val", show_default=True,
              help="val: the split the net was chosen on; test: the data's own test set "
                   "(IDX t10k files, CIFAR test batch, a test/ folder), for final numbers.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_errors
def eval_cmd(ckpt, data, crops, split, batch_size, as_json) -> None:
    """Top-1/top-5 error and accuracy of a checkpoint on the whole validation (or test) set.

    \b
    Example:
      netdef eval --model runs/quickstart/ckpt.pt --crops 10
    """
    from ..evaluate import check_classifier, evaluate, open_eval_data

    model = _model(ckpt)
    check_classifier(model, "eval")  # before any data is opened
    with Bar("evaluating") as bar:
        ds = open_eval_data(model, data, on_event=bar.data)
        result = evaluate(model, ds, int(crops), batch_size, bar, _workers(model), split)
    record = {"checkpoint": ckpt, "data": str(data or model.experiment.get("data")),
              "split": split, **result.to_dict()}
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    _print_eval(result, record["data"], split)


def _print_eval(result, data: str, split: str = "val") -> None:
    runs = [result.one_crop, result] if result.one_crop is not None else [result]
    what = "test" if split == "test" else "validation"
    table = Table(title=f"{result.images:,} {what} images of {escape(data)}")
    table.add_column("")
    for r in runs:
        table.add_column(f"{r.crops}-crop", justify="right")
    for label, key, fmt in (("top-1 error", "top1_err", _pct), ("top-5 error", "top5_err", _pct),
                            ("top-1 accuracy", "top1_acc", _pct),
                            ("top-5 accuracy", "top5_acc", _pct),
                            ("nll", "nll", lambda x: f"{x:.4f}")):
        table.add_row(label, *[fmt(getattr(r, key)) for r in runs])
    out = stdout_console()
    out.print(table)
    out.print(f"{result.seconds:.1f} s", style="dim")


@click.command("predict")
@click.option("--model", "ckpt", required=True, metavar="CKPT", help="A checkpoint (ckpt.pt).")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--crops", type=CROPS, default="1", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per image.")
@reports_errors
def predict_cmd(ckpt, images, crops, as_json) -> None:
    """The top-5 classes and their probabilities for each image.

    \b
    Example:
      netdef predict --model runs/quickstart/ckpt.pt photo.jpg --crops 10
    """
    from ..evaluate import predict

    predictions = predict(_model(ckpt), list(images), int(crops))
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in predictions], indent=2))
        return
    out = stdout_console()
    for p in predictions:
        table = Table(title=escape(p.source), show_header=True)
        table.add_column("#", justify="right")
        table.add_column("class")
        table.add_column("probability", justify="right")
        for k, (name, prob) in enumerate(p.top, 1):
            table.add_row(str(k), escape(name), f"{100 * prob:.2f}%")
        out.print(table)


@click.command("features")
@click.option("--model", "ckpt", required=True, metavar="CKPT", help="A checkpoint (ckpt.pt).")
@click.option("--layer", required=True, help="The layer whose activations are written.")
@click.option("--data", default=None, help="Default: the run's own data.")
@click.option("--split", type=click.Choice(["val", "train"]), default="val", show_default=True)
@click.option("--out", required=True, metavar="F.npy",
              help="Activations (N, ...) float32; labels go to F-labels.npy beside it.")
@reports_errors
def features_cmd(ckpt, layer, data, split, out) -> None:
    """Write a layer's activations for every image of a split (cuda-convnet's --write-features).

    \b
    Example:
      netdef features --model runs/quickstart/ckpt.pt --layer fc128 --out fc128.npy
    """
    import numpy as np

    from ..evaluate import check_layer, features, open_eval_data

    model = _model(ckpt)
    check_layer(model, layer)
    path = _out(out, ".", "")
    labels_path = _out(None, path.parent, f"{path.stem}-labels.npy")
    with Bar(f"features of {layer}") as bar:
        ds = open_eval_data(model, data, on_event=bar.data)
        acts, labels = features(model, layer, ds, split, on_event=bar, workers=_workers(model))
    _save_npy(path, acts, np)
    _save_npy(labels_path, labels, np)
    stdout_console().print(f"wrote {escape(str(path))} {tuple(acts.shape)} float32 and "
                           f"{escape(str(labels_path))} ({len(labels)} labels)")


def _save_npy(path: Path, array, np) -> None:
    try:
        with open(path, "wb") as f:
            np.save(f, array)
    except OSError as exc:
        raise NetdefError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _layers(values: tuple[str, ...]) -> list[str] | None:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    return names or None


@click.command("show-filters")
@click.argument("ckpt", type=click.Path(dir_okay=False))
@click.option("--layer", multiple=True, help="Layer(s) to show (repeat or comma-separate); "
                                             "default: the conv layers reading the image.")
@click.option("--out", default=None, metavar="PNG", help="Default: beside the checkpoint.")
@click.option("--norm-filters", is_flag=True, help="Scale each filter to its own range.")
@click.option("--input-idx", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which input's weights, for layers with several inputs.")
@click.option("--channels", type=click.IntRange(min=1), default=None,
              help="Show fc weights as CHANNELS x S x S images.")
@reports_errors
def show_filters_cmd(ckpt, layer, out, norm_filters, input_idx, channels) -> None:
    """The learned filters, one block per layer and tower (the paper's Figure 3).

    \b
    Example:
      netdef show-filters runs/alexnet/ckpt.pt --out filters.png
    """
    from ..show import render_filters, save_image

    model = _model(ckpt)
    path = _out(out, ckpt, f"{Path(ckpt).stem}-filters.png")
    image = render_filters(model, _layers(layer), norm_filters, input_idx, channels)
    _done(save_image(image, path))


@click.command("show-cost")
@click.argument("run", type=click.Path())
@click.option("--out", default=None, metavar="PNG", help="Default: cost.png in the run folder.")
@reports_errors
def show_cost_cmd(run, out) -> None:
    """Training and validation cost and error against epochs, rate changes marked.

    \b
    Example:
      netdef show-cost runs/quickstart
    """
    from ..show import render_cost
    from ..show.cost import run_folder

    if not Path(run).exists():
        raise NetdefError(f"{run}: no such run folder")
    _done(render_cost(run, _out(out, run_folder(run), "cost.png")))


@click.command("show-preds")
@click.option("--model", "ckpt", required=True, metavar="CKPT", help="A checkpoint (ckpt.pt).")
@click.option("--data", default=None, help="Default: the run's own data.")
@click.option("--only-errors", is_flag=True, help="Only images whose top guess is wrong.")
@click.option("--out", default=None, metavar="PNG", help="Default: beside the checkpoint.")
@reports_errors
def show_preds_cmd(ckpt, data, only_errors, out) -> None:
    """A grid of validation images with their top-5 guesses, the true class marked.

    \b
    Example:
      netdef show-preds --model runs/quickstart/ckpt.pt --only-errors
    """
    from ..evaluate import check_classifier, open_eval_data
    from ..show import render_preds

    model = _model(ckpt)
    check_classifier(model, "show-preds")  # before any data is opened
    path = _out(out, ckpt, f"{Path(ckpt).stem}-preds.png")
    with Bar("predicting") as bar:
        ds = open_eval_data(model, data, on_event=bar.data)
        written, count = render_preds(model, ds, path, only_errors, on_event=bar)
    _done(written, f"{count} image(s)")


@click.command("plot-lr")
@click.argument("experiment", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", default=None, metavar="PNG",
              help="Default: lr.png in the experiment's run folder.")
@reports_errors
def plot_lr_cmd(experiment, out) -> None:
    """Every layer's scheduled weight rate over the whole run, before training.

    \b
    Example:
      netdef plot-lr examples/alexnet.cfg --out lr.png
    """
    from ..schema import read_experiment
    from ..show import render_lr

    if out is None:
        from ..train.session import save_folder

        exp, _ = read_experiment(experiment)
        folder = save_folder(exp, experiment)
        folder.mkdir(parents=True, exist_ok=True)
        out = str(folder / "lr.png")
    _done(render_lr(experiment, _out(out, ".", "")))


def _done(path: Path, detail: str = "") -> None:
    extra = f" ({detail})" if detail else ""
    stdout_console().print(f"wrote {escape(str(path))}{extra}")
