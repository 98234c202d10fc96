"""Augmentation (docs/design.md §3): crops, mirrors, ten views, lighting statistics,
determinism."""

import numpy as np
import pytest
import torch

from netdef.data import augment

S, INNER = 12, 8
PLAIN = dict(image_size=S, inner_size=INNER, color_noise=0.1, eigval=np.ones(3), eigvec=np.eye(3))


def test_crop_and_mirror_select_exact_pixels():
    rng = np.random.default_rng(0)
    imgs = torch.from_numpy(rng.integers(0, 256, (4, 3, S, S), dtype=np.uint8))
    oy, ox = torch.tensor([0, 4, 2, 1]), torch.tensor([4, 0, 3, 2])
    flip = torch.tensor([False, True, True, False])
    out = augment.crop_flip(imgs, oy, ox, flip, INNER)
    for n in range(4):
        want = imgs[n, :, oy[n]:oy[n] + INNER, ox[n]:ox[n] + INNER].numpy()
        if flip[n]:
            want = want[:, :, ::-1]
        assert np.array_equal(out[n].numpy(), want)


def test_gather_path_equals_loop_path():
    rng = np.random.default_rng(1)
    imgs = torch.from_numpy(rng.integers(0, 256, (16, 3, S, S), dtype=np.uint8))
    p = augment.train_params(3, 1, np.arange(16), **PLAIN)
    a = augment.crop_flip(imgs, p.oy, p.ox, p.flip, INNER)
    b = augment.crop_flip_gather(imgs, p.oy, p.ox, p.flip, INNER)
    assert torch.equal(a, b)


def test_center_crop_and_ten_views():
    rng = np.random.default_rng(2)
    imgs = torch.from_numpy(rng.integers(0, 256, (2, 3, S, S), dtype=np.uint8))
    b, far = (S - INNER) // 2, S - INNER
    assert torch.equal(augment.center_crop(imgs, INNER), imgs[:, :, b:b + INNER, b:b + INNER])
    views = augment.ten_views(imgs, INNER)
    assert views.shape == (2, 10, 3, INNER, INNER)
    starts = [(0, 0), (0, far), (far, 0), (far, far), (b, b)]
    for k, (y, x) in enumerate(starts):
        patch = imgs[:, :, y:y + INNER, x:x + INNER]
        assert torch.equal(views[:, k], patch)
        assert torch.equal(views[:, k + 5], patch.flip(-1))


def test_mean_crop_is_centre_of_mean_image():
    mean = np.arange(3 * S * S, dtype=np.float32).reshape(3, S, S)
    b = (S - INNER) // 2
    assert np.array_equal(augment.mean_crop(mean, INNER).numpy(), mean[:, b:b + INNER, b:b + INNER])


def test_params_depend_only_on_seed_epoch_index():
    a = augment.train_params(7, 2, np.array([5, 9, 11]), **PLAIN)
    b = augment.train_params(7, 2, np.array([11, 5]), **PLAIN)
    assert a.oy[0] == b.oy[1] and a.ox[2] == b.ox[0] and torch.equal(a.shift[0], b.shift[1])
    c = augment.train_params(7, 3, np.array([5, 9, 11]), **PLAIN)
    assert not torch.equal(a.shift, c.shift)


def test_offsets_and_flips_are_uniform():
    p = augment.train_params(0, 0, np.arange(20000), **PLAIN)
    counts = np.bincount(p.oy.numpy(), minlength=S - INNER + 1)
    assert counts.min() > 0.8 * 20000 / (S - INNER + 1)
    assert abs(p.flip.float().mean().item() - 0.5) < 0.02


def test_lighting_has_the_formula_statistics():
    """shift = 255 Σ αᵢλᵢpᵢ with αᵢ ~ N(0, σ): mean 0, covariance 255² P diag(σ²λ²) Pᵀ."""
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))
    eigval, sigma, n = np.array([0.05, 0.01, 0.002]), 0.1, 200000
    p = augment.train_params(1, 0, np.arange(n), image_size=S, inner_size=INNER,
                             color_noise=sigma, eigval=eigval, eigvec=q)
    shift = p.shift.double().numpy()
    want = 255.0 ** 2 * q @ np.diag((sigma * eigval) ** 2) @ q.T
    assert np.allclose(shift.mean(0), 0, atol=0.02)
    assert np.allclose(np.cov(shift.T), want, rtol=0.03, atol=1e-4)
    alpha = shift @ q / (255.0 * eigval)          # back to α: each ~ N(0, σ), independent
    assert np.allclose(alpha.std(0), sigma, rtol=0.02)
    assert abs(np.corrcoef(alpha.T)[0, 1]) < 0.01


def test_normalize_adds_shift_to_every_pixel():
    crops = torch.full((2, 3, INNER, INNER), 100, dtype=torch.uint8)
    mean_c = torch.full((3, INNER, INNER), 40.0)
    shift = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]])
    out = augment.normalize(crops, mean_c, shift)
    assert torch.equal(out[1, 2], torch.full((INNER, INNER), 60.5))
    assert out.dtype == torch.float32


def test_cpu_normalize_is_torchs_arithmetic_bit_for_bit():
    """The CPU path (numpy, one thread) gives the bits of torch's uint8 - float32 subtraction
    and float32 addition (what a GPU runs), on a strided centre crop and on ten views."""
    rng = np.random.default_rng(7)
    imgs = torch.from_numpy(rng.integers(0, 256, (6, 3, 40, 40), dtype=np.uint8))
    mean_c = torch.from_numpy(rng.uniform(0, 255, (3, INNER, INNER)).astype(np.float32))
    shift = torch.from_numpy(rng.normal(0, 9, (6, 3)).astype(np.float32))
    centre = augment.center_crop(imgs, INNER)                      # a strided view
    want = torch.sub(centre, mean_c).add_(shift[:, :, None, None])
    assert torch.equal(augment.normalize(centre, mean_c, shift), want)
    views = augment.ten_views(imgs, INNER)
    assert torch.equal(augment.normalize(views, mean_c), torch.sub(views, mean_c))


@pytest.mark.gpu
def test_cuda_path_equals_cpu_path():
    rng = np.random.default_rng(4)
    imgs = torch.from_numpy(rng.integers(0, 256, (32, 3, 40, 40), dtype=np.uint8))
    mean = rng.uniform(0, 255, (3, 40, 40)).astype(np.float32)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    p = augment.train_params(5, 1, np.arange(32), image_size=40, inner_size=32,
                             color_noise=0.1, eigval=[0.2, 0.05, 0.01], eigvec=q)
    mc = augment.mean_crop(mean, 32)
    cpu = augment.augment_train(imgs, p, mc, 32)
    gpu = augment.augment_train(imgs.cuda(), p, mc, 32).cpu()
    assert torch.equal(cpu, gpu)
