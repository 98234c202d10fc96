"""MNIST-format (IDX) data: recognised by name, packed as 1 channel with a carved validation
split and the official test split; every bad file gets a located message and no pack."""

import gzip
import os
import struct

import numpy as np
import pytest

from netdef.data import open_dataset, pack_dataset
from netdef.data.idx import find_idx, read_idx
from netdef.errors import NetdefError

FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path / "cache"))


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: 00 00 08 D, D big-endian sizes, the values."""
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) \
        + array.astype(np.uint8).tobytes()


def write_idx(folder, train=40, test=12, side=12, gz=True, prefix="", classes=10, seed=0,
              sep="-"):
    """A small IDX set; returns {split: (images (N, H, W), labels (N,))}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, name, n in (("train", "train", train), ("test", "t10k", test)):
        labels = np.arange(n) % classes
        images = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
        images[:, 0, 0] = labels * 20                       # the label, visible in a pixel
        for kind, arr, nd in (("images", images, 3), ("labels", labels, 1)):
            path = folder / f"{prefix}{name}-{kind}{sep}idx{nd}-ubyte{'.gz' if gz else ''}"
            data = idx_bytes(arr)
            path.write_bytes(gzip.compress(data) if gz else data)
        out[split] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_packs_as_one_channel_with_val_and_test(tmp_path, gz):
    arrays = write_idx(tmp_path / "mnist", gz=gz)
    ds = pack_dataset(str(tmp_path / "mnist"), str(tmp_path / "pack"), image_size=12)
    assert ds.channels == 1 and ds.layout == "idx" and ds.splits == ("train", "val", "test")
    assert (ds.num_train, ds.num_val, ds.num_test) == (30, 10, 12)   # 1 of each class's 4
    assert ds.classes == [str(k) for k in range(10)] and ds.class_names == ds.classes
    images, labels = arrays["test"]
    assert np.array_equal(ds.images("test")[:, 0], images)
    assert ds.labels("test").tolist() == labels.tolist()
    train, val = ds.train_images[:, 0, 0, 0], ds.val_images[:, 0, 0, 0]
    assert (train == ds.train_labels * 20).all() and (val == ds.val_labels * 20).all()
    assert sorted(ds.val_labels.tolist()) == list(range(10)) and ds.mean.shape == (1, 12, 12)
    everything = np.concatenate([ds.train_images[:, 0], ds.val_images[:, 0]])
    assert sorted(map(bytes, everything)) == sorted(map(bytes, arrays["train"][0]))


def test_the_validation_split_is_seeded(tmp_path):
    write_idx(tmp_path / "m", train=200)
    a = pack_dataset(str(tmp_path / "m"), str(tmp_path / "a"), image_size=12, seed=1)
    b = pack_dataset(str(tmp_path / "m"), str(tmp_path / "b"), image_size=12, seed=1)
    c = pack_dataset(str(tmp_path / "m"), str(tmp_path / "c"), image_size=12, seed=2,
                val_fraction=0.25)
    assert np.array_equal(a.val_images[:], b.val_images[:])
    assert c.num_val == 50 and not np.array_equal(a.val_images[:], c.val_images[:20])


def test_resized_and_three_channels_on_request(tmp_path):
    write_idx(tmp_path / "m")
    ds = pack_dataset(str(tmp_path / "m"), str(tmp_path / "p"), image_size=24, channels=3)
    assert ds.images("test").shape == (12, 3, 24, 24) and ds.eigval.shape == (3,)
    assert (ds.images("test")[:, 0] == ds.images("test")[:, 2]).all()


def test_a_file_named_explicitly_picks_one_of_several_sets(tmp_path):
    write_idx(tmp_path / "emnist", prefix="emnist-letters-", classes=26, side=10)
    write_idx(tmp_path / "emnist", prefix="emnist-digits-", side=10, seed=1)
    with pytest.raises(NetdefError, match="holds 2 IDX sets; name one of their training image "
                                          "files"):
        find_idx(str(tmp_path / "emnist"))
    path = tmp_path / "emnist" / "emnist-letters-train-images-idx3-ubyte.gz"
    ds = open_dataset(str(path), image_size=10)
    assert len(ds.classes) == 26 and ds.num_test == 12


