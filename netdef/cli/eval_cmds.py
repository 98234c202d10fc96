"""``eval``, ``predict``, ``features`` and the picture commands (``show-filters``, ``show-cost``,
``show-preds``, ``plot-lr``): thin click shells over :mod:`netdef.evaluate` and
:mod:`netdef.show`. torch loads inside the commands, so ``netdef check`` stays fast."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ..errors import NetdefError
from .paths import InputPath
from .render import stderr_console, stdout_console
from .screen import Screen

CROPS = click.Choice(["1", "10"])
CROPS_HELP = ("1: the centre crop; 10: the four corners and the centre, and their mirrors, "
              "softmax averaged (the paper's test).")


def _screen(label: str) -> Screen:
    """Progress and data events on stderr, so that stdout holds only the result."""
    return Screen(stdout_console(), stderr_console(), label=label)


def rounded(value, digits: int = 6):
    """JSON-ready numbers: floats to ``digits`` decimals (fractions and nll), recursively."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, 2 if k == "seconds" else digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def _model(path: str):
    from ..evaluate import load_model

    return load_model(path, devices="auto")


def _workers(model) -> int:
    """The run's ``workers`` (auto as for training, on the devices the model was loaded on)."""
    from ..data.options import resolve_workers
    from ..host import cpus_per_process

    return resolve_workers(model.experiment.get("workers") or 0,
                           cpu_only=all(str(d).startswith("cpu") for d in model.devices),
                           cpus=cpus_per_process())


def _out(out: str | None, beside: str | Path, name: str) -> Path:
    from ..show import check_writable, default_out

    return check_writable(out if out else default_out(beside, name))


def _picture_name(ckpt: str, kind: str, *parts) -> str:
    """The default picture name beside a checkpoint: ``STEM[-PART...]-KIND.png``, naming
    every option that changes the picture (``ckpt-conv2-filters.png``), so a picture drawn
    with other options never replaces an earlier one under the same name."""
    words = [str(p) for p in parts if p not in (None, False, "")]
    return "-".join([Path(ckpt).stem, *words, kind]) + ".png"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


@click.command("eval", short_help="Error rates of a checkpoint on the whole validation set.")
@click.option("--model", "ckpt", required=True, metavar="CKPT",
              help="A checkpoint (ckpt.pt), or a run folder holding one.")
@click.option("--data", default=None,
              help="Image folder, IDX (MNIST-format) folder, CIFAR-10/100 python batches, "
                   "packed cache or builtin:shapes (default: the run's own data).")
