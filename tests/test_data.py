import numpy as np
import pytest
import tensorflow as tf
from csbdeep.data import no_background_patches

from c2gan_tf import data, domains, losses, pipeline, synthetic
from c2gan_tf.data import UnpairedData


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
    s = domains.auto_saliency(bright, sigma=0)
    assert 0.2 < s['threshold'] < 0.8 and s['polarity'] == 1 and s['steepness'] == 50 and s['sigma'] == 0
    assert domains.auto_saliency(1 - bright, sigma=0)['polarity'] == -1
    assert domains.auto_saliency(bright, threshold=0.1, polarity=-1, steepness=3) == \
        dict(threshold=0.1, polarity=-1, steepness=3.0, sigma=2.0)


def test_auto_saliency_thresholds_smoothed_structure_not_noise(rng):
    """On a noisy image Otsu's threshold of raw pixels splits the noise; after smoothing it splits the structure."""
    clean = np.zeros((8, 32, 32, 1), np.float32)
    clean[:, 8:24, 8:24] = 0.5
    noisy = clean + rng.normal(0, 0.3, clean.shape).astype(np.float32)
    smoothed = domains.auto_saliency(noisy)
    assert smoothed['sigma'] == 2.0 and abs(smoothed['threshold'] - 0.25) < 0.08
    mask = np.asarray(losses.saliency_mask(noisy, **smoothed))
    truth = clean[..., 0] > 0.25
    per_pixel = np.asarray(losses.saliency_mask(noisy, **domains.auto_saliency(noisy, sigma=0)))
    assert np.mean((mask > 0.5) == truth) > 0.9 > np.mean((per_pixel > 0.5) == truth)


def test_create_unpaired_patches_in_bounds_and_skip_background(rng):
    img = np.zeros((64, 64), np.float32)
    img[40:50, 40:50] = 1.0
    img += rng.random(img.shape).astype(np.float32) * 1e-3
    unpaired = UnpairedData.from_arrays([img], [img, img], 'YX')
    X_A, X_B, axes, stats = data.create_unpaired_patches(unpaired, (16, 16), 20, seed=0, verbose=False,
                                                         patch_filter=no_background_patches())
    assert X_A.shape == (20, 16, 16, 1) and X_B.shape == (40, 16, 16, 1) and axes == 'SYXC'
    assert all(p.max() > 0.5 for p in X_A)  # no background-only patch
    anywhere = data.create_unpaired_patches(unpaired, (16, 16), 40, seed=0, verbose=False)[0]  # the default
    assert any(p.max() < 0.5 for p in anywhere)
    assert stats['A']['high'] == pytest.approx(np.percentile(img, 99.8))
    with pytest.raises(ValueError, match=r'A\[0\].*smaller than the patch size'):
        data.create_unpaired_patches(unpaired, (80, 16), 1, verbose=False)


@pytest.mark.parametrize('shape,n_dim', [((8, 8, 1), 2), ((3, 8, 8, 2), 3), ((6, 8, 1), 2)])
def test_augment_flips_and_rotates_in_plane(shape, n_dim, rng):
    x = rng.random(shape).astype(np.float32)
    seen = set()
    for i in range(80):
        y = pipeline.augment(tf.constant(x), tf.constant([i, 7], tf.int64), n_dim).numpy()
        assert y.shape == x.shape
        np.testing.assert_array_equal(np.sort(y, axis=None), np.sort(x, axis=None))
        if n_dim == 3:  # Z planes stay in place
            for z in range(shape[0]):
                np.testing.assert_array_equal(np.sort(y[z], axis=None), np.sort(x[z], axis=None))
        seen.add(y.tobytes())
    assert len(seen) == (8 if shape[-3] == shape[-2] else 4)


