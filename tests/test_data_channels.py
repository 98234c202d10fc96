"""Input channels come from the data: a grey set packs as one channel (``channels`` overrides),
the check and the net use that count, augmentation follows it, and the checkpoint carries it
so eval, predict and the pictures work."""

import numpy as np
import pytest
import torch
from PIL import Image

from netdef.data import open_dataset, pack_dataset, train_loader, val_loader
from netdef.errors import NetdefError

from conftest import write_experiment_files
from trainnets import TINY, TINY_PARAMS


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDEF_CACHE", str(tmp_path / "cache"))


def grey_folder(root, classes=4, count=12, mode="L"):
    """Grey images in ``mode`` (L, LA, I;16, or RGB holding grey); class k is brighter."""
    rng = np.random.default_rng(0)
    for k in range(classes):
        d = root / f"c{k}"
        d.mkdir(parents=True)
        for i in range(count):
            a = np.clip(rng.normal(40 + 50 * k, 20, (20, 20)), 0, 255).astype(np.uint8)
            img = Image.fromarray(a, "L")
            if mode == "RGB":
                img = img.convert("RGB")
            elif mode == "I;16":
                img = Image.fromarray(a.astype(np.uint16) * 257)
            elif mode == "LA":
                img = img.convert("LA")
            img.save(d / f"{i}.png")
    return root


@pytest.mark.parametrize("mode", ["L", "LA", "I;16", "RGB"])
def test_a_grey_set_packs_as_one_channel(tmp_path, mode):
    root = grey_folder(tmp_path / "g", mode=mode)
    ds = pack_dataset(str(root), str(tmp_path / "p"), image_size=16, workers=2)
    assert ds.channels == 1 and ds.meta["channels_reason"] == "every image is grayscale"
    assert ds.train_images.shape[1:] == (1, 16, 16) and ds.mean.shape == (1, 16, 16)
    assert ds.eigval.shape == (1,) and ds.eigvec.shape == (1, 1)
    three = pack_dataset(str(root), str(tmp_path / "q"), image_size=16, channels=3, workers=1)
    assert three.channels == 3 and three.meta["channels_reason"] == "set by channels = 3"
    assert np.array_equal(three.train_images[:, 1], ds.train_images[:, 0])
    assert np.allclose(three.mean[2], ds.mean[0], atol=1e-4)


def test_one_colour_image_makes_the_set_rgb_and_channels_1_makes_it_grey(tmp_path):
    root = grey_folder(tmp_path / "g")
    Image.new("RGB", (20, 20), (200, 30, 30)).save(root / "c0" / "red.png")
    ds = open_dataset(str(root), image_size=16, workers=1)
    assert ds.channels == 3 and ds.meta["channels_reason"] == "the images are in colour"
    grey = open_dataset(str(root), image_size=16, workers=1, channels=1)
    assert grey.channels == 1 and grey.path != ds.path
    labels = grey.train_labels.tolist() + grey.val_labels.tolist()
    assert len(labels) == 49
    red = Image.new("RGB", (16, 16), (200, 30, 30)).convert("L").getpixel((0, 0))
    values = set(np.concatenate([grey.train_images[:, 0, 0, 0], grey.val_images[:, 0, 0, 0]]))
    assert red in values                         # Pillow's luma of the red image


def test_loader_batches_have_the_data_channels_and_no_colour_noise(tmp_path):
    ds = pack_dataset(str(grey_folder(tmp_path / "g")), str(tmp_path / "p"), image_size=16,
                 workers=1)
    with_noise = [x for x, _ in train_loader(ds, 8, 12, color_noise=0.5, seed=1, workers=0)]
    without = [x for x, _ in train_loader(ds, 8, 12, color_noise=0.0, seed=1, workers=0)]
    assert with_noise[0].shape == (8, 1, 12, 12)
    assert all(torch.equal(a, b) for a, b in zip(with_noise, without, strict=True))
    device_path = [x for x, _ in train_loader(ds, 8, 12, color_noise=0.5, seed=1, workers=0,
                                              on_device=True)]
    assert all(torch.equal(a, b) for a, b in zip(with_noise, device_path, strict=True))
    x, _ = next(iter(val_loader(ds, 4, 12, crops=10, workers=0)))
    assert x.shape == (4, 10, 1, 12, 12)