def test_emnist_images_are_transposed_back(tmp_path):
    arrays = write_idx(tmp_path / "e", prefix="emnist-balanced-", side=10)
    ds = pack_dataset(str(tmp_path / "e" / "emnist-balanced-train-images-idx3-ubyte.gz"),
                 str(tmp_path / "p"), image_size=10)
    assert np.array_equal(ds.images("test")[:, 0], arrays["test"][0].transpose(0, 2, 1))


def test_dotted_names_as_some_mirrors_write_them(tmp_path):
    write_idx(tmp_path / "m", sep=".", gz=False)
    assert find_idx(str(tmp_path / "m")).images["train"].endswith("train-images.idx3-ubyte")


def test_class_names_from_labels_txt_or_the_experiment(tmp_path):
    write_idx(tmp_path / "m", classes=3)
    (tmp_path / "m" / "labels.txt").write_text("0 T-shirt/top\n1 Trouser\n")
    ds = pack_dataset(str(tmp_path / "m"), str(tmp_path / "p"), image_size=12)
    assert ds.class_names[:3] == ["T-shirt/top", "Trouser", "2"] and len(ds.classes) == 10
    ds = pack_dataset(str(tmp_path / "m"), str(tmp_path / "q"), image_size=12,
                 class_names="top, trouser, pullover")
    assert ds.class_names == ["top", "trouser", "pullover"]
    (tmp_path / "m" / "labels.txt").write_text("T-shirt/top\nTrouser\nPullover\n")
    with pytest.raises(NetdefError, match=r"labels.txt:1:1: error: expected '<label> <readable "
                                          r"name>' \(got 'T-shirt/top' alone\)"):
        pack_dataset(str(tmp_path / "m"), str(tmp_path / "r"), image_size=12)


def test_classes_without_training_images_are_noted(tmp_path):
    write_idx(tmp_path / "m", classes=4)
    events = []
    pack_dataset(str(tmp_path / "m"), str(tmp_path / "p"), image_size=12, on_event=events.append)
    notes = [e.text for e in events if type(e).__name__ == "DataNote"]
    assert notes and "6 of the 10 classes have no training image (4, 5, 6, 7, 8, 9)" in notes[0]


# --- bad files ------------------------------------------------------------------------------

def set_byte(path, index: int, value: int) -> None:
    """Byte ``index`` of the gzipped file's uncompressed content becomes ``value``."""
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[index] = value
    path.write_bytes(gzip.compress(bytes(data)))


