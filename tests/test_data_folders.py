"""Image folders (docs/design.md §3): the three layouts, labels.txt, every kind of bad data."""

import os

import numpy as np
import pytest
from PIL import Image
from test_data_pack import write_folder

from netdef.data import FilesIgnored, ImagesSkipped, list_folder, open_dataset, pack_dataset
from netdef.errors import NetdefError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path / "cache"))


def image(path, size=(16, 16), colour=(1, 2, 3)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_imagenet_layout_and_labels(tmp_path):
    write_folder(tmp_path, classes=("n01", "n02"), train=3, val=2)
    (tmp_path / "labels.txt").write_text("n01 tench, Tinca tinca\nn02 goldfish\n")
    listing = list_folder(tmp_path)
    assert listing.layout == "imagenet" and listing.classes == ["n01", "n02"]
    assert listing.class_names == ["tench, Tinca tinca", "goldfish"]
    assert len(listing.train) == 6 and len(listing.val) == 4


def test_flat_val_with_val_txt(tmp_path):
    write_folder(tmp_path, classes=("x", "y"), train=2, val=0)
    image(tmp_path / "val" / "v1.jpg")
    image(tmp_path / "val" / "v2.jpg")
    (tmp_path / "val.txt").write_text("v1.jpg y\nv2.jpg x\n")
    listing = list_folder(tmp_path)
    assert listing.layout == "val.txt"
    assert [(os.path.basename(p), k) for p, k in listing.val] == [("v1.jpg", 1), ("v2.jpg", 0)]


def test_val_txt_unknown_class_is_located(tmp_path):
    write_folder(tmp_path, classes=("x",), train=2, val=0)
    image(tmp_path / "val" / "v1.jpg")
    (tmp_path / "val.txt").write_text("v1.jpg zebra\n")
    with pytest.raises(NetdefError, match=r"val\.txt:1:1: error: class 'zebra'"):
        list_folder(tmp_path)


def test_class_folders_with_seeded_holdout(tmp_path):
    for c in ("cat", "dog"):
        for i in range(20):
            image(tmp_path / c / f"{i}.png")
    a, b = list_folder(tmp_path, seed=1), list_folder(tmp_path, seed=1)
    assert a.layout == "classes" and a.val == b.val
    assert len(a.val) == 4 and {k for _, k in a.val} == {0, 1}
    assert not set(a.val) & set(a.train)
    assert list_folder(tmp_path, seed=2).val != a.val


def test_missing_folder(tmp_path):
    with pytest.raises(NetdefError, match=f"{tmp_path}/nope: error: data folder does not exist"):
        open_dataset(str(tmp_path / "nope"))


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NetdefError, match=f"{tmp_path}/empty: error: no class folders"):
        open_dataset(str(tmp_path / "empty"))


def test_class_folder_with_no_images(tmp_path):
    write_folder(tmp_path, classes=("a",))
    (tmp_path / "train" / "b").mkdir()
    (tmp_path / "train" / "b" / "notes.txt").write_text("hi")
    with pytest.raises(NetdefError, match=r"train/b: class folder 'b' holds no images"):
        list_folder(tmp_path)


def test_no_val_split(tmp_path):
    write_folder(tmp_path, val=0, train=10)
    os.rmdir(tmp_path / "val" / "a"), os.rmdir(tmp_path / "val" / "b")
    with pytest.raises(NetdefError, match=f"{tmp_path}/val: error: no 'val' split"):
        list_folder(tmp_path)                   # an empty val/ is a mistake, said so
    os.rmdir(tmp_path / "val")                  # no val/ at all: held out from train/
    listing = list_folder(tmp_path, seed=3)
    assert listing.layout == "held-out" and (len(listing.train), len(listing.val)) == (18, 2)
    assert sorted(label for _, label in listing.val) == [0, 1]


