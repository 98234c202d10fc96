"""netdef.show: the filter picture's size and block layout, and every picture as a PNG."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from netdef.errors import NetdefError
from netdef.evaluate import open_eval_data
from netdef.schedules import lr_at, parse_schedule
from netdef.show import (
    FilterBlock,
    filter_image,
    read_metrics,
    render_cost,
    render_filters,
    render_lr,
    render_preds,
)
from netdef.show import filters as F
from netdef.show.cost import cost_figure
from netdef.show.lr import assumed_errors

from evalnets import write_experiment

pytestmark = pytest.mark.usefixtures("eval_cache")


def bank(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(48, 3, 11, 11)).astype(np.float32)


def test_two_tower_bank_size_and_block_layout():
    a, b = bank(0), bank(1)
    image = filter_image([FilterBlock("conv1a", a), FilterBlock("conv1b", b)])
    tile = 11 * 7                                     # 11x11 enlarged 7x (nearest neighbour)
    grid_w = 16 * (tile + F.GAP) + F.GAP              # 16 filters per row, as in the paper
    grid_h = 3 * (tile + F.GAP) + F.GAP               # 48 filters: 3 rows
    block_h = F.CAPTION_H + grid_h
    assert image.size == (grid_w, 2 * block_h + F.SEPARATOR) == (1283, 536)
    px = np.asarray(image)
    assert (px[block_h:block_h + F.SEPARATOR] == F.LINE).all()          # the separator
    assert (px[F.CAPTION_H:F.CAPTION_H + F.GAP] == F.BACKGROUND).all()  # gap above the tiles
    scaled = F.scale_filters(a, per_filter=False)
    first = np.rint(scaled[0].transpose(1, 2, 0) * 255).astype(np.uint8)  # (11, 11, 3)
    y, x = F.CAPTION_H + F.GAP, F.GAP
    assert (px[y:y + tile:7, x:x + tile:7] == first).all()
    assert (px[y:y + tile, x:x + tile] == first.repeat(7, 0).repeat(7, 1)).all()
    y2 = block_h + F.SEPARATOR + F.CAPTION_H + F.GAP + 2 * (tile + F.GAP)  # block 2, row 3
    last = np.rint(F.scale_filters(b, False)[47].transpose(1, 2, 0) * 255).astype(np.uint8)
    x2 = F.GAP + 15 * (tile + F.GAP)
    assert (px[y2:y2 + tile:7, x2:x2 + tile:7] == last).all()


def test_norm_filters_scales_each_filter_to_its_own_range():
    w = bank(0)
    w[1] *= 0.01                                      # a weak filter
    shared = F.scale_filters(w, per_filter=False)
    own = F.scale_filters(w, per_filter=True)
    assert shared[1].max() - shared[1].min() < 0.1
    assert own[1].min() == 0 and own[1].max() == pytest.approx(1)


def test_render_filters_defaults_to_the_towers_reading_the_image(trained_model):
    assert F.first_layers(trained_model) == ["conv1a", "conv1b"]
    assert render_filters(trained_model).size == (1283, 536)
    one = render_filters(trained_model, ["conv1b"], norm_filters=True)
    assert one.size == (1283, 267)


def test_fc_layers_need_channels(trained_model):
    with pytest.raises(NetdefError, match="'fc' is fully connected.*--channels"):
        render_filters(trained_model, ["fc"])
    image = render_filters(trained_model, ["fc"], input_idx=1, channels=48)   # 432 = 48·3·3
    assert image.size[1] > F.CAPTION_H
    with pytest.raises(NetdefError, match="not 5×S×S"):
        render_filters(trained_model, ["fc"], input_idx=1, channels=5)


def test_unknown_or_filterless_layer_lists_the_conv_layers(trained_model):
    with pytest.raises(NetdefError, match="no layer 'conv9'; its conv layers: conv1a, conv1b"):
        render_filters(trained_model, ["conv9"])
    with pytest.raises(NetdefError, match="'pool1a' is a pool layer .* conv1a, conv1b"):
        render_filters(trained_model, ["pool1a"])
    with pytest.raises(NetdefError, match="--input-idx must be 0..0"):
        render_filters(trained_model, ["conv1a"], input_idx=1)


def test_cost_curves_png(trained_run, tmp_path):
    records = read_metrics(trained_run)
    assert [r["epoch"] for r in records if r["kind"] == "test"] == [1, 2]
    out = render_cost(trained_run / "ckpt.pt", tmp_path / "cost.png")
    assert Image.open(out).format == "PNG"
    # the rate panel names whose rate it draws, as the training screen does
    assert {r["rate_of"] for r in records if r["kind"] == "train"} == {"conv1a epsW"}
    fig = cost_figure(records, "run")
    assert fig.axes[2].get_ylabel() == "rate\n(conv1a epsW)"
    with pytest.raises(NetdefError, match="metrics.jsonl: error: no such file"):
        render_cost(tmp_path, tmp_path / "x.png")


def test_preds_png(trained_model, tmp_path):
    ds = open_eval_data(trained_model)
    out, count = render_preds(trained_model, ds, tmp_path / "p.png", count=6)
    assert count == 6 and Image.open(out).format == "PNG"


def test_lr_png_and_the_assumed_plateau(tmp_path):
    exp = write_experiment(tmp_path)
    out = render_lr(exp, tmp_path / "lr.png")
    assert Image.open(out).format == "PNG"
    plateau = parse_schedule("plateau[base=1;factor=0.1;patience=2]")
    rates = [lr_at(plateau, 0.5, assumed_errors(t, 2)) for t in range(8)]
    assert rates == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.1])  # one drop, at test 3


def test_one_channel_filters_are_grey_and_bigger_than_before():
    w = np.random.default_rng(0).normal(size=(32, 1, 5, 5)).astype(np.float32)
    image = filter_image([FilterBlock("conv1 | gpu=0 (cpu) | 32 filters 5x5x1", w)])
    tile = 5 * 15                                     # at least 72 px: 5x5 enlarged 15x
    assert image.size == (8 * (tile + F.GAP) + F.GAP,  # 32 filters: 4 rows of 8
                          F.CAPTION_H + 4 * (tile + F.GAP) + F.GAP) == (627, 339)
    px = np.asarray(image)[F.CAPTION_H:].astype(int)
    assert (px[..., 0] == px[..., 1]).all() and (px[..., 1] == px[..., 2]).all()  # grey


def test_filters_over_many_channels_show_a_subset_and_say_so(trained_model):
    block = F.layer_block(trained_model, "fc", input_idx=1, channels=48)      # (3, 48, 3, 3)
    assert block.filters.shape == (3, 16, 3, 3)
    assert "shown: 3 of 3 filters (rows) x 16 of 48 input channels (columns); --all" \
        in block.caption
    assert "gpu=0 (cpu)" in block.caption and "tower" not in block.caption
    full = F.layer_block(trained_model, "fc", input_idx=1, channels=48, full=True)
    assert full.filters.shape == (3, 48, 3, 3) and "shown:" not in full.caption
    assert render_filters(trained_model, ["fc"], input_idx=1, channels=48).size[0] == \
        16 * (3 * 24 + F.GAP) + F.GAP                  # 16 channel tiles of 3x3 at 24x


def _records(path, batches: int | None, steps=(10, 20, 30), tests=()):
    import json

    lines = [{"kind": "train", "epoch": 1, "batch": s, "step": s, "nll": 2.0 / s,
              "top1_err": 0.5, "rate": 0.01 if s < 25 else 0.001,
              **({"batches": batches} if batches else {})} for s in steps]
    lines += [{"kind": "test", "epoch": e, "step": e * 39, "val_nll": 1.0, "val_top1_err": 0.3,
               "val_top5_err": 0.1, "train_nll": 1.0, "train_top1_err": 0.3} for e in tests]
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return read_metrics(path)


def _legend(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def test_cost_of_a_run_stopped_in_its_first_epoch(tmp_path):
    from netdef.show.cost import cost_figure

    fig = cost_figure(_records(tmp_path / "a", batches=39), "a")      # 30 of 39 batches done
    ax_nll, ax_err, ax_lr = fig.axes
    train = ax_nll.get_lines()[0]                     # (then the dotted rate-change marks)
    assert list(train.get_xdata()) == pytest.approx([10 / 39, 20 / 39, 30 / 39])
    assert _legend(ax_nll) == ["training nll"]        # no test yet: no validation entries
    assert _legend(ax_err) == ["training error"]
    rate = ax_lr.get_lines()[0]
    assert rate.get_drawstyle() == "steps-pre" and ax_lr.get_xlabel() == "epoch"
    # a log without the batch count and no test: drawn against steps, and labelled so
    fig = cost_figure(_records(tmp_path / "b", batches=None), "b")
    assert list(fig.axes[0].get_lines()[0].get_xdata()) == [10, 20, 30]
    assert fig.axes[2].get_xlabel().startswith("step")


def test_cost_with_tests_lists_every_curve(tmp_path):
    from netdef.show.cost import cost_figure

    fig = cost_figure(_records(tmp_path, batches=39, steps=(20, 39, 59, 78), tests=(1, 2)), "r")
    assert _legend(fig.axes[0]) == ["training nll", "validation nll"]
    assert _legend(fig.axes[1]) == ["training error", "validation error",
                                    "validation top-5 error"]


def test_preds_with_no_error_write_no_picture(trained_model, tmp_path, monkeypatch):
    import netdef.show.preds as P

    monkeypatch.setattr(P, "pick", lambda *a, **k: [])
    assert P.render_preds(trained_model, None, tmp_path / "p.png", only_errors=True) == (None, 0)
    assert not (tmp_path / "p.png").exists()


def test_preds_title_the_true_class_plainly_and_redden_a_wrong_guess(trained_model):
    from netdef.show.output import pyplot
    from netdef.show.preds import Shown, _draw

    plt = pyplot()
    fig, (ax_img, ax_bar) = plt.subplots(1, 2)
    wrong = Shown(0, np.zeros((3, 8, 8), np.uint8), 1, [(0, 0.6), (1, 0.3), (2, 0.1)])
    _draw(trained_model, wrong, ax_img, ax_bar)
    assert ax_img.get_title() == f"true: {trained_model.classes[1]}"
    assert ax_img.title.get_color() not in ("tab:red", "red")
    colours = [bar.get_facecolor() for bar in ax_bar.patches]
    from matplotlib.colors import to_rgba
    assert colours == [to_rgba("tab:red"), to_rgba("tab:green"), to_rgba("tab:grey")]
    plt.close(fig)


def test_rate_changes_marks_steps_not_a_continuous_schedule():
    from netdef.show.cost import rate_changes

    def records(rates):
        return [{"step": 10 * (i + 1), "rate": r} for i, r in enumerate(rates)]

    steps = records([0.01, 0.01, 0.01, 0.001, 0.001, 0.001, 0.0001])
    # the new rate ran from the step after the last record of the old one (30, 60)
    assert rate_changes(steps, 10.0) == [(3.0, 0.001), (6.0, 0.0001)]
    cosine = records([0.01 * (1 + np.cos(np.pi * i / 50)) / 2 for i in range(50)])
    assert rate_changes(cosine, 10.0) == []


FC_ONLY = """[data]
type=data
dataIdx=0