def bad_set(tmp_path, damage):
    write_idx(tmp_path / "m", gz=damage != "extra")
    f = tmp_path / "m"
    images, labels = f / "train-images-idx3-ubyte.gz", f / "train-labels-idx1-ubyte.gz"
    if damage == "magic":
        set_byte(images, 3, 1)
        return f"{images}: error: 1 dimensions; expected 3 for images"
    if damage == "not_idx":
        images.write_bytes(gzip.compress(b"GIF89a" + b"\0" * 40))
        return (f"{images}: error: not an IDX file (its magic number is 47 49 46 38, "
                f"expected 00 00 08 03)")
    if damage == "type":
        set_byte(labels, 2, 0x0D)
        return f"{labels}: error: IDX values of type 0x0d; netdef reads unsigned bytes"
    if damage == "counts":
        labels.write_bytes(gzip.compress(idx_bytes(np.zeros(39, np.uint8))))
        return f"{images}: error: 40 images but {labels} has 39 labels"
    if damage == "truncated_gzip":
        data = images.read_bytes()
        images.write_bytes(data[: len(data) // 2])
        return f"{images}: error: the gzip data is truncated"
    if damage == "short":
        data = gzip.decompress(images.read_bytes())
        images.write_bytes(gzip.compress(data[:-10]))
        return (f"{images}: error: truncated: its header says 40 × 12 × 12 values (5,760 bytes) "
                f"but 5,750 bytes follow")
    if damage == "extra":
        plain = f / "train-images-idx3-ubyte"
        plain.write_bytes(plain.read_bytes() + b"\0\0")
        return f"{plain}: error: longer than its header says"
    if damage == "label":
        labels.write_bytes(gzip.compress(idx_bytes(np.r_[np.zeros(39), 12].astype(np.uint8))))
        return f"{labels}: error: label 12 of image 39 is outside the 10 classes of class-names"
    if damage == "no_labels":
        labels.unlink()
        return (f"{images}: error: no matching train labels file beside it (looked for "
                f"train-labels-idx1-ubyte or train-labels-idx1-ubyte.gz)")
    raise AssertionError(damage)


@pytest.mark.parametrize("damage", ["magic", "not_idx", "type", "counts", "truncated_gzip",
                                    "short", "extra", "label", "no_labels"])
def test_bad_idx_files_are_named_and_nothing_is_written(tmp_path, damage):
    message = bad_set(tmp_path, damage)
    names = "0,1,2,3,4,5,6,7,8,9" if damage == "label" else None
    with pytest.raises(NetdefError) as exc:
        pack_dataset(str(tmp_path / "m"), str(tmp_path / "pack"), image_size=12, class_names=names)
    assert message in str(exc.value)
    assert "Traceback" not in str(exc.value)
    assert not (tmp_path / "pack").exists() and not (tmp_path / ".pack.partial").exists()


def test_read_idx_round_trip(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "x").write_bytes(idx_bytes(a))
    assert np.array_equal(read_idx(str(tmp_path / "x"), 3), a)


@pytest.mark.realdata
def test_fashion_mnist_trains_a_few_batches(tmp_path):
    """The real Fashion-MNIST (Debian's dataset-fashion-mnist) packs to 54,000 / 6,000 /
    10,000 grey 28×28 images and a small net trains on it."""
    if not os.path.isfile(os.path.join(FASHION, "train-images-idx3-ubyte.gz")):
        pytest.skip(f"{FASHION} is not installed (apt-get install dataset-fashion-mnist)")
    import torch

    from netdef.data import train_loader, val_loader

    ds = open_dataset(FASHION, image_size=28)
    assert (ds.num_train, ds.num_val, ds.num_test, ds.channels) == (54000, 6000, 10000, 1)
    assert np.bincount(ds.labels("test")).tolist() == [1000] * 10
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 5, stride=2), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(16 * 10 * 10, 10))
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9)
    losses = []
    for step, (x, y) in enumerate(train_loader(ds, 128, 24, seed=0, workers=0)):
        assert x.shape == (128, 1, 24, 24)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step == 60:
            break
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    x, y = next(iter(val_loader(ds, 256, 24, workers=0, split="test")))
    assert x.shape == (256, 1, 24, 24)


def test_train_on_idx_then_eval_the_test_split(tmp_path):
    """The net is chosen on val (carved from the training files); the test files are scored
    only when asked: ``netdef eval --split test``."""
    import json

    from click.testing import CliRunner

    from netdef.cli import cli

    from trainnets import TINY_PARAMS, tiny_net

    write_idx(tmp_path / "m", train=80, test=12, side=12)
    (tmp_path / "grey.cfg").write_text(tiny_net(10).replace("channels=3", "channels=1"))
    (tmp_path / "grey-params.cfg").write_text(TINY_PARAMS)
    (tmp_path / "exp.cfg").write_text(
        "[train]\nlayers = grey.cfg\ndata = m\nimage-size = 12\ninner-size = 10\n"
        "batch-size = 8\nepochs = 1\ndevices = cpu\nworkers = 0\nsave = run\n"
        "class-names = zero, one, two, three, four, five, six, seven, eight, nine\n")
    runner = CliRunner()
    trained = runner.invoke(cli, ["train", str(tmp_path / "exp.cfg")])
    assert trained.exit_code == 0, trained.output
    ckpt = str(tmp_path / "run" / "ckpt.pt")
    val = json.loads(runner.invoke(cli, ["eval", "--model", ckpt, "--json"]).output)
    test = runner.invoke(cli, ["eval", "--model", ckpt, "--split", "test", "--crops", "10"])
    assert val["images"] == 10 and val["split"] == "val"
    assert test.exit_code == 0 and "12 test images of" in test.output, test.output
