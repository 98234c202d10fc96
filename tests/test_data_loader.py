"""Loaders (docs/design.md §3, §8): determinism, ranks, resume, workers, views, builtin:shapes,
prep."""

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_data_pack import write_folder

from netdef.data import augment, open_dataset, pack_dataset, train_loader, val_loader


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def ds(tmp_path):
    write_folder(tmp_path / "src", classes=("a", "b", "c"), train=10, val=3, size=20)
    return pack_dataset(str(tmp_path / "src"), str(tmp_path / "dst"), image_size=20, workers=1)


def batches(loader):
    return [(x.clone(), y.clone()) for x, y in loader]


def test_same_seed_epoch_same_batches(ds):
    a = batches(train_loader(ds, 8, 16, seed=3, epoch=1, workers=0))
    b = batches(train_loader(ds, 8, 16, seed=3, epoch=1, workers=2))
    assert len(a) == 3 == len(train_loader(ds, 8, 16))
    assert all(
        torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b, strict=True)
    )
    c = batches(train_loader(ds, 8, 16, seed=3, epoch=2, workers=0))
    assert not torch.equal(a[0][0], c[0][0])
    assert a[0][0].shape == (8, 3, 16, 16) and a[0][0].dtype == torch.float32
    assert a[0][1].dtype == torch.int64


def test_batch_is_the_augmented_images(ds):
    loader = train_loader(ds, 8, 16, color_noise=0.1, seed=5, epoch=0, workers=0)
    x, y = next(iter(loader))
    order = loader.sampler.order()[:8]
    p = augment.train_params(5, 0, order, image_size=20, inner_size=16, color_noise=0.1,
                             eigval=ds.eigval, eigvec=ds.eigvec)
    raw = torch.from_numpy(np.array(ds.train_images[order]))
    want = augment.augment_train(raw, p, augment.mean_crop(ds.mean, 16), 16)
    assert torch.equal(x, want) and torch.equal(y, torch.from_numpy(ds.train_labels[order]))


def test_resume_mid_epoch(ds):
    full = batches(train_loader(ds, 8, 16, seed=1, epoch=4, workers=0))
    rest = batches(train_loader(ds, 8, 16, seed=1, epoch=4, start_batch=2, workers=0))
    assert len(rest) == 1 and torch.equal(rest[0][0], full[2][0])


def test_a_run_of_epochs_through_one_set_of_workers_is_the_epochs_one_by_one(ds):
    """train_loader(epochs=E): the workers start once per run, and the batches are exactly
    those of E one-epoch loaders (the first from start_batch)."""
    one_by_one = batches(train_loader(ds, 8, 16, seed=4, epoch=1, start_batch=1, workers=0))
    for e in (2, 3):
        one_by_one += batches(train_loader(ds, 8, 16, seed=4, epoch=e, workers=0))
    run = train_loader(ds, 8, 16, seed=4, epoch=1, start_batch=1, workers=2, epochs=3)
    assert len(run) == 2 + 3 + 3 and run.batches_per_epoch == 3
    together = batches(run)
    assert len(together) == len(one_by_one)
    assert all(torch.equal(x1, x2) and torch.equal(y1, y2)
               for (x1, y1), (x2, y2) in zip(one_by_one, together, strict=True))


def test_persistent_val_loader_repeats_itself(ds):
    loader = val_loader(ds, 4, 16, workers=2, persistent=True)
    first, again = batches(loader), batches(loader)
    assert loader.loader.persistent_workers
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(first, again, strict=True))


def test_ranks_split_each_global_batch(ds):
    single = batches(train_loader(ds, 8, 16, seed=2, workers=0))
    r0 = batches(train_loader(ds, 8, 16, seed=2, rank=0, world=2, workers=0))
    r1 = batches(train_loader(ds, 8, 16, seed=2, rank=1, world=2, workers=0))
    for (x, y), (x0, y0), (x1, y1) in zip(single, r0, r1, strict=True):
        assert torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y)


def test_drop_last_false_keeps_the_tail(ds):
    assert sum(len(y) for _, y in train_loader(ds, 8, 16, workers=0, drop_last=False)) == 30