[labels]
type=data
dataIdx=1

[fc3]
type=fc
inputs=data
outputs=3
initW=0.01

[probs]
type=softmax
inputs=fc3

[logprob]
type=cost.logreg
inputs=labels,probs
"""
FC_ONLY_PARAMS = """[fc3]
epsW=0.001
epsB=0.002
momW=0.9
momB=0.9
wc=0

[logprob]
coeff=1
"""


def test_a_net_without_conv_layers_is_told_the_fc_command_that_works(tmp_path):
    """No 'no conv layer … (the net has no conv layers)': the hint names an fc layer reading
    the image and the --channels that draws it, and that command line then works."""
    import netdef
    from netdef.train import TrainOptions, train

    from conftest import write_experiment_files

    exp = write_experiment_files(tmp_path, {"fc.cfg": FC_ONLY, "fc-params.cfg": FC_ONLY_PARAMS},
                                 {"layers": "fc.cfg", "data": "builtin:shapes?classes=3&train=4"
                                  "&val=2", "image-size": 8, "inner-size": 8, "batch-size": 6,
                                  "epochs": 1, "devices": "cpu", "workers": 0, "seed": 0,
                                  "save": str(tmp_path / "run")})
    train(TrainOptions(str(exp)), handle_signals=False)
    model = netdef.load_model(tmp_path / "run")          # a run folder: its ckpt.pt
    with pytest.raises(NetdefError) as info:
        render_filters(model)
    said = str(info.value)
    assert "no conv layer reads" not in said and "no conv or local layers" in said
    assert f"--layer fc3 --channels {model.channels}" in said, said
    assert render_filters(model, ["fc3"], channels=model.channels).size[0] > 0
