"""The evaluation and picture commands end to end: PNGs written, --json parsed, and one test
per bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from netdef.cli import cli

from conftest import cli_failed
from evalnets import write_experiment

pytestmark = pytest.mark.usefixtures("eval_cache")


def netdef(*args, ok: bool = True):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=not ok)


def is_png(path) -> bool:
    with Image.open(path) as image:
        image.verify()
        return image.format == "PNG"


def test_eval_json_parses(trained_run):
    result = netdef("eval", "--model", trained_run / "ckpt.pt", "--crops", "10", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["images"] == 30 and data["crops"] == 10
    assert {"top1_err", "top5_err", "top1_acc", "nll"} <= set(data)
    assert data["one_crop"]["crops"] == 1 and data["one_crop"]["images"] == 30


def test_eval_table_shows_both_crops(trained_run):
    result = netdef("eval", "--model", trained_run / "ckpt.pt", "--crops", "10",
                    "--batch-size", "8")
    assert result.exit_code == 0, result.output
    assert "1-crop" in result.stdout and "10-crop" in result.stdout
    assert "30 validation images" in result.stdout and "top-1 error" in result.stdout
    assert "top-5" not in result.stdout  # 3 classes: the true one is always among the top 5
    assert "evaluation time:" in result.stdout


def test_pictures_default_beside_the_checkpoint(trained_run):
    for args, name in ((["show-filters", trained_run / "ckpt.pt"], "ckpt-filters.png"),
                       (["show-preds", "--model", trained_run / "ckpt.pt"], "ckpt-preds.png"),
                       (["show-preds", "--model", trained_run / "ckpt.pt", "--only-errors",
                         "--out", trained_run / "errors.png"], "errors.png"),
                       (["show-cost", trained_run], "cost.png")):
        result = netdef(*args)
        assert result.exit_code == 0, result.output
        path = trained_run / name
        assert is_png(path) and str(path) in result.stdout.replace("\n", "")


def test_picture_defaults_name_the_options(trained_run):
    """A picture drawn with other options gets its own default name: show-filters --layer
    conv2 must not overwrite the default (conv1) picture, nor --only-errors the full grid."""
    ckpt = trained_run / "ckpt.pt"
    for args, name in ((["show-filters", ckpt], "ckpt-filters.png"),
                       (["show-filters", ckpt, "--layer", "fc", "--channels", "48"],
                        "ckpt-fc-48ch-filters.png"),
                       (["show-preds", "--model", ckpt, "--only-errors", "--count", "4"],
                        "ckpt-errors-4-preds.png")):
        result = netdef(*args)
        assert result.exit_code == 0, result.output
        assert is_png(trained_run / name), result.output
    assert len(list(trained_run.glob("ckpt-*.png"))) >= 3


def test_show_filters_options(trained_run, tmp_path):
    out = tmp_path / "fc.png"
    result = netdef("show-filters", trained_run / "ckpt.pt", "--layer", "fc", "--input-idx", "1",
                    "--channels", "48", "--norm-filters", "--out", out)
    assert result.exit_code == 0, result.output
    assert is_png(out)


def test_plot_lr(tmp_path):
    exp = write_experiment(tmp_path)
    result = netdef("plot-lr", exp, "--out", tmp_path / "lr.png")
    assert result.exit_code == 0, result.output
    assert is_png(tmp_path / "lr.png")
    assert netdef("plot-lr", exp).exit_code == 0
    assert is_png(tmp_path / "run" / "lr.png")


def test_predict_and_features(trained_run, tmp_path):
    Image.new("RGB", (30, 24), (200, 20, 20)).save(tmp_path / "red.png")
    result = netdef("predict", "--model", trained_run / "ckpt.pt", tmp_path / "red.png", "--json")
    assert result.exit_code == 0, result.output
    [guess] = json.loads(result.stdout)
    assert len(guess["top5"]) == 3 and guess["image"].endswith("red.png")
    out = tmp_path / "f.npy"
    result = netdef("features", "--model", trained_run / "ckpt.pt", "--layer", "fc", "--out", out)
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (30, 3) and np.load(tmp_path / "f-labels.npy").shape == (30,)


def test_predict_says_its_views_and_shows_the_centre_crop_beside_ten(trained_run, tmp_path):
    Image.new("RGB", (30, 24), (200, 20, 20)).save(tmp_path / "red.png")
    args = ("predict", "--model", trained_run / "ckpt.pt", tmp_path / "red.png")
    one = netdef(*args)
    assert one.exit_code == 0, one.output
    assert "the centre crop" in one.stdout and "10-view" not in one.stdout
    ten = netdef(*args, "--crops", "10")
    assert ten.exit_code == 0, ten.output
    assert "10 views" in ten.stdout and "10-view" in ten.stdout and "centre" in ten.stdout
    assert max(map(len, ten.stdout.splitlines()[1:])) <= 80  # all but the image's path
    [guess] = json.loads(netdef(*args, "--crops", "10", "--json").stdout)
    assert guess["crops"] == 10 and len(guess["centre_crop_top5"]) == 3
    [single] = json.loads(netdef(*args, "--json").stdout)
    # the centre crop beside the 10 views is the --crops 1 answer
    centre, alone = guess["centre_crop_top5"], single["top5"]
    assert [g["class"] for g in centre] == [g["class"] for g in alone]
    assert [g["probability"] for g in centre] == pytest.approx(
        [g["probability"] for g in alone], abs=1e-5)
    assert "centre_crop_top5" not in single


def test_help_has_an_example():
    for command in ("eval", "show-filters", "show-cost", "show-preds", "plot-lr", "predict",
                    "features"):
        result = netdef(command, "--help")
        assert result.exit_code == 0 and "Example" in result.output


@pytest.mark.parametrize("make, args, message", [
    (None, ["eval", "--model", "{tmp}/none.pt"], "no such checkpoint file"),
    ("foreign", ["eval", "--model", "{tmp}/other.pt"], "not a netdef checkpoint"),
    (None, ["show-filters", "{ckpt}", "--layer", "conv7"],
     "no layer 'conv7'; its conv layers: conv1a, conv1b"),
    (None, ["show-filters", "{ckpt}", "--layer", "fc"], "has no spatial filters; pass --channels"),
    (None, ["eval", "--model", "{ckpt}", "--data", "builtin:shapes?classes=4&train=8&val=4"],
     "the data has 4 classes"),
    ("text", ["predict", "--model", "{ckpt}", "{tmp}/photo.jpg"], "not a readable image"),
    (None, ["show-filters", "{ckpt}", "--out", "{tmp}/no/such/folder/f.png"], "does not exist"),
    (None, ["show-cost", "{tmp}"], "metrics.jsonl: error: no such file"),
    (None, ["features", "--model", "{ckpt}", "--layer", "nope", "--out", "{tmp}/f.npy"],
     "no layer 'nope'"),
])
def test_bad_input_exits_1_with_a_located_message(trained_run, tmp_path, make, args, message):
    if make == "foreign":
        torch.save({"model": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
    elif make == "text":
        (tmp_path / "photo.jpg").write_text("hello")
    words = [a.format(tmp=tmp_path, ckpt=trained_run / "ckpt.pt") for a in args]
    result = netdef(*words, ok=False)
    cli_failed(result, message, joined=True)


def test_predict_names_every_unreadable_image_at_once(trained_run, tmp_path):
    """Each file that is not an image, located at its path, in one exit (not the first)."""
    for name in ("a.jpg", "b.png"):
        (tmp_path / name).write_text("hello")
    result = netdef("predict", "--model", trained_run / "ckpt.pt", tmp_path / "a.jpg",
                    tmp_path / "b.png", ok=False)
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    for name in ("a.jpg", "b.png"):
        assert f"{tmp_path / name}: error: not a readable image" in text
    assert "Traceback" not in result.output


def test_usage_errors_exit_2(trained_run):
    cli_failed(netdef("eval", "--model", trained_run / "ckpt.pt", "--crops", "3", ok=False),
               "--crops", code=2)
    cli_failed(netdef("eval", ok=False), "--model", code=2)


@pytest.fixture
def narrow(monkeypatch):
    """stdout as an 80-column terminal."""
    import sys

    from rich.console import Console

    import netdef.cli.eval_cmds as cmds

    monkeypatch.setattr(cmds, "stdout_console",
                        lambda: Console(file=sys.stdout, width=80, highlight=False))


def test_eval_and_predict_fit_80_columns_without_breaking_words(trained_run, tmp_path, narrow):
    result = netdef("eval", "--model", trained_run / "ckpt.pt", "--crops", "10")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines[1:]), lines  # the first: the data, one line
    for words in ("top-1 error", "top-1 accuracy", "1-crop", "10-crop", "nll"):
        assert any(words in line for line in lines), words
    assert any(line.startswith("evaluation time: ") and line.endswith("× 10 views)")
               for line in lines)
    photo = tmp_path / ("a-rather-long-folder-name-" * 3) / "photo.png"
    photo.parent.mkdir()
    Image.new("RGB", (30, 24), (200, 20, 20)).save(photo)
    result = netdef("predict", "--model", trained_run / "ckpt.pt", photo)
    assert result.exit_code == 0, result.output
    assert str(photo) in result.stdout.splitlines()  # the path whole, on its own line
    import netdef as nd
    for name in nd.load_model(trained_run / "ckpt.pt").classes:
        assert name in result.stdout


def test_eval_json_is_rounded_once(trained_run):
    result = netdef("eval", "--model", trained_run / "ckpt.pt", "--crops", "10", "--json")
    data = json.loads(result.stdout)
    assert "seconds" in data and "seconds" not in data["one_crop"]
    floats = [v for d in (data, data["one_crop"]) for v in d.values() if isinstance(v, float)]
    assert all(len(repr(v).split(".")[1]) <= 6 for v in floats), floats
    assert data["seconds"] == round(data["seconds"], 2)


def test_show_preds_count_and_no_errors(trained_run, tmp_path, monkeypatch):
    result = netdef("show-preds", "--model", trained_run / "ckpt.pt", "--count", "5",
                    "--out", tmp_path / "p.png")
    assert result.exit_code == 0, result.output
    assert "(5 image(s))" in result.stdout and is_png(tmp_path / "p.png")
    import netdef.show.preds as P

    monkeypatch.setattr(P, "pick", lambda *a, **k: [])
    result = netdef("show-preds", "--model", trained_run / "ckpt.pt", "--only-errors",
                    "--out", tmp_path / "none.png")
    assert result.exit_code == 0, result.output
    assert "no misclassified image among the 30 validation images" in result.stdout
    assert not (tmp_path / "none.png").exists()


@pytest.mark.parametrize("args", [
    ["eval", "--model", "{run}"],
    ["predict", "--model", "{run}", "{tmp}/photo.png"],
    ["show-filters", "{run}", "--out", "{tmp}/f.png"],
    ["show-preds", "--model", "{run}", "--out", "{tmp}/p.png"],
    ["features", "--model", "{run}", "--layer", "fc", "--out", "{tmp}/f.npy"],
])
def test_model_takes_a_run_folder(trained_run, tmp_path, args):
    """--model runs/x works as show-cost's run folder does: the folder's ckpt.pt."""
    Image.new("RGB", (20, 20), (200, 10, 10)).save(tmp_path / "photo.png")
    result = netdef(*[a.format(run=trained_run, tmp=tmp_path) for a in args])
    assert result.exit_code == 0, result.output


def test_show_filters_of_a_run_folder_writes_beside_its_checkpoint(trained_run):
    result = netdef("show-filters", trained_run)
    assert result.exit_code == 0, result.output
    assert is_png(trained_run / "ckpt-filters.png"), result.output