def _bad_files(tmp_path):
    """One of each kind of bad image in train/a of a folder of 500 good ones."""
    d = tmp_path / "src" / "train" / "a"
    good = Image.new("RGB", (16, 16), (9, 9, 9))
    for i in range(250):
        for split in ("train", "val"):
            p = tmp_path / "src" / split / ("a" if i % 2 else "b") / f"{i:03d}.png"
            os.makedirs(p.parent, exist_ok=True)
            good.save(p)
    buf = tmp_path / "ok.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buf)
    data = buf.read_bytes()
    bad = {
        "truncated.jpg": data[: len(data) // 2],
        "corrupt.jpg": data[:20] + b"\x00" * 50 + b"garbage" * 30,
        "text.png": b"this is not a png",
        "zero.jpg": b"",
    }
    for name, content in bad.items():
        (d / name).write_bytes(content)
    os.symlink(d / "loop.jpg", d / "loop.jpg")
    image(d / "tiny.png", size=(1, 1))
    (d / "README.md").write_text("not an image, and not an image extension")
    return d, sorted(list(bad) + ["loop.jpg", "tiny.png"])


def test_bad_images_are_skipped_counted_and_shown(tmp_path):
    d, names = _bad_files(tmp_path)
    events = []
    ds = open_dataset(str(tmp_path / "src"), image_size=16, workers=1, max_bad="5%",
                      on_event=events.append)
    skipped = next(e for e in events if isinstance(e, ImagesSkipped))
    assert skipped.count == len(names) and len(skipped.examples) == 5
    assert all(p.startswith(str(d)) for p, _ in skipped.examples)
    assert ds.num_train == 250 and ds.meta["skipped"]["count"] == len(names)
    ignored = next(e for e in events if isinstance(e, FilesIgnored))
    assert ignored.examples == (str(d / "README.md"),)
    assert "skipped 6 of 506 images that cannot be decoded (allowed: at most 5% of the " \
           "images; see max-bad)" in skipped.text
    reasons = skipped.text
    assert "loop.jpg: cannot read (Too many levels of symbolic links)" in reasons
    assert "truncated.jpg: not a readable image" in reasons and "tiny.png: too small" in reasons
    assert ds.channels == 1                     # every readable image is grey (9, 9, 9)
    assert all(np.array_equal(ds.train_images[k], np.full((1, 16, 16), 9)) for k in (0, 150, 249))


def test_too_many_bad_images_stop_the_run(tmp_path):
    d, names = _bad_files(tmp_path)
    with pytest.raises(NetdefError) as exc:
        open_dataset(str(tmp_path / "src"), image_size=16, workers=1)
    msg = str(exc.value)
    assert f"{len(names)} of 506 images cannot be decoded (1.2%); max-bad allows at most 1% " \
           f"of the images" in msg and "max-bad = 6" in msg
    assert str(d / "corrupt.jpg") in msg


def test_each_bad_kind_names_its_path(tmp_path):
    d, names = _bad_files(tmp_path)
    from netdef.data.decode import BadImage, load_image

    for name in names:
        with pytest.raises(BadImage):
            load_image(str(d / name), 16)
    with pytest.raises(BadImage, match=r"too small \(1×1"):
        load_image(str(d / "tiny.png"), 16)


def test_unreadable_file(tmp_path, monkeypatch):
    write_folder(tmp_path / "src", train=60, val=2)
    p = tmp_path / "src" / "train" / "a" / "000.png"
    p.chmod(0)
    if os.geteuid() == 0:                      # root reads anything: simulate the refusal
        import builtins

        real_open = builtins.open

        def fake_open(path, *a, **k):
            if str(path) == str(p):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *a, **k)

        monkeypatch.setattr(builtins, "open", fake_open)
    events = []
    ds = pack_dataset(str(tmp_path / "src"), str(tmp_path / "dst"), image_size=16, workers=1,
                 on_event=events.append)
    assert ds.num_train == 119
    skipped = next(e for e in events if isinstance(e, ImagesSkipped))
    assert skipped.examples == ((str(p), "cannot read (Permission denied)"),)