GREY_NET = TINY.replace("channels=3", "channels=1")


def grey_experiment(tmp_path, net=GREY_NET, **keys):
    grey_folder(tmp_path / "data")
    train = {"layers": "grey.cfg", "data": "data", "image-size": 20, "inner-size": 16,
             "batch-size": 8, "epochs": 1, "devices": "cpu", "save": "run", "workers": 0,
             **keys}
    return write_experiment_files(tmp_path, {"grey.cfg": net, "grey-params.cfg": TINY_PARAMS},
                                  train)


def test_a_one_channel_net_trains_and_its_checkpoint_works(tmp_path):
    """The gray-input case: a net declaring channels=1 on grey data trains; eval, predict
    and show-filters read the channel count from the checkpoint."""
    from netdef.evaluate import evaluate, load_model, open_eval_data, predict
    from netdef.show import render_filters
    from netdef.train import Message, TrainOptions, train

    events = []
    done = train(TrainOptions(str(grey_experiment(tmp_path))), on_event=events.append,
                 handle_signals=False)
    notes = [e.text for e in events if isinstance(e, Message)]
    assert sum("no PCA colour noise" in n for n in notes) == 1
    model = load_model(tmp_path / "run" / "ckpt.pt")
    assert model.channels == 1 and model.mean.shape == (1, 20, 20)
    result = evaluate(model, open_eval_data(model), crops=10)
    assert result.images == 4 and done.step == 5
    got = predict(model, [tmp_path / "data" / "c3" / "0.png",
                          Image.open(tmp_path / "data" / "c1" / "0.png").convert("RGB")])
    assert len(got) == 2 and all(len(p.top) == 4 for p in got)
    assert render_filters(model) is not None


def test_the_nets_channels_and_the_datas_must_agree(tmp_path):
    """A 3-channel net on grey data: the check names the count the data has."""
    from netdef.train import TrainOptions, train

    with pytest.raises(NetdefError) as exc:
        train(TrainOptions(str(grey_experiment(tmp_path, net=TINY))), handle_signals=False)
    msg = str(exc.value)
    assert "grey.cfg:12:10: error: layer 'conv1': input 1 has 1 channels" in msg
    assert "error: the data has 1 channel(s) (every image is grayscale) but the net reads 3: " \
           "set 'channels = 3' in [train]" in msg
    ok = grey_experiment(tmp_path / "rgb", net=TINY, channels=3)   # or make the data RGB
    assert train(TrainOptions(str(ok)), handle_signals=False).step == 5


def test_a_pack_made_ahead_refuses_a_different_channels_key(tmp_path):
    root = grey_folder(tmp_path / "g")
    pack_dataset(str(root), str(tmp_path / "p"), image_size=16, workers=1)
    with pytest.raises(NetdefError, match="the pack has 1 channel.* but channels = 3; pack it "
                                          "again with 'netdef prep"):
        open_dataset(str(tmp_path / "p"), channels=3)


def test_check_reads_the_channels_key_or_the_nets_own_count(tmp_path):
    """Without data, `netdef check` takes the experiment's ``channels``, else what the net's
    first layer declares (cuda-convnet took it from the data provider)."""
    from netdef.check import load

    exp = grey_experiment(tmp_path)
    assert load(tmp_path / "grey.cfg").input_channels == 1
    assert load(exp).input_channels == 1
    exp.write_text(exp.read_text() + "channels = 3\n")
    with pytest.raises(NetdefError, match="input 1 has 3 channels .*'channels' says 1"):
        load(exp)
