import numpy as np
import pytest

from c2gan_tf import metrics, synthetic


def test_generate_2d_is_deterministic_and_unpaired():
    d = synthetic.generate(2, (96, 96), n_a=2, n_b=3, n_test=1, seed=5)
    assert [len(d[k]) for k in ('A', 'B', 'test_A', 'test_GT')] == [2, 3, 1, 1]
    for k in ('A', 'B', 'test_A'):
        assert all(img.dtype == np.uint16 and img.shape == (96, 96) for img in d[k])
    assert d['test_GT'][0].dtype == np.float32
    again = synthetic.generate(2, (96, 96), n_a=2, n_b=3, n_test=1, seed=5)
    for k in d:
        for a, b in zip(d[k], again[k]):
            np.testing.assert_array_equal(a, b)
    other = synthetic.generate(2, (96, 96), n_a=2, n_b=3, n_test=1, seed=6)
    assert not np.array_equal(d['A'][0], other['A'][0])
    # A and B show different scenes
    assert metrics.mask_iou(d['A'][0], d['B'][0]) < 0.5


def test_domain_a_is_low_snr_and_ground_truth_matches_test_scene():
    d = synthetic.generate(2, (128, 128), n_a=1, n_b=1, n_test=1, seed=0)
    a, gt = d['test_A'][0].astype(float), d['test_GT'][0]
    assert a.min() >= 0 and np.median(a) > 50  # camera offset
    # the test pair shows one scene: much closer than unrelated images
    assert np.corrcoef(gt.ravel(), a.ravel())[0, 1] > 0.5
    assert abs(np.corrcoef(gt.ravel(), d['A'][0].ravel().astype(float))[0, 1]) < 0.2
    # B has far more photons than A: its relative noise is lower
    b = d['B'][0].astype(float)
    assert (np.percentile(b, 99.8) - np.median(b)) / np.sqrt(np.median(b) - 100 + 9) > \
        (np.percentile(a, 99.8) - np.median(a)) / np.sqrt(np.median(a) - 100 + 9)


def test_generate_3d():
    d = synthetic.generate(3, (8, 48, 48), n_a=1, n_b=1, n_test=1, seed=0)
    assert d['A'][0].shape == (8, 48, 48) and d['test_GT'][0].shape == (8, 48, 48)
    with pytest.raises(ValueError, match=r'shape \(48, 48\) does not have 3 dimensions'):
        synthetic.generate(3, (48, 48))


def test_camera_noise_statistics():
    rng = np.random.default_rng(0)
    scene = np.full((200, 200), 0.5, np.float32)
    img = synthetic.camera(scene, rng, psf_sigma=(1, 1), photons=100, read_noise=2, offset=100, background=0)
    assert img.dtype == np.uint16
    assert img.mean() == pytest.approx(150, abs=0.5)
    assert img.var() == pytest.approx(50 + 4, rel=0.1)  # Poisson + read noise (+ rounding)


def test_paired_option_adds_registered_b_images_without_changing_the_rest():
    plain = synthetic.generate(2, (64, 64), n_a=2, n_b=1, n_test=1, seed=3)
    paired = synthetic.generate(2, (64, 64), n_a=2, n_b=1, n_test=1, seed=3, paired=True)
    for key in plain:
        for a, b in zip(plain[key], paired[key]):
            np.testing.assert_array_equal(a, b)
    assert len(paired['A_paired_B']) == 2 and 'A_paired_B' not in plain
    a, b = paired['A'][0].astype(float), paired['A_paired_B'][0].astype(float)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.5  # same scene
