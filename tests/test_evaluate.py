"""netdef.evaluate: the 10-view average, top-k with ties, loading a checkpoint from its own
text, whole-set evaluation, predict and features."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

import netdef
from netdef.errors import NetdefError
from netdef.evaluate import (
    Totals,
    average_views,
    evaluate,
    features,
    open_eval_data,
    predict,
    probabilities,
    topk_credit,
    topk_names,
)

pytestmark = pytest.mark.usefixtures("eval_cache")


def test_ten_views_average_the_softmax_probabilities():
    logits = torch.zeros(1, 10, 3)
    logits[0, :5, 0] = 4.0      # five views are sure of class 0
    logits[0, 5:, 1] = 1.0      # five lean mildly to class 1
    probs = average_views(probabilities(logits))
    expected = torch.softmax(logits.double(), -1).mean(1)
    assert torch.allclose(probs, expected)
    assert not torch.allclose(probs, torch.softmax(logits.double().mean(1), -1))
    assert probs.argmax().item() == 0 and math.isclose(probs.sum().item(), 1.0)


def test_topk_on_hand_made_scores():
    probs = torch.tensor([[0.1, 0.6, 0.2, 0.05, 0.05, 0.0],
                          [0.3, 0.2, 0.15, 0.15, 0.1, 0.1]], dtype=torch.float64)
    labels = torch.tensor([1, 5])
    assert topk_credit(probs, labels, 1).tolist() == [1.0, 0.0]
    assert topk_credit(probs, labels, 5).tolist() == [1.0, 0.5]  # 5th place tied with label 5
    values, order = topk_names(probs, 3)
    assert order.tolist() == [[1, 2, 0], [0, 1, 2]]


def test_ties_give_fractional_credit():
    probs = torch.tensor([[0.5, 0.5, 0.0], [0.4, 0.3, 0.3]], dtype=torch.float64)
    assert topk_credit(probs, torch.tensor([0, 1]), 1).tolist() == [0.5, 0.0]
    assert topk_credit(probs, torch.tensor([0, 1]), 2).tolist() == [1.0, 0.5]
    totals = Totals()
    totals.add(probs, torch.tensor([0, 1]))
    errors = totals.errors()
    assert errors["top1_err"] == pytest.approx(0.75)
    assert errors["nll"] == pytest.approx(-(math.log(0.5) + math.log(0.3)) / 2)


def test_load_model_needs_no_other_file(trained_run, tmp_path):
    copy = tmp_path / "elsewhere.pt"
    shutil.copyfile(trained_run / "ckpt.pt", copy)
    for name in ("two.cfg", "two-params.cfg"):
        (trained_run.parent / name).rename(tmp_path / name)  # the definition is gone from its place
    try:
        model = netdef.load_model(copy)
    finally:
        for name in ("two.cfg", "two-params.cfg"):
            (tmp_path / name).rename(trained_run.parent / name)
    assert not model.net.training
    assert model.classes == ["red disc", "blue disc", "red cross"]
    assert model.mean.shape == (3, 20, 20) and model.eigvec.shape == (3, 3)
    assert model.input_size == 16 and model.state["epoch"] == 2
    assert list(model.checked.layers)[:4] == ["data", "labels", "conv1a", "conv1b"]


def test_a_cpu_model_runs_channels_last(trained_model):
    """On the CPU the loaded conv weights are NHWC by their strides, so every activation is
    (a conv with NHWC weights gives NHWC output; NCHW pooling is several times slower)."""
    weights = [p for p in trained_model.net.parameters() if p.dim() == 4]
    assert weights and all(p.stride(1) == 1 for p in weights)
    x = torch.randn(2, 3, 16, 16)  # NCHW in
    out = {}
    hooks = [op.register_forward_hook(lambda m, a, y: out.setdefault(len(out), y))
             for op in trained_model.net.ops]
    try:
        with torch.no_grad():
            trained_model.net.run_layers(x, torch.zeros(2, dtype=torch.long), ["probs"])
    finally:
        for h in hooks:
            h.remove()
    spatial = [y for y in out.values() if isinstance(y, torch.Tensor) and y.dim() == 4]
    assert spatial and all(y.stride(1) == 1 for y in spatial)


def test_evaluate_whole_set_one_and_ten_crops(trained_model):
    ds = open_eval_data(trained_model)
    one = evaluate(trained_model, ds, crops=1, batch_size=7)
    ten = evaluate(trained_model, ds, crops=10, batch_size=7)
    assert one.images == ten.images == 30 and one.one_crop is None
    assert ten.crops == 10 and ten.one_crop.crops == 1
    assert ten.one_crop.top1_err == pytest.approx(one.top1_err)
    assert ten.one_crop.nll == pytest.approx(one.nll)
    last = trained_model.state["history"][-1]  # the training loop's own test of the same weights
    assert one.top1_err == pytest.approx(last["val_top1_err"])
    assert one.nll == pytest.approx(last["val_nll"], rel=1e-4)
    assert 0 <= ten.top5_err <= ten.top1_err <= 1
    assert set(ten.to_dict()["one_crop"]) >= {"images", "crops", "top1_err", "top5_err"}


def test_data_with_other_classes_is_refused(trained_model):
    with pytest.raises(NetdefError, match="the data has 4 classes .* trained on 3"):
        open_eval_data(trained_model, "builtin:shapes?classes=4&train=8&val=4")


def test_predict_paths_and_pil_images(trained_model, tmp_path):
    from PIL import Image

    ds = open_eval_data(trained_model)
    image = Image.fromarray(np.asarray(ds.images("val")[0]).transpose(1, 2, 0))
    image.save(tmp_path / "a.png")
    got = predict(trained_model, [tmp_path / "a.png", image], crops=10)
    assert [len(p.top) for p in got] == [3, 3]
    # the same image from a file and from memory: the same classes in the same order, and
    # probabilities equal up to float rounding (compared apart: approx takes no nested tuples)
    assert [c for c, _ in got[0].top] == [c for c, _ in got[1].top]
    assert [p for _, p in got[0].top] == pytest.approx([p for _, p in got[1].top])
    assert sum(p for _, p in got[0].top) == pytest.approx(1.0)
    assert {c for c, _ in got[0].top} == set(trained_model.classes)


def test_predict_refuses_a_file_that_is_not_an_image(trained_model, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    with pytest.raises(NetdefError, match="notes.jpg: error: not a readable image"):
        predict(trained_model, [bad])


def test_features_of_every_image(trained_model):
    ds = open_eval_data(trained_model)
    acts, labels = features(trained_model, "conv1b", ds, "train", batch_size=16)
    assert acts.shape == (60, 48, 3, 3) and acts.dtype == np.float32
    assert labels.tolist() == ds.labels("train").tolist()
    with pytest.raises(NetdefError, match="no layer 'fc7'.*its layers: conv1a, conv1b"):
        features(trained_model, "fc7", ds)


def test_missing_and_foreign_checkpoints(tmp_path):
    with pytest.raises(NetdefError, match="no such checkpoint"):
        netdef.load_model(tmp_path / "none.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(NetdefError, match="not a netdef checkpoint"):
        netdef.load_model(tmp_path / "other.pt")
