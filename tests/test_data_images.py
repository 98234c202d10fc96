"""What ordinary photo collections hold: camera orientation, transparency, odd modes, animation,
formats Pillow cannot decode, clutter files, symlinks, nesting, odd names. Each small file is
made here; each kind is decoded as a viewer shows it or refused with its reason."""

import io
import os

import numpy as np
import pytest
from PIL import Image, features

from netdef.data import FilesIgnored, ImagesSkipped, list_folder, open_dataset
from netdef.data.decode import BadImage, load_image

RED, BLUE = (220, 20, 20), (20, 20, 220)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path / "cache"))


def upright(w=48, h=64):
    """Red top half, blue bottom half."""
    im = Image.new("RGB", (w, h), BLUE)
    im.paste(Image.new("RGB", (w, h // 2), RED), (0, 0))
    return im


def sideways_jpeg(path, orientation=6):
    """An upright picture stored rotated, with the EXIF tag that tells viewers to turn it back."""
    turn = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
            3: Image.Transpose.ROTATE_180}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    upright().transpose(turn).save(path, quality=95, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(tmp_path, orientation):
    path = tmp_path / "phone.jpg"
    sideways_jpeg(path, orientation)
    for draft in (True, False):
        img = load_image(str(path), 32, draft=draft)        # (3, 32, 32), upright
        top, bottom = img[:, 4].mean(axis=1), img[:, -4].mean(axis=1)
        assert top[0] > 150 and top[2] < 80, (orientation, draft, top)
        assert bottom[2] > 150 and bottom[0] < 80, (orientation, draft, bottom)


def test_exif_orientation_in_predict(tmp_path):
    """predict decodes a path and a PIL image the packer's way: upright."""
    from types import SimpleNamespace

    from netdef.evaluate.predict import decode_image

    path = tmp_path / "phone.jpg"
    sideways_jpeg(path, 6)
    model = SimpleNamespace(image_size=32, channels=3)
    for source in (str(path), Image.open(path)):
        img = decode_image(model, source)
        assert img[0, 2].mean() > 150 and img[0, -2].mean() < 80      # red on top


def test_transparency_is_composited_over_white(tmp_path):
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 0))          # fully transparent red
    rgba.paste((0, 0, 255, 255), (0, 0, 16, 8))                 # opaque blue top half
    rgba.save(tmp_path / "a.png")
    out = load_image(str(tmp_path / "a.png"), 16)
    assert (out[:, 2, 8] == [0, 0, 255]).all() and (out[:, 13, 8] == 255).all()
    la = Image.new("LA", (16, 16), (0, 0))                      # transparent black
    la.save(tmp_path / "la.png")
    assert (load_image(str(tmp_path / "la.png"), 16) == 255).all()
    pal = Image.new("P", (16, 16), 0)
    pal.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    pal.paste(1, (0, 0, 16, 8))
    pal.save(tmp_path / "p.png", transparency=0)
    out = load_image(str(tmp_path / "p.png"), 16)
    assert (out[:, 3, 3] == [10, 200, 10]).all() and (out[:, 12, 3] == 255).all()


def test_modes_and_formats_decode(tmp_path):
    base = Image.new("RGB", (20, 20), (200, 100, 50))
    base.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    base.save(tmp_path / "progressive.jpg", quality=95, progressive=True)
    Image.fromarray(np.full((20, 20), 40000, np.uint16)).save(tmp_path / "deep.png")
    base.convert("1").save(tmp_path / "bilevel.png")
    frames = [Image.new("RGB", (20, 20), c) for c in (RED, BLUE)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    base.save(tmp_path / "UPPER.JPG", quality=95)
    base.save(tmp_path / "multi.tiff", save_all=True, append_images=[Image.new("RGB", (20, 20))])
    want = {"cmyk.jpg": (200, 100, 50), "progressive.jpg": (200, 100, 50),
            "deep.png": (156, 156, 156), "anim.gif": RED, "UPPER.JPG": (200, 100, 50),
            "multi.tiff": (200, 100, 50)}
    for name, colour in want.items():
        out = load_image(str(tmp_path / name), 12)
        assert np.abs(out[:, 6, 6].astype(int) - colour).max() <= 14, (name, out[:, 6, 6])
    assert load_image(str(tmp_path / "bilevel.png"), 12).shape == (3, 12, 12)


@pytest.mark.parametrize("fmt", ["webp", "avif"])
def test_webp_and_avif_decode_when_pillow_can(tmp_path, fmt):
    if not features.check(fmt):
        pytest.skip(f"this Pillow has no {fmt} support")
    Image.new("RGB", (20, 20), (200, 100, 50)).save(tmp_path / f"x.{fmt}", quality=95)
    out = load_image(str(tmp_path / f"x.{fmt}"), 12)
    assert np.abs(out[:, 6, 6].astype(int) - [200, 100, 50]).max() <= 14


def test_undecodable_formats_are_refused_with_a_reason(tmp_path):
    (tmp_path / "IMG_0001.HEIC").write_bytes(b"\0\0\0\x18ftypheic" + b"\0" * 64)
    with pytest.raises(BadImage, match="a HEIC image, which Pillow cannot decode here; convert"):
        load_image(str(tmp_path / "IMG_0001.HEIC"), 16)
    (tmp_path / "x.jpg").write_bytes(b"%PDF-1.4 not an image")
    with pytest.raises(BadImage, match="not a readable image: Pillow cannot identify it"):
        load_image(str(tmp_path / "x.jpg"), 16)


def test_decompression_bomb_is_refused_and_a_large_photo_is_not(tmp_path, monkeypatch):
    """Past twice Pillow's MAX_IMAGE_PIXELS (its own refusal) an image is refused; between
    one and two times (where Pillow only warns: a 108-megapixel phone photo) it decodes."""
    Image.new("L", (300, 300)).save(tmp_path / "bomb.png")
    Image.new("L", (120, 120), 77).save(tmp_path / "large.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(BadImage, match="refused as a possible decompression bomb"):
        load_image(str(tmp_path / "bomb.png"), 16)
    assert (load_image(str(tmp_path / "large.png"), 16) == 77).all()


def photo_folder(root):
    """Two classes of small photos, with the clutter real folders collect."""
    for c, colour in (("cat", RED), ("dog", BLUE)):
        d = root / c
        (d / "2019" / "summer").mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (16, 16), colour).save(d / f"{i}.jpg", quality=95)
        Image.new("RGB", (16, 16), colour).save(d / "2019" / "summer" / "deep.JPG", quality=95)
        (d / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (d / "._0.jpg").write_bytes(b"\0\5\26\7AppleDouble")       # macOS resource fork
        (d / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
        (d / "desktop.ini").write_text("[.ShellClassInfo]")
    (root / "__MACOSX" / "cat").mkdir(parents=True)
    (root / "__MACOSX" / "cat" / "._0.jpg").write_bytes(b"\0\5\26\7")
    (root / "cat" / "notes.txt").write_text("taken in 2019")
    return root


def test_clutter_is_skipped_silently_and_other_files_are_reported(tmp_path):
    root = photo_folder(tmp_path / "photos")
    listing = list_folder(root)
    assert listing.classes == ["cat", "dog"] and listing.layout == "classes"
    paths = [p for p, _ in listing.train + listing.val]
    assert len(paths) == 12 and sum("deep.JPG" in p for p in paths) == 2    # nested, upper case
    assert listing.ignored == [str(root / "cat" / "notes.txt")]
    events = []
    ds = open_dataset(str(root), image_size=16, workers=1, on_event=events.append)
    assert ds.num_train + ds.num_val == 12
    assert not any(isinstance(e, ImagesSkipped) for e in events)
    assert [e.count for e in events if isinstance(e, FilesIgnored)] == [1]


def test_symlinked_class_folders_are_followed_once(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "owls"
    elsewhere.mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (16, 16), RED).save(elsewhere / f"{i}.png")
    root = photo_folder(tmp_path / "photos")
    os.symlink(elsewhere, root / "owl")                          # a class that lives elsewhere
    os.symlink(root / "cat", root / "cat" / "loop")              # a loop inside a class
    os.symlink(tmp_path / "nowhere.jpg", root / "dog" / "gone.jpg")   # a broken link
    listing = list_folder(root)
    assert listing.classes == ["cat", "dog", "owl"]
    paths = sorted(p for p, _ in listing.train + listing.val)
    assert sum("/owl/" in p for p in paths) == 4
    assert sum(os.path.basename(p) == "0.jpg" and "/cat/" in p for p in paths) == 1
    events = []
    ds = open_dataset(str(root), image_size=16, workers=1, max_bad=1, on_event=events.append)
    skipped = [e for e in events if isinstance(e, ImagesSkipped)]
    assert len(skipped) == 1 and "gone.jpg" in skipped[0].text and "cannot read" in skipped[0].text
    assert ds.num_train + ds.num_val == 16


def test_non_utf8_file_names(tmp_path):
    root = photo_folder(tmp_path / "photos")
    name = os.fsdecode(b"caf\xe9-\xff.png")                      # Latin-1 bytes, not UTF-8
    Image.new("RGB", (16, 16), RED).save(os.path.join(root, "cat", name))
    os.fsencode(os.path.join(root, "cat", name))
    bad = os.path.join(root, "dog", os.fsdecode(b"\xfe\xfe.jpg"))
    with open(bad, "wb") as f:
        f.write(b"broken")
    events = []
    ds = open_dataset(str(root), image_size=16, workers=1, max_bad=1, on_event=events.append)
    assert ds.num_train + ds.num_val == 13
    text = next(e for e in events if isinstance(e, ImagesSkipped)).text
    text.encode("utf-8")                                          # printable: no lone surrogates
    assert "\ufffd\ufffd.jpg" in text


def test_truncated_jpeg_is_refused(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        buf, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(BadImage, match="not a readable image"):
        load_image(str(tmp_path / "cut.jpg"), 16)
