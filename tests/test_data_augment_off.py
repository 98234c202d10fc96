"""The training augmentation can be turned off piece by piece (the paper's §4.1 ablations):
``random-crops = off`` takes the centre crop, ``mirrors = off`` never mirrors, and the lighting
draws stay the same, so a variant differs from its base in that one respect."""

from __future__ import annotations

import numpy as np

from netdef.data.augment import center_offset, train_params
from netdef.schema import read_experiment

EIGVAL = np.array([0.2, 0.02, 0.002])
EIGVEC = np.eye(3)


def draws(**off):
    return train_params(7, 3, np.arange(64), image_size=20, inner_size=16, color_noise=0.1,
                        eigval=EIGVAL, eigvec=EIGVEC, **off)


def test_centre_crops_and_no_mirrors():
    on, off = draws(), draws(random_crops=False, mirrors=False)
    assert len(set(on.oy.tolist())) > 1 and on.flip.any()
    assert set(off.oy.tolist()) == set(off.ox.tolist()) == {center_offset(20, 16)}
    assert not off.flip.any()
    assert np.array_equal(on.shift.numpy(), off.shift.numpy())  # the same lighting


def test_each_switch_alone():
    crops, mirrors = draws(random_crops=False), draws(mirrors=False)
    assert np.array_equal(crops.flip.numpy(), draws().flip.numpy())
    assert np.array_equal(mirrors.oy.numpy(), draws().oy.numpy()) and not mirrors.flip.any()


def test_experiment_keys(tmp_path):
    path = tmp_path / "exp.cfg"
    path.write_text("[train]\nlayers = x.cfg\nrandom-crops = off\nmirrors = no\n")
    exp, _ = read_experiment(path)
    assert exp.random_crops is False and exp.mirrors is False
    path.write_text("[train]\nlayers = x.cfg\n")
    exp, _ = read_experiment(path)
    assert exp.random_crops is True and exp.mirrors is True
