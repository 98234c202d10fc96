"""Layouts told by structure, labels.txt and class-names, and packs that are written whole or
not at all (a temporary name renamed when complete)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from test_data_pack import write_folder

from netdef.data import (
    CacheRebuilt,
    DataNote,
    PackDone,
    PackProgress,
    PackStarted,
    list_folder,
    open_dataset,
    pack_dataset,
)
from netdef.errors import NetdefError

from conftest import cli_failed


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path / "cache"))


def class_folders(root, classes=("bicycle", "bus", "train"), count=10, nested=False):
    for k, c in enumerate(classes):
        d = root / c / ("2020" if nested else "")
        d.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("RGB", (16, 16), (40 * k, 200 - 9 * i, 30)).save(d / f"{c}_{i}.png")
    return root


def test_a_class_called_train_is_a_class(tmp_path):
    """One folder per class, one of them 'train' holding images: the class layout."""
    listing = list_folder(class_folders(tmp_path / "vehicles"))
    assert listing.layout == "classes" and listing.classes == ["bicycle", "bus", "train"]
    assert (len(listing.train), len(listing.val)) == (27, 3)
    ds = pack_dataset(str(tmp_path / "vehicles"), str(tmp_path / "pack"), image_size=16, workers=1)
    assert sorted(set(ds.val_labels.tolist())) == [0, 1, 2]


def test_train_and_val_classes_alone_are_classes(tmp_path):
    """Only 'train' and 'val' folders, holding images themselves: two classes, not splits."""
    listing = list_folder(class_folders(tmp_path / "x", classes=("train", "val"), count=10))
    assert listing.layout == "classes" and listing.classes == ["train", "val"]


def test_split_folders_with_a_test_split(tmp_path):
    write_folder(tmp_path / "src", train=6, val=2)
    for c in ("a", "b"):
        (tmp_path / "src" / "test" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (16, 16), (i, 9, 9)).save(tmp_path / "src" / "test" / c / f"{i}.png")
    ds = pack_dataset(str(tmp_path / "src"), str(tmp_path / "pack"), image_size=16, workers=1)
    assert (ds.num_train, ds.num_val, ds.num_test, ds.splits) == (
        12,
        4,
        6,
        ("train", "val", "test"),
    )
    assert ds.labels("test").tolist() == [0, 0, 0, 1, 1, 1]
    (tmp_path / "src" / "test" / "zebra").mkdir()
    with pytest.raises(NetdefError, match="test/zebra: class folder 'zebra' is not in"):
        list_folder(tmp_path / "src")


def test_asking_a_pack_without_one_for_its_test_split(tmp_path):
    write_folder(tmp_path / "src")
    ds = pack_dataset(str(tmp_path / "src"), str(tmp_path / "pack"), image_size=16, workers=1)
    with pytest.raises(NetdefError, match="the data has no test split"):
        ds.count("test")


# --- labels.txt and class-names -------------------------------------------------------------

def test_labels_txt_names_classes(tmp_path):
    root = class_folders(tmp_path / "v")
    (root / "labels.txt").write_text("# folder  readable name\nbus  a bus, coach\n\ntrain "
                                     "railway train\n")
    assert list_folder(root).class_names == ["bicycle", "a bus, coach", "railway train"]


def labels_txt_errors(tmp_path, text: str) -> tuple[str, object]:
    """The message listing a folder with this labels.txt raises, and the folder."""
    root = class_folders(tmp_path / "v")
    (root / "labels.txt").write_text(text)
    with pytest.raises(NetdefError) as exc:
        list_folder(root)
    return str(exc.value), root


def test_one_name_per_line_is_refused_with_located_errors(tmp_path):
    msg, root = labels_txt_errors(tmp_path, "Bicycle\nBus\nTrain\n")
    assert f"{root}/labels.txt:1:1: error: expected '<class folder> <readable name>' " \
           f"(got 'Bicycle' alone)" in msg
    assert f"{root}/labels.txt:3:1:" in msg
    assert "looks like one readable name per line" in msg and "'bicycle Bicycle'" in msg


def test_labels_txt_unknown_and_repeated_folders(tmp_path):
    msg, _ = labels_txt_errors(tmp_path, "bus Bus\nbuss Bus again\nbus Coach\n")
    assert "labels.txt:2:1: error: 'buss' is not a class folder of the data; did you mean " \
           "'bus'?" in msg
    assert "labels.txt:3:1: error: class folder 'bus' is named twice (first on line 1)" in msg
    assert "one readable name per line" not in msg


def test_editing_labels_txt_after_packing_takes_effect(tmp_path):
    root = class_folders(tmp_path / "v")
    (root / "labels.txt").write_text("bus Bus\n")
    first = open_dataset(str(root), image_size=16, workers=1)
    assert first.class_names == ["bicycle", "Bus", "train"]
    pixels = first.train_images[:].copy()
    (root / "labels.txt").write_text("bus Coach\ntrain Railway\n")
    events = []
    again = open_dataset(str(root), image_size=16, workers=1, on_event=events.append)
    assert again.path == first.path and again.class_names == ["bicycle", "Coach", "Railway"]
    assert [type(e) for e in events] == [DataNote] and "2 renamed" in events[0].text
    assert np.array_equal(again.train_images[:], pixels)            # not packed again


def test_class_names_key(tmp_path):
    root = class_folders(tmp_path / "v")
    ds = open_dataset(str(root), image_size=16, workers=1, class_names="Bike, Bus, Train")
    assert ds.class_names == ["Bike", "Bus", "Train"]
    with pytest.raises(NetdefError, match="'class-names' gives 2 names but .* has 3 classes"):
        open_dataset(str(root), image_size=16, workers=1, class_names="Bike, Bus")


# --- packs are whole or absent --------------------------------------------------------------

class Interrupt(BaseException):
    pass


def test_a_pack_interrupted_half_way_leaves_nothing(tmp_path):
    write_folder(tmp_path / "src", train=40, val=4)
    dst = tmp_path / "pack"

    def stop_half_way(event):
        if isinstance(event, PackProgress) and event.done >= event.total // 2:
            raise Interrupt
    with pytest.raises(Interrupt):
        pack_dataset(str(tmp_path / "src"), str(dst), image_size=16, workers=1,
                on_event=stop_half_way)
    assert not dst.exists() and not (tmp_path / ".pack.partial").exists()
    events = []
    ds = pack_dataset(str(tmp_path / "src"), str(dst), image_size=16, workers=1,
                 on_event=events.append)
    kinds = [type(e) for e in events]
    assert CacheRebuilt not in kinds and PackStarted in kinds and PackDone in kinds
    assert ds.num_train == 80


def test_a_killed_pack_leaves_no_damaged_pack(tmp_path):
    """A packing process killed (SIGKILL) half-way: the next run packs afresh, calling
    nothing damaged, and clears the killed run's staging folder."""
    write_folder(tmp_path / "src", train=60, val=4)
    dst = tmp_path / "pack"
    script = textwrap.dedent(f"""
        import os, signal
        from netdef.data import PackProgress, pack_dataset
        def kill(e):
            if isinstance(e, PackProgress) and e.done >= e.total // 2:
                os.kill(os.getpid(), signal.SIGKILL)
        pack_dataset({str(tmp_path / 'src')!r}, {str(dst)!r}, image_size=16, workers=1,
                     on_event=kill)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert run.returncode == -9, run.stderr.decode()
    assert not dst.exists() and (tmp_path / ".pack.partial").exists()
    events = []
    pack_dataset(str(tmp_path / "src"), str(dst), image_size=16, workers=1, on_event=events.append)
    assert not any(isinstance(e, CacheRebuilt) for e in events)
    assert not (tmp_path / ".pack.partial").exists() and (dst / "meta.json").exists()


def test_a_failed_pack_keeps_the_previous_pack(tmp_path):
    """Packing fails (too many bad images): the pack made before is still there and valid."""
    write_folder(tmp_path / "src", train=10, val=2)
    dst = tmp_path / "pack"
    before = pack_dataset(str(tmp_path / "src"), str(dst), image_size=16, workers=1)
    for i in range(3):
        (tmp_path / "src" / "train" / "a" / f"bad{i}.png").write_bytes(b"nope")
    with pytest.raises(NetdefError, match="3 of 27 images cannot be decoded"):
        pack_dataset(str(tmp_path / "src"), str(dst), image_size=16, workers=1)
    from netdef.data import PackedData

    assert PackedData(dst).fingerprint == before.fingerprint


def test_a_destination_holding_other_files_is_refused(tmp_path):
    write_folder(tmp_path / "src")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.tex").write_text("precious")
    with pytest.raises(NetdefError, match="holds files that are not a netdef pack's "
                                          r"\(thesis.tex\)"):
        pack_dataset(str(tmp_path / "src"), str(tmp_path / "docs"), image_size=16, workers=1)
    assert (tmp_path / "docs" / "thesis.tex").read_text() == "precious"


def test_an_older_pack_is_packed_again_saying_why(tmp_path):
    write_folder(tmp_path / "src")
    dst = tmp_path / "pack"
    pack_dataset(str(tmp_path / "src"), str(dst), image_size=16, workers=1)
    meta = json.loads((dst / "meta.json").read_text())
    meta["format"] = "netdef-packed-1"
    (dst / "meta.json").write_text(json.dumps(meta))
    events = []
    pack_dataset(str(tmp_path / "src"), str(dst), image_size=16, workers=1, on_event=events.append)
    rebuilt = [e for e in events if isinstance(e, CacheRebuilt)]
    assert len(rebuilt) == 1 and "packed by another version of netdef" in rebuilt[0].reason


# --- the max-bad rule -----------------------------------------------------------------------

@pytest.mark.parametrize("limit,ok", [("2", True), ("1", False), ("10%", True), ("5%", False),
                                      ("0", False)])
def test_max_bad_as_a_count_or_a_percentage(tmp_path, limit, ok):
    write_folder(tmp_path / "src", train=9, val=1)           # 20 images, 2 of them bad
    for name in ("x.png", "y.png"):
        (tmp_path / "src" / "train" / "a" / name).write_bytes(b"nope")
    if ok:
        ds = pack_dataset(str(tmp_path / "src"), str(tmp_path / "p"), image_size=16, workers=1,
                     max_bad=limit)
        assert ds.num_train == 18 and ds.meta["skipped"]["count"] == 2
    else:
        with pytest.raises(NetdefError, match="2 of 22 images cannot be decoded"):
            pack_dataset(str(tmp_path / "src"), str(tmp_path / "p"), image_size=16, workers=1,
                    max_bad=limit)


def test_prep_reports_skips_as_one_clear_message_never_then_fails(tmp_path):
    from netdef.cli import cli  # the group: its boundary turns NetdefError into exit 1

    write_folder(tmp_path / "src", train=50, val=1)
    (tmp_path / "src" / "train" / "a" / "bad.png").write_bytes(b"nope")
    runner = CliRunner()
    fail = runner.invoke(cli, ["prep", str(tmp_path / "src"), str(tmp_path / "p"),
                               "--image-size", "16", "--workers", "1", "--max-bad", "0"])
    cli_failed(fail, "1 of 103 images cannot be decoded", "max-bad allows at most 0 images")
    assert "skipped" not in fail.output
    assert not (tmp_path / "p").exists()
    ok = runner.invoke(cli, ["prep", str(tmp_path / "src"), str(tmp_path / "p"),
                             "--image-size", "16", "--workers", "1"])
    assert ok.exit_code == 0, ok.output
    assert "skipped 1 of 103 images that cannot be decoded (allowed: at most 1% of the images; " \
           "see max-bad)" in ok.output
    assert "bad.png: not a readable image" in ok.output and "{" not in ok.output


def test_prep_takes_image_size_from_an_experiment_and_says_so(tmp_path):
    from netdef.cli import cli  # the group: its boundary turns NetdefError into exit 1

    write_folder(tmp_path / "src", size=24)
    exp = tmp_path / "exp.cfg"
    exp.write_text("[train]\nlayers = net.cfg\ndata = src\nimage-size = 20\nchannels = 1\n")
    out = CliRunner().invoke(cli, ["prep", str(exp), "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert f"image-size 20 (from {exp})" in out.output and f"channels 1 (from {exp})" in out.output
    assert "2 classes, 12 train, 4 val images of 1×20×20 (set by channels = 1)" in out.output
    again = CliRunner().invoke(cli, ["prep", str(exp), "--workers", "1", "--image-size", "16"])
    assert "image-size 16 (--image-size)" in again.output and "of 1×16×16" in again.output
    plain = CliRunner().invoke(cli, ["prep", str(tmp_path / "src"), str(tmp_path / "p"),
                                     "--workers", "1"])
    assert "image-size 256 (the default" in plain.output


def test_prep_bad_max_bad_is_a_clear_error(tmp_path):
    from netdef.cli import cli  # the group: its boundary turns NetdefError into exit 1

    write_folder(tmp_path / "src")
    out = CliRunner().invoke(cli, ["prep", str(tmp_path / "src"), "--max-bad", "0.01"])
    cli_failed(out, "a fraction is written as a percentage, e.g. 1%")


def test_a_symlinked_destination_is_packed_where_it_points(tmp_path):
    write_folder(tmp_path / "src")
    (tmp_path / "big").mkdir()
    os.symlink(tmp_path / "big", tmp_path / "link")
    pack_dataset(str(tmp_path / "src"), str(tmp_path / "link"), image_size=16, workers=1)
    write_folder(tmp_path / "src", train=7)                  # changed: packed again
    ds = pack_dataset(str(tmp_path / "src"), str(tmp_path / "link"), image_size=16, workers=1)
    assert os.path.islink(tmp_path / "link") and ds.num_train == 14
    assert (tmp_path / "big" / "meta.json").exists()
