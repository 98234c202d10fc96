"""Packing (docs/design.md §3): pixels round-trip, mean and PCA match numpy, modes, reuse,
rebuild."""

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from netdef.data import (
    CacheInvalid,
    CacheRebuilt,
    PackedData,
    PackStarted,
    open_dataset,
    pack_dataset,
)
from netdef.data.decode import load_image


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path / "cache"))


def write_folder(root, classes=("a", "b"), train=6, val=2, size=16, seed=0, fmt="png"):
    """An ImageNet-layout folder of random square images; returns {path: uint8 (S, S, 3)}."""
    rng = np.random.default_rng(seed)
    pixels = {}
    for split, count in (("train", train), ("val", val)):
        for c in classes:
            d = os.path.join(root, split, c)
            os.makedirs(d, exist_ok=True)
            for i in range(count):
                a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                p = os.path.join(d, f"{i:03d}.{fmt}")
                Image.fromarray(a).save(p)
                pixels[p] = a
    return pixels


def test_pack_read_round_trips_pixels(tmp_path):
    pixels = write_folder(tmp_path / "src")
    ds = pack_dataset(str(tmp_path / "src"), str(tmp_path / "dst"), image_size=16, workers=1)
    assert (ds.num_train, ds.num_val, ds.classes) == (12, 4, ["a", "b"])
    train = [p for p in sorted(pixels) if "/train/" in p]
    for k, p in enumerate(train):
        assert np.array_equal(ds.train_images[k], pixels[p].transpose(2, 0, 1))
        assert ds.train_labels[k] == (0 if "/a/" in p else 1)
    assert ds.train_images.dtype == np.uint8 and ds.train_images.shape == (12, 3, 16, 16)


def test_mean_and_pca_match_numpy(tmp_path):
    pixels = write_folder(tmp_path / "src", size=8, train=5)
    ds = pack_dataset(str(tmp_path / "src"), str(tmp_path / "dst"), image_size=8, workers=2)
    train = np.stack([pixels[p] for p in sorted(pixels) if "/train/" in p])   # (N, H, W, 3)
    assert np.allclose(ds.mean, train.mean(0).transpose(2, 0, 1), atol=1e-4)
    px = train.reshape(-1, 3) / 255.0
    lam, vec = np.linalg.eigh(np.cov(px.T, bias=True))
    assert np.allclose(ds.eigval, lam[::-1], rtol=1e-4)
    for i in range(3):                                          # eigenvectors up to sign
        assert abs(abs(float(ds.eigvec[:, i] @ vec[:, 2 - i])) - 1) < 1e-4


def test_resize_is_shorter_side_then_centre_crop():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 80, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    ref = img.resize((32, 16), Image.Resampling.BILINEAR).crop((8, 0, 24, 16))
    from netdef.data.decode import resize_crop

    got = resize_crop(img, 16)
    assert np.abs(got.astype(int) - np.asarray(ref).transpose(2, 0, 1)).mean() < 3


def test_small_images_are_upscaled(tmp_path):
    p = tmp_path / "x.png"
    Image.new("RGB", (10, 20), (10, 200, 30)).save(p)
    out = load_image(str(p), 64)
    assert out.shape == (3, 64, 64) and (out[:, 5, 5] == [10, 200, 30]).all()


def test_jpeg_draft_within_a_pixel_of_full_decode(tmp_path):
    yy, xx = np.mgrid[0:600, 0:800]
    a = np.stack([(xx * 0.3) % 256, (yy * 0.4) % 256, ((xx + yy) * 0.2) % 256], -1)
    a = (a + np.random.default_rng(0).normal(0, 4, a.shape)).clip(0, 255).astype(np.uint8)
    p = tmp_path / "big.jpg"
    Image.fromarray(a).save(p, quality=90)
    fast, full = load_image(str(p), 64, draft=True), load_image(str(p), 64, draft=False)
    assert np.abs(fast.astype(int) - full.astype(int)).mean() <= 1.0


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "LA", "1"])
def test_modes_convert_to_rgb(tmp_path, mode):
    base = Image.new("RGB", (12, 12), (200, 100, 50))
    if mode == "I;16":
        img = Image.fromarray(np.full((12, 12), 65535, dtype=np.uint16))
        path, want = tmp_path / "x.png", [255, 255, 255]
    elif mode == "CMYK":
        img, path, want = base.convert("CMYK"), tmp_path / "x.jpg", None
    else:
        img, path, want = base.convert(mode), tmp_path / "x.png", None
    img.save(path)
    out = load_image(str(path), 12)
    assert out.shape == (3, 12, 12) and out.dtype == np.uint8
    if want is not None:
        assert (out[:, 6, 6] == want).all()
    if mode in ("RGBA", "P", "CMYK"):
        assert np.abs(out[:, 6, 6].astype(int) - [200, 100, 50]).max() <= 12


def test_reused_when_unchanged_rebuilt_when_changed(tmp_path):
    write_folder(tmp_path / "src")
    events = []
    on = events.append
    a = open_dataset(str(tmp_path / "src"), image_size=16, workers=1, on_event=on)
    assert [type(e) for e in events].count(PackStarted) == 1
    events.clear()
    b = open_dataset(str(tmp_path / "src"), image_size=16, workers=1, on_event=on)
    assert events == [] and a.path == b.path
    Image.new("RGB", (16, 16)).save(tmp_path / "src" / "train" / "a" / "new.png")
    c = open_dataset(str(tmp_path / "src"), image_size=16, workers=1, on_event=on)
    kinds = {type(e): e for e in events}
    assert CacheRebuilt in kinds and PackStarted in kinds and c.num_train == 13
    assert "changed" in kinds[CacheRebuilt].reason


@pytest.mark.parametrize("damage", ["truncate", "edit_pixels", "edit_meta", "drop_meta",
                                    "truncate_labels"])
def test_damaged_cache_is_detected_and_rebuilt(tmp_path, damage):
    pixels = write_folder(tmp_path / "src", size=16, train=40)
    dst = str(tmp_path / "dst")
    pack_dataset(str(tmp_path / "src"), dst, image_size=16, workers=1)
    if damage == "truncate":
        with open(os.path.join(dst, "train.u8"), "r+b") as f:
            f.truncate(os.path.getsize(f.name) - 100)
    elif damage == "edit_pixels":
        with open(os.path.join(dst, "train.u8"), "r+b") as f:
            f.write(b"\xff" * 4096)
    elif damage == "edit_meta":
        meta = json.load(open(os.path.join(dst, "meta.json")))
        meta["counts"]["val"] = 3
        json.dump(meta, open(os.path.join(dst, "meta.json"), "w"))
    elif damage == "drop_meta":
        os.remove(os.path.join(dst, "meta.json"))
    else:
        with open(os.path.join(dst, "train_labels.npy"), "r+b") as f:
            f.truncate(40)
    if damage != "drop_meta":
        with pytest.raises(CacheInvalid):
            PackedData(dst)
    events = []
    def on(e):
        return events.append(type(e))
    ds = open_dataset(dst, on_event=on) if damage != "drop_meta" else pack_dataset(
        str(tmp_path / "src"), dst, image_size=16, workers=1, on_event=on)
    assert PackStarted in events and CacheRebuilt in events
    first = sorted(p for p in pixels if "/train/" in p)[0]
    assert np.array_equal(ds.train_images[0], pixels[first].transpose(2, 0, 1))