@click.option("--crops", type=CROPS, default="1", show_default=True, help=CROPS_HELP)
@click.option("--split", type=click.Choice(["val", "test"]), default="val", show_default=True,
              help="val: the split the net was chosen on; test: the data's own test set "
                   "(IDX t10k files, CIFAR test batch, a test/ folder), for final numbers.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_cmd(ckpt, data, crops, split, batch_size, as_json) -> None:
    """Top-1/top-5 error and accuracy of a checkpoint on the whole validation (or test) set.

    With --crops 10 the centre-crop numbers of the same pass are shown beside the 10-crop
    ones. Errors are fractions of images; nll is the mean negative log-probability of the
    true class.

    \b
    Example:
      netdef eval --model runs/quickstart/ckpt.pt --crops 10
    """
    from ..evaluate import check_classifier, evaluate, open_eval_data

    model = _model(ckpt)
    check_classifier(model, "eval")  # before any data is opened
    with _screen("evaluating") as screen:
        ds = open_eval_data(model, data, on_event=screen)
        result = evaluate(model, ds, crops=int(crops), batch_size=batch_size, on_event=screen,
                          workers=_workers(model), split=split)
    record = {"checkpoint": ckpt, "data": str(data or model.experiment.get("data")),
              "split": split, **result.to_dict()}
    if as_json:
        click.echo(json.dumps(rounded(record), indent=2))
        return
    _print_eval(result, record["data"], len(model.classes), split)


def _print_eval(result, data: str, classes: int, split: str = "val") -> None:
    runs = [result.one_crop, result] if result.one_crop is not None else [result]
    rows = [("top-1 error", "top1_err", _pct), ("top-5 error", "top5_err", _pct),
            ("top-1 accuracy", "top1_acc", _pct), ("top-5 accuracy", "top5_acc", _pct),
            ("nll", "nll", lambda x: f"{x:.4f}")]
    if classes <= 5:  # the true class is always among the top 5: nothing to report
        rows = [row for row in rows if "top-5" not in row[0]]
    table = Table(box=None, padding=(0, 2), show_edge=False)
    table.add_column("", no_wrap=True)
    for r in runs:
        table.add_column(f"{r.crops}-crop", justify="right", no_wrap=True)
    for label, key, fmt in rows:
        table.add_row(label, *[fmt(getattr(r, key)) for r in runs])
    out = stdout_console()
    views = f" × {result.crops} views" if result.crops > 1 else ""
    what = "test" if split == "test" else "validation"
    out.print(f"{result.images:,} {what} images of {escape(data)}", soft_wrap=True)
    out.print(table)
    speed = result.images / max(result.seconds, 1e-9)
    out.print(f"evaluation time: {result.seconds:.1f} s ({speed:,.0f} images/s{views})",
              style="dim")


@click.command("predict", short_help="The top-5 classes of images, with their probabilities.")
@click.option("--model", "ckpt", required=True, metavar="CKPT",
              help="A checkpoint (ckpt.pt), or a run folder holding one.")
@click.argument("images", nargs=-1, required=True, type=InputPath(what="image file"))
@click.option("--crops", type=CROPS, default="1", show_default=True, help=CROPS_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per image.")
def predict_cmd(ckpt, images, crops, as_json) -> None:
    """The top-5 classes and their probabilities for each image (IMAGES: files Pillow reads).

    Each image is prepared as the validation images were: shorter side scaled to the
    training image-size, the centre square, then the centre crop (or, with --crops 10, the
    ten views) minus the training mean.

    \b
    Example:
      netdef predict --model runs/quickstart/ckpt.pt my-photo.jpg --crops 10
    """
    from ..evaluate import predict

    predictions = predict(_model(ckpt), list(images), int(crops))
    if as_json:
        click.echo(json.dumps(rounded([p.to_dict() for p in predictions]), indent=2))
        return
    out = stdout_console()
    for p in predictions:
        views = ("10 views (4 corners, centre, mirrored), the centre crop beside"
                 if p.centre is not None else "the centre crop")
        out.print(f"[bold]{escape(p.source)}[/]", soft_wrap=True)
        out.print(f"[dim]{views}[/]")
        out.print(_prediction_table(p))


def _prediction_table(p) -> Table:
    """#, probability, class; with 10 views, the centre crop's probability and class beside."""
    table = Table(box=None, padding=(0, 2), show_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("10-view" if p.centre is not None else "probability", justify="right",
                     no_wrap=True)
    table.add_column("class", overflow="fold")
    if p.centre is not None:
        table.add_column("centre", justify="right", no_wrap=True)
        table.add_column("class", overflow="fold")
    for k, (name, prob) in enumerate(p.top):
        row = [str(k + 1), f"{100 * prob:.2f}%", escape(name)]
        if p.centre is not None:
            c_name, c_prob = p.centre[k]
            row += [f"{100 * c_prob:.2f}%", escape(c_name)]
        table.add_row(*row)
    return table


@click.command("features", short_help="Write a layer's activations for a whole split to .npy.")
@click.option("--model", "ckpt", required=True, metavar="CKPT",
              help="A checkpoint (ckpt.pt), or a run folder holding one.")
@click.option("--layer", required=True, help="The layer whose activations are written.")
@click.option("--data", default=None, help="Default: the run's own data.")
@click.option("--split", type=click.Choice(["val", "train"]), default="val", show_default=True)
@click.option("--out", required=True, metavar="F.npy",
              help="Activations (N, ...) float32; labels go to F-labels.npy beside it.")
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
    with _screen(f"features of {layer}") as screen:
        ds = open_eval_data(model, data, on_event=screen)
        acts, labels = features(model, layer, ds, split, on_event=screen,
                                workers=_workers(model))
    _save_npy(path, acts, np)
    _save_npy(labels_path, labels, np)
    stdout_console().print(f"wrote {escape(str(path))} {tuple(acts.shape)} float32 and "
                           f"{escape(str(labels_path))} ({len(labels)} labels)", soft_wrap=True)


def _save_npy(path: Path, array, np) -> None:
    try:
        with open(path, "wb") as f:
            np.save(f, array)
    except OSError as exc:
        raise NetdefError.at(path, f"cannot write ({exc.strerror or exc})") from None


def _layers(values: tuple[str, ...]) -> list[str] | None:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    return names or None


@click.command("show-filters", short_help="Draw the learned filters (the paper's Figure 3).")
@click.argument("ckpt", metavar="CKPT")
@click.option("--layer", multiple=True, help="Layer(s) to show (repeat or comma-separate); "
                                             "default: the conv layers reading the image.")
@click.option("--out", default=None, metavar="PNG", help="Default: beside the checkpoint.")
@click.option("--norm-filters", is_flag=True, help="Scale each filter to its own range.")
@click.option("--input-idx", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which input's weights, for layers with several inputs.")
@click.option("--channels", type=click.IntRange(min=1), default=None,
              help="Show fc weights as CHANNELS x S x S images.")
@click.option("--all", "full", is_flag=True,
              help="Filters with other than 1 or 3 input channels: draw every filter and "
                   "channel, not the first 16 x 16.")
def show_filters_cmd(ckpt, layer, out, norm_filters, input_idx, channels, full) -> None:
    """The learned filters, one block per layer (the paper's Figure 3), written as a PNG.

    Filters reading 3 channels are drawn in colour, 1 channel in grey. A filter over more
    channels (conv2 and later) is drawn as one grey tile per input channel, a filter per
    row; only the first 16 filters and 16 channels are drawn unless --all, and the caption
    says which. Blocks are captioned with the layer and its gpu= as the file numbers it.

    \b
    Examples:
      netdef show-filters runs/quickstart/ckpt.pt
      netdef show-filters runs/quickstart/ckpt.pt --layer conv2 --out conv2.png
    """
    from ..show import render_filters, save_image

    model = _model(ckpt)
    names = _layers(layer)
    path = _out(out, model.path, _picture_name(
        model.path, "filters", *(names or ()), norm_filters and "norm",
        input_idx and f"input{input_idx}", channels and f"{channels}ch", full and "all"))
    image = render_filters(model, names, norm_filters, input_idx, channels, full=full)
    _done(save_image(image, path), f"{image.width}x{image.height} px")


@click.command("show-cost", short_help="Draw a run's cost, error and rate curves.")
@click.argument("run", type=click.Path())
@click.option("--out", default=None, metavar="PNG", help="Default: cost.png in the run folder.")
def show_cost_cmd(run, out) -> None:
    """Training and validation cost and error of a run (RUN: its folder) against epochs, and
    the logged rate as steps, with its changes marked. Works on a run in progress or stopped.

    \b
    Example:
      netdef show-cost runs/quickstart
    """
    from ..show import render_cost
    from ..show.cost import run_folder

    if not Path(run).exists():
        raise NetdefError.at(run, "no such run folder")
    _done(render_cost(run, _out(out, run_folder(run), "cost.png")))


@click.command("show-preds", short_help="Draw validation images with their top-5 guesses.")
@click.option("--model", "ckpt", required=True, metavar="CKPT",
              help="A checkpoint (ckpt.pt), or a run folder holding one.")
@click.option("--data", default=None, help="Default: the run's own data.")
@click.option("--only-errors", is_flag=True, help="Only images whose top guess is wrong.")
@click.option("--count", type=click.IntRange(min=1, max=256), default=16, show_default=True,
              help="How many images to draw.")
@click.option("--out", default=None, metavar="PNG", help="Default: beside the checkpoint.")
def show_preds_cmd(ckpt, data, only_errors, count, out) -> None:
    """A grid of validation images, each with its true class above it and the net's top-5
    guesses as bars: the true class's bar green, a wrong top guess's bar red.

    \b
    Example:
      netdef show-preds --model runs/quickstart/ckpt.pt --only-errors --count 8
    """
    from ..evaluate import check_classifier, open_eval_data
    from ..show import render_preds

    model = _model(ckpt)
    check_classifier(model, "show-preds")  # before any data is opened
    path = _out(out, model.path, _picture_name(
        model.path, "preds", data and Path(data).name.split(":")[-1], only_errors and "errors",
        count != 16 and count))
    with _screen("predicting") as screen:
        ds = open_eval_data(model, data, on_event=screen)
        written, shown = render_preds(model, ds, path, only_errors, count, on_event=screen)
    if written is None:
        stdout_console().print(f"no misclassified image among the {ds.num_val:,} validation "
                               f"images: every top guess is right, so no picture was written")
        return
    fewer = f" (the net gets only {shown} wrong)" if only_errors and shown < count else ""
    _done(written, f"{shown} image(s){fewer}")


@click.command("plot-lr", short_help="Draw every layer's learning-rate schedule (before training).")
@click.argument("experiment", type=InputPath(what="experiment file"))
@click.option("--out", default=None, metavar="PNG",
              help="Default: lr.png in the experiment's run folder.")
def plot_lr_cmd(experiment, out) -> None:
    """Every layer's scheduled weight rate over the whole run, drawn before training.

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
    stdout_console().print(f"wrote {escape(str(path))}{extra}", soft_wrap=True)