def test_val_loader_centre_and_ten_views(ds):
    one = batches(val_loader(ds, 4, 16, workers=0))
    assert [len(y) for _, y in one] == [4, 4, 1]
    mean_c = augment.mean_crop(ds.mean, 16)
    raw = torch.from_numpy(np.array(ds.val_images[:4]))
    assert torch.equal(one[0][0], augment.center_crop(raw, 16).float() - mean_c)
    ten = batches(val_loader(ds, 4, 16, crops=10, workers=2))
    assert ten[0][0].shape == (4, 10, 3, 16, 16)
    assert torch.equal(ten[0][0][:, 4], one[0][0])
    mirrored = augment.center_crop(raw, 16).flip(-1).float() - mean_c   # the mean is not mirrored
    assert torch.equal(ten[0][0][:, 9], mirrored)


def test_bad_loader_arguments(ds):
    from netdef.errors import NetdefError

    with pytest.raises(NetdefError, match="inner-size 32 must be in 1..image-size"):
        train_loader(ds, 8, 32)
    with pytest.raises(NetdefError, match="crops must be 1 or 10"):
        val_loader(ds, 8, 16, crops=5)


def test_builtin_shapes_small(tmp_path):
    events = []
    ds = open_dataset("builtin:shapes?classes=3&train=6&val=2", image_size=32, workers=1,
                      on_event=lambda e: events.append(type(e).__name__))
    assert ds.num_train == 18 and ds.num_val == 6 and len(ds.classes) == 3
    assert ds.class_names == ["red disc", "blue disc", "red cross"]
    assert str(tmp_path / "cache" / "packed") in ds.path and "PackDone" in events
    again = open_dataset("builtin:shapes?classes=3&train=6&val=2", image_size=32, workers=1)
    assert np.array_equal(again.train_images[:], ds.train_images[:])


def test_builtin_shapes_is_deterministic(tmp_path):
    from netdef.data.builtin_shapes import shapes_folder

    a = shapes_folder(str(tmp_path / "a"), 24, classes=2, train=2, val=1, workers=1)
    b = shapes_folder(str(tmp_path / "b"), 24, classes=2, train=2, val=1, workers=2)
    files = sorted(p.relative_to(a) for p in Path(a).rglob("*.jpg"))
    assert len(files) == 6
    assert all((Path(a) / f).read_bytes() == (Path(b) / f).read_bytes() for f in files)


def test_builtin_bad_names():
    from netdef.errors import NetdefError

    with pytest.raises(NetdefError, match="unknown built-in data set 'builtin:cifar'"):
        open_dataset("builtin:cifar")
    with pytest.raises(NetdefError, match="unknown option 'colours'"):
        open_dataset("builtin:shapes?colours=3")


def test_prep_command(tmp_path):
    from netdef.cli import cli  # the group: its error boundary turns NetdefError into exit 1

    write_folder(tmp_path / "src", size=16)
    runner = CliRunner()
    ok = runner.invoke(cli, ["prep", str(tmp_path / "src"), str(tmp_path / "dst"),
                             "--image-size", "16", "--workers", "1"],
                       catch_exceptions=False)
    assert ok.exit_code == 0 and "2 classes, 12 train, 4 val images of 3×16×16" in ok.output
    bad = runner.invoke(cli, ["prep", str(tmp_path / "nope")])
    assert bad.exit_code == 1
    assert f"{tmp_path}/nope: error: data folder does not exist" in bad.stderr
    assert "Traceback" not in bad.output
    help_ = runner.invoke(cli, ["prep", "--help"])
    assert help_.exit_code == 0 and "Examples:" in help_.output


@pytest.mark.parametrize("workers", [0, 2])
def test_device_path_run_on_the_cpu_equals_the_worker_path(ds, workers):
    """The GPU path (uint8 batches handed over, crop, mirror, lighting and mean in the
    consuming process) run on the CPU: the same numbers as augmenting in the workers."""
    def both(make):
        return batches(make(False)), batches(make(True))

    plain, device = both(lambda on: train_loader(ds, 8, 16, color_noise=0.1, seed=2, epoch=1,
                                                 workers=workers, on_device=on))
    assert len(plain) == len(device) == 3
    for (x1, y1), (x2, y2) in zip(plain, device, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    for crops in (1, 10):
        plain, device = both(lambda on, crops=crops: val_loader(ds, 4, 16, crops=crops,
                                                                 workers=workers, on_device=on))
        assert all(torch.equal(a[0], b[0]) for a, b in zip(plain, device, strict=True))