def test_unpaired_dataset_batches(rng):
    a, b = rng.random((5, 8, 8, 1), np.float32), rng.random((3, 8, 8, 1), np.float32) + 10
    ds = pipeline.unpaired_dataset(a, b, 2, 2, seed=0)
    for batch in ds.take(6):
        assert batch.shape == (2, 2, 8, 8, 1)
        x, y = pipeline.unstacked_pairs(batch)
        assert x.shape == (2, 8, 8, 1) and y.shape == (2, 8, 8, 1)
        assert float(tf.reduce_max(x)) < 1 and float(tf.reduce_min(y)) >= 10
    first = [batch.numpy() for batch in pipeline.unpaired_dataset(a, b, 2, 2, seed=0).take(3)]
    again = [batch.numpy() for batch in pipeline.unpaired_dataset(a, b, 2, 2, seed=0).take(3)]
    np.testing.assert_array_equal(first, again)


def test_shuffled_indices_are_permutations_that_every_iterator_repeats():
    ds = pipeline.shuffled_indices(5, seed=3)
    first = [int(i) for i in ds.take(15)]
    assert [int(i) for i in ds.take(15)] == first  # a second iterator: the same order (Keras makes one to build)
    passes = [first[k:k + 5] for k in (0, 5, 10)]
    assert all(sorted(p) == list(range(5)) for p in passes) and passes[0] != passes[1]


