import numpy as np
import pytest
import tensorflow as tf

from c2gan_tf import data


def test_normalize_images_and_stats(rng):
    imgs = [rng.random((20, 20, 1)) * 100 + 10, rng.random((30, 10, 1)) * 50]
    norm = data.normalize_images(imgs, 0, 100)
    for n in norm:
        assert n.dtype == np.float32
        assert n.min() == pytest.approx(0, abs=1e-6) and n.max() == pytest.approx(1, abs=1e-6)
    stats = data.intensity_stats([np.arange(101.0), np.arange(101.0) + 10, np.arange(101.0) + 1000], 10, 90)
    assert stats == {'low': 20.0, 'high': 100.0}
    with pytest.raises(ValueError, match='NaN'):
        data.normalize_images([np.full((4, 4, 1), np.nan)])


def test_to_network_axes(rng):
    img = rng.random((3, 5, 7))
    assert data.to_network_axes(img, 'ZYX', 'ZYXC').shape == (3, 5, 7, 1)
    assert data.to_network_axes(img, 'CYX', 'YXC').shape == (5, 7, 3)


def test_auto_saliency_finds_threshold_and_polarity(rng):
    bright = np.zeros((4, 16, 16, 1), np.float32)
    bright[:, 4:8, 4:8] = 1.0
    bright += rng.normal(0, 0.02, bright.shape).astype(np.float32)
    s = data.auto_saliency(bright)
    assert 0.2 < s['threshold'] < 0.8 and s['polarity'] == 1 and s['steepness'] == 20
    assert data.auto_saliency(1 - bright)['polarity'] == -1
    assert data.auto_saliency(bright, threshold=0.1, polarity=-1, steepness=3) == \
        dict(threshold=0.1, polarity=-1, steepness=3.0)


def test_sample_patches_in_bounds_and_skip_background(rng):
    img = np.zeros((64, 64, 1), np.float32)
    img[40:50, 40:50] = 1.0
    patches = data.sample_patches([img], (16, 16), 20, rng=0)
    assert patches.shape == (20, 16, 16, 1)
    assert all(p.max() == 1.0 for p in patches)
    anywhere = data.sample_patches([img], (16, 16), 40, rng=0, skip_background=False)
    assert any(p.max() == 0 for p in anywhere)
    with pytest.raises(ValueError, match='smaller than the patch size'):
        data.sample_patches([img], (80, 16), 1)


@pytest.mark.parametrize('shape,n_dim', [((8, 8, 1), 2), ((3, 8, 8, 2), 3), ((6, 8, 1), 2)])
def test_augment_flips_and_rotates_in_plane(shape, n_dim, rng):
    x = rng.random(shape).astype(np.float32)
    seen = set()
    for i in range(80):
        y = data.augment(tf.constant(x), tf.constant([i, 7], tf.int64), n_dim).numpy()
        assert y.shape == x.shape
        np.testing.assert_array_equal(np.sort(y, axis=None), np.sort(x, axis=None))
        if n_dim == 3:  # Z planes stay in place
            for z in range(shape[0]):
                np.testing.assert_array_equal(np.sort(y[z], axis=None), np.sort(x[z], axis=None))
        seen.add(y.tobytes())
    assert len(seen) == (8 if shape[-3] == shape[-2] else 4)


def test_unpaired_dataset_batches(rng):
    a, b = rng.random((5, 8, 8, 1), np.float32), rng.random((3, 8, 8, 1), np.float32) + 10
    ds = data.unpaired_dataset(a, b, 2, 2, seed=0)
    for x, y in ds.take(6):
        assert x.shape == (2, 8, 8, 1) and y.shape == (2, 8, 8, 1)
        assert float(tf.reduce_max(x)) < 1 and float(tf.reduce_min(y)) >= 10
    first = [x.numpy() for x, _ in data.unpaired_dataset(a, b, 2, 2, seed=0).take(3)]
    again = [x.numpy() for x, _ in data.unpaired_dataset(a, b, 2, 2, seed=0).take(3)]
    np.testing.assert_array_equal(first, again)
