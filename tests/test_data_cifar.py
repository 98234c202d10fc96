"""CIFAR-10/100 python batches: read through a restricted unpickler, packed with a carved
validation split and the test batch as the test split; malicious or damaged pickles refused."""

import os
import pickle

import numpy as np
import pytest

from netdef.data import open_dataset, pack_dataset
from netdef.data.cifar import safe_load
from netdef.errors import NetdefError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path / "cache"))


def dump(path, obj, numpy_core=True):
    """Pickle at protocol 2 as the CIFAR files are; ``numpy_core`` names the array rebuilder
    as numpy 1 did (numpy.core.multiarray), as in the files published in 2009."""
    data = pickle.dumps(obj, protocol=2)
    if numpy_core:
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.write_bytes(data)


def batch(rng, n, classes, key=b"labels"):
    labels = [int(k) % classes for k in range(n)]
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    data[:, 0] = np.array(labels) * 2                          # red of pixel (0, 0) = 2·label
    return {b"batch_label": b"training batch", key: labels, b"data": data,
            b"filenames": [f"img_{k}.png".encode() for k in range(n)]}


def write_cifar10(folder, per_batch=20, batches=5, test=10, names=None):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for b in range(1, batches + 1):
        dump(folder / f"data_batch_{b}", batch(rng, per_batch, 10))
    dump(folder / "test_batch", batch(rng, test, 10))
    names = names or [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                      b"horse", b"ship", b"truck"]
    dump(folder / "batches.meta", {b"label_names": names, b"num_cases_per_batch": per_batch,
                                   b"num_vis": 3072})
    return folder


def write_cifar100(folder, train=200, test=40):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", train), ("test", test)):
        b = batch(rng, n, 100, key=b"fine_labels")
        b[b"coarse_labels"] = [k % 20 for k in b[b"fine_labels"]]
        dump(folder / name, b, numpy_core=False)
    dump(folder / "meta", {b"fine_label_names": [f"fine{k}".encode() for k in range(100)],
                           b"coarse_label_names": [f"coarse{k}".encode() for k in range(20)]})
    return folder


def test_cifar10_packs_with_val_carved_and_the_test_batch(tmp_path):
    root = write_cifar10(tmp_path / "cifar-10-batches-py")
    ds = open_dataset(str(tmp_path), image_size=32)             # the folder above it works too
    assert ds.layout == "cifar-10" and ds.channels == 3
    assert (ds.num_train, ds.num_val, ds.num_test) == (90, 10, 10)
    assert ds.class_names[:3] == ["airplane", "automobile", "bird"]
    assert (ds.train_images[:, 0, 0, 0] == ds.train_labels * 2).all()
    assert (ds.images("test")[:, 0, 0, 0] == ds.labels("test") * 2).all()
    test = safe_load(str(root / "test_batch"))
    assert np.array_equal(ds.images("test")[:].reshape(10, -1), test["data"])


def test_cifar10_names_from_labels_txt_and_other_sizes(tmp_path):
    root = write_cifar10(tmp_path / "c")
    (root / "labels.txt").write_text("0 plane\n1 car\n")
    ds = pack_dataset(str(root), str(tmp_path / "p"), image_size=24, channels=1)
    assert ds.class_names[:3] == ["plane", "car", "bird"]
    assert ds.train_images.shape == (90, 1, 24, 24)


def test_cifar100_fine_and_coarse(tmp_path):
    root = write_cifar100(tmp_path / "cifar-100-python")
    fine = pack_dataset(str(root), str(tmp_path / "f"), image_size=32)
    coarse = pack_dataset(str(root), str(tmp_path / "c"), image_size=32, label_set="coarse")
    assert len(fine.classes) == 100 and fine.class_names[7] == "fine7"
    assert len(coarse.classes) == 20 and coarse.layout == "cifar-100 (coarse labels)"
    assert coarse.labels("test").tolist() == [k % 20 for k in range(40)]
    with pytest.raises(NetdefError, match="label-set = coarse applies to CIFAR-100"):
        pack_dataset(str(write_cifar10(tmp_path / "ten")), str(tmp_path / "x"), label_set="coarse")


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("payload,asks", [("system", "system"), ("eval", "eval"),
                                          ("nested", "system")])
def test_a_malicious_pickle_is_refused_before_it_runs(tmp_path, payload, asks):
    root = write_cifar10(tmp_path / "c")
    marker = tmp_path / "pwned"
    evil = {"system": _System(f"touch {marker}"), "eval": _Eval(),
            "nested": {b"data": [1, 2, {b"x": _System(f"touch {marker}")}]}}[payload]
    obj = batch(np.random.default_rng(0), 20, 10)
    obj[b"labels"] = evil
    dump(root / "data_batch_3", obj)
    with pytest.raises(NetdefError) as exc:
        pack_dataset(str(root), str(tmp_path / "p"), image_size=32)
    msg = str(exc.value)
    assert f"{root / 'data_batch_3'}: error: refused to load this pickle: it asks for" in msg
    assert asks in msg and "which CIFAR batches never hold" in msg
    assert not marker.exists() and not (tmp_path / "p").exists()


def test_codecs_encode_only_rebuilds_bytes(tmp_path):
    import codecs

    class Rot13:
        def __reduce__(self):
            return (codecs.encode, ("text", "rot13"))
    dump(tmp_path / "x", {b"a": Rot13()})
    with pytest.raises(NetdefError, match="calls _codecs.encode other than to rebuild bytes"):
        safe_load(str(tmp_path / "x"))


@pytest.mark.parametrize("damage,message", [
    ("shape", "'data' must be uint8 (N, 3072), 32×32 RGB images as rows (got uint8 (20, 3000))"),
    ("dtype", "'data' must be uint8 (N, 3072)"),
    ("counts", "20 images but 19 labels"),
    ("label", "label 10 of image 0 (counting from 0) is outside the 10 classes of the meta file"),
    ("truncated", "not a readable CIFAR batch (truncated or damaged"),
    ("not_dict", "not a CIFAR batch (holds a list, expected a dict)"),
    ("labels_type", "'labels' must be a list of integer labels"),
])
def test_bad_batches_are_named_and_nothing_is_written(tmp_path, damage, message):
    root = write_cifar10(tmp_path / "c")
    path = root / "data_batch_2"
    obj = batch(np.random.default_rng(0), 20, 10)
    if damage == "shape":
        obj[b"data"] = obj[b"data"][:, :3000]
    elif damage == "dtype":
        obj[b"data"] = obj[b"data"].astype(np.float32)
    elif damage == "counts":
        obj[b"labels"] = obj[b"labels"][:19]
    elif damage == "label":
        obj[b"labels"][0] = 10
    elif damage == "labels_type":
        obj[b"labels"] = [b"cat"] * 20
    if damage == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        dump(path, [obj] if damage == "not_dict" else obj)
    with pytest.raises(NetdefError) as exc:
        pack_dataset(str(root), str(tmp_path / "p"), image_size=32)
    assert f"{path}: " in str(exc.value) and message in str(exc.value)
    assert not (tmp_path / "p").exists() and not (tmp_path / ".p.partial").exists()