@pytest.mark.parametrize('pipelines,replicas', [(2, 2), (2, 4), (1, 2)])
def test_input_pipelines_share_each_global_batch(pipelines, replicas, rng):
    """Under tf.distribute the replicas of all input pipelines together hold, step by step, the global batches of
    the single-process stream (training, from a later batch too, and validation)."""
    a, b = rng.random((7, 8, 8, 1), np.float32), rng.random((5, 8, 8, 1), np.float32)
    for skip in (0, 3):
        alone = [batch.numpy() for batch in pipeline.unpaired_dataset(a, b, 4, 2, seed=1, skip=skip).take(5)]
        shares = []
        for i in range(pipelines):
            context = tf.distribute.InputContext(pipelines, i, replicas)
            per_replica = list(pipeline.unpaired_dataset(a, b, 4, 2, seed=1, skip=skip, context=context)
                               .take(5 * replicas // pipelines))
            assert all(batch.shape[0] == 4 // replicas for batch in per_replica)
            shares.append(np.split(np.concatenate(per_replica), 5))
        for step, batch in enumerate(alone):
            np.testing.assert_array_equal(np.concatenate([share[step] for share in shares]), batch)
    val = [pipeline.validation_dataset(a, b, 4, tf.distribute.InputContext(pipelines, i, replicas))
           for i in range(pipelines)]
    np.testing.assert_array_equal(np.concatenate([batch.numpy() for ds in val for batch in ds]),
                                  np.stack([a[:4], b[:4]], axis=1))  # whole global batches only
    with pytest.raises(ValueError, match='fewer than one batch'):
        pipeline.validation_dataset(a[:3], b, 4, tf.distribute.InputContext(pipelines, 0, replicas))


def test_check_finite_in_chunks_and_auto_saliency_subsample(rng):
    X = rng.random((700, 4, 4, 1)).astype(np.float32)
    data.check_finite(X, 'X')
    X[650, 1, 2, 0] = np.inf
    with pytest.raises(ValueError, match='X contains NaN or infinite'):
        data.check_finite(X, 'X', chunk=100)
    with pytest.raises(ValueError, match='image contains NaN'):
        data.check_finite(np.float32('nan'))
    big = np.concatenate([np.zeros((1500, 4, 4, 1)), np.ones((1500, 4, 4, 1))]).astype(np.float32)
    s = domains.auto_saliency(big, max_patches=100)
    assert 0 < s['threshold'] < 1 and s['polarity'] in (1, -1)


def test_default_sampling_treats_a_noisy_and_a_clean_copy_of_a_scene_alike():
    """Failure mode 1: a background filter relative to each image's brightest pixels keeps almost every patch of
    a noisy image and few of a clean one; the default sampler accepts the same fraction of both."""
    rng = np.random.default_rng(0)
    s = synthetic.scene((192, 192), rng, n_nuclei=1, n_filaments=3, n_puncta=10)
    noisy = synthetic.camera(s, rng, **synthetic.microscope('A'))
    clean = synthetic.expected_image(s, **synthetic.microscope('B'))
    noisy, clean = data.normalize_images([noisy[..., None].astype(np.float32), clean[..., None]])

    def fractions(patch_filter):
        return [data.patch_acceptance(img, (32, 32), patch_filter) for img in (noisy, clean)]

    a, b = fractions(None)
    assert abs(a - b) < 0.1
    a, b = fractions(no_background_patches())  # the sampling of earlier versions
    assert a > 0.9 and b < 0.4
    unpaired = UnpairedData.from_arrays([noisy[..., 0]], [clean[..., 0]], 'YX')
    with pytest.warns(UserWarning, match='sampled unequally'):
        data.create_unpaired_patches(unpaired, (32, 32), 4, patch_filter=no_background_patches(), verbose=False)


def test_sampling_is_seeded_without_touching_numpy_global_state(rng, monkeypatch):
    images = UnpairedData.from_arrays([rng.random((40, 40))], [rng.random((40, 40))], 'YX')
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    X_A, X_B, _, _ = data.create_unpaired_patches(images, (8, 8), 5, seed=7, verbose=False)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    again = data.create_unpaired_patches(images, (8, 8), 5, seed=7, verbose=False)
    np.testing.assert_array_equal(X_A, again[0])
    np.testing.assert_array_equal(X_B, again[1])
    assert not np.array_equal(X_A, data.create_unpaired_patches(images, (8, 8), 5, seed=8, verbose=False)[0])
    for name in ('seed', 'choice', 'randint', 'random', 'permutation', 'shuffle', 'get_state', 'set_state'):
        monkeypatch.setattr(np.random, name, lambda *a, _name=name, **k: pytest.fail('np.random.' + _name + ' used'))
    third = data.create_unpaired_patches(images, (8, 8), 5, seed=7, verbose=False)  # NumPy's global one not used
    np.testing.assert_array_equal(X_A, third[0])


def test_both_domains_get_one_polarity_chosen_on_domain_b(rng):
    """A blurred domain A whose smoothed foreground covers most of its patches got polarity -1 on its own while B
    got +1 (seen in 3D): the structural loss then asked G to invert its input."""
    from c2gan_tf.domains import auto_saliency, domains_saliency
    a = 0.2 + 0.6 * (rng.random((8, 32, 32, 1)) > 0.2) + 0.01 * rng.random((8, 32, 32, 1))  # bright but for holes
    b = 0.05 + 0.9 * (rng.random((8, 32, 32, 1)) > 0.97) + 0.01 * rng.random((8, 32, 32, 1))  # sparse bright spots
    settings = {d: dict(threshold=None, polarity=None, steepness=50.0, sigma=0.0) for d in 'AB'}
    assert auto_saliency(a, **settings['A'])['polarity'] == -1  # what choosing on A alone did
    both = domains_saliency(dict(A=a, B=b), settings)
    assert both['A']['polarity'] == both['B']['polarity'] == 1
    # A's mask covers as much of A as B's of B (Otsu's on A alone covered 80 %, B's 3 %)
    fraction = {d: np.mean(x[..., 0] > both[d]['threshold']) for d, x in (('A', a), ('B', b))}
    assert fraction['B'] < 0.05 and abs(fraction['A'] - fraction['B']) < 0.01
    settings['A']['polarity'] = -1  # one given: the other follows it
    both = domains_saliency(dict(A=a, B=b), settings)
    assert both['A']['polarity'] == both['B']['polarity'] == -1
    settings['A'].update(polarity=None, threshold=0.5)  # a threshold given is kept
    assert domains_saliency(dict(A=a, B=b), settings)['A']['threshold'] == 0.5


def test_patches_are_drawn_where_the_filter_accepts_and_lie_in_the_image(rng):
    img = rng.random((30, 50, 1)).astype(np.float32)
    img[:, 25:] += 10  # only the right half is foreground
    def right_half(datas, size):
        mask = np.zeros(datas[0].shape, bool)
        mask[:, 25 + size[1] // 2:] = True  # patches centred there lie in the right half
        return mask
    patches = data.sample_patches(img, (8, 6), 200, np.random.default_rng(0), right_half)
    assert patches.shape == (200, 8, 6, 1) and (patches >= 10).all()
    windows = np.lib.stride_tricks.sliding_window_view(img[..., 0], (8, 6)).reshape(-1, 48)
    assert all((windows == p.ravel()).all(axis=1).any() for p in patches[:20, ..., 0])  # each one of the image's
    whole = data.sample_patches(img, (30, 50), 3, np.random.default_rng(0))  # one position, drawn with replacement
    assert whole.shape == (3, 30, 50, 1) and (whole == img).all()
    with pytest.raises(ValueError, match='do not fit'):
        data.sample_patches(img, (31, 8), 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match='holds foreground'):
        data.sample_patches(img, (8, 8), 1, np.random.default_rng(0), lambda d, s: np.zeros(d[0].shape, bool))


def test_domain_stats_record_round_trip_and_old_folders(tmp_path, rng):
    patches = dict(A=rng.random((20, 16, 16, 1), np.float32), B=rng.random((20, 16, 16, 1), np.float32) ** 4)
    settings = {d: dict(threshold=None, polarity=None, steepness=50.0, sigma=1.0) for d in 'AB'}
    stats = domains.estimate_domain_stats(patches, settings, {d: dict(low=1.0, high=9.0) for d in 'AB'})
    assert set(stats['B']) == {'threshold', 'polarity', 'steepness', 'sigma', 'quantiles', 'spectrum',
                              'low', 'high'}
    assert set(stats['A']) == set(stats['B']) | {'percentiles'}  # of G's inputs, for the output calibration
    np.testing.assert_allclose(stats['A']['percentiles'], np.percentile(patches['A'], [1, 99.8]), rtol=1e-5)
    assert domains.read_domain_stats(tmp_path) == {}
    domains.write_domain_stats(stats, tmp_path)
    assert domains.read_domain_stats(tmp_path) == stats
    assert domains.saliency_of(stats)['A'] == {k: stats['A'][k] for k in domains.SALIENCY_KEYS}
    old = {d: {k: v for k, v in stats[d].items() if k != 'sigma'} for d in 'AB'}  # written before smoothed masks
    assert domains.saliency_of(old)['B']['sigma'] == 0.0
    assert domains.lowpass_quantiles_of(stats) == {'A': None, 'B': None}  # asked for no low-pass quantiles


def test_domain_stats_hold_quantiles_of_smoothed_intensities(rng):
    from scipy.ndimage import gaussian_filter
    patches = dict(A=rng.random((30, 24, 24, 2), np.float32), B=2 * rng.random((30, 24, 24, 2), np.float32))
    settings = {d: dict(threshold=None, polarity=None, steepness=50.0, sigma=1.0) for d in 'AB'}
    q = domains.lowpass_quantiles_of(domains.estimate_domain_stats(patches, settings, lowpass_sigma=3.0))
    assert len(q['A']) == len(q['B']) == 101 and np.all(np.diff(q['A']) >= 0)
    smooth = gaussian_filter(patches['A'].mean(-1), (0, 3, 3), mode='reflect', truncate=3.0)
    np.testing.assert_allclose(q['A'], np.quantile(smooth, np.linspace(0, 1, 101)), rtol=1e-5)
    np.testing.assert_allclose(q['B'][5:-5], 2 * np.array(q['A'][5:-5]), atol=0.05)  # about 0.5 (A) and 1 (B)
