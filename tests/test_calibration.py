import numpy as np
import pytest

from c2gan_tf import C2GAN
from c2gan_tf.calibration import calibrated_range, calibration, image_calibration, patch_sample, pooled_percentiles
from c2gan_tf.run import output_calibration
from conftest import random_patches, train_tiny


@pytest.fixture(scope='module')
def pooled_model(tmp_path_factory):
    """A tiny model with ``output_calibration='percentiles'``: ``(model, history, basedir)``."""
    basedir = tmp_path_factory.mktemp('pooled')
    model, history = train_tiny(basedir, output_calibration='percentiles')
    return model, history, basedir


def test_calibration_maps_the_outputs_percentiles_onto_the_targets(rng):
    v = rng.gamma(2.0, 0.3, (50, 16, 16, 1)).astype(np.float32)  # brighter and of more contrast than the target
    target = [0.02, 0.9]
    scale, offset = calibration(pooled_percentiles(v, 1, 99.8), target)
    assert scale < 1
    np.testing.assert_allclose(pooled_percentiles(scale * v + offset, 1, 99.8), target, rtol=1e-5, atol=1e-6)


def test_a_constant_output_is_not_calibrated():
    assert calibration((0.5, 0.5), (0.0, 1.0)) == (1.0, 0.0)
    assert image_calibration(np.full((8, 8), 0.3), 1, 99.8) == (1.0, 0.0)


def test_the_image_calibration_maps_the_images_percentiles_onto_0_and_1(rng):
    v = rng.gamma(2.0, 0.3, (40, 30, 2)).astype(np.float32)  # channels pooled
    scale, offset = image_calibration(v, 1, 99.8)
    np.testing.assert_allclose(np.percentile(scale * v + offset, [1, 99.8]), [0, 1], atol=1e-5)


def test_the_calibrated_range_folds_the_map_into_the_units(rng):
    v = rng.random(100)
    low, high, scale, offset = 110.0, 2000.0, 0.7, 0.05
    new_low, new_high = calibrated_range(low, high, scale, offset)
    np.testing.assert_allclose(new_low + v * (new_high - new_low), low + (scale * v + offset) * (high - low))


def test_the_patch_sample_bounds_patches_and_values():
    assert len(patch_sample(np.zeros((10, 4, 4, 1), np.float32))) == 10
    assert len(patch_sample(np.zeros((1000, 4, 4, 1), np.float32))) == 256
    assert len(patch_sample(np.zeros((300, 8, 64, 64, 1), np.float32))) == 2 ** 22 // (8 * 64 * 64)


def test_weights_without_measured_outputs_are_not_calibrated():
    a = {'percentiles': [0.0, 1.0]}
    assert output_calibration({}, 1, a) is None  # a run of an older version
    assert output_calibration({'out_low': [0.1], 'out_high': [0.8]}, 1, {}) is None  # no percentiles of A
    assert output_calibration({'out_low': [0.1], 'out_high': [0.8]}, 2, a) is None  # no such epoch
    assert output_calibration({'out_low': [0.1], 'out_high': [0.6]}, 1, a) == pytest.approx((2.0, -0.2))


def test_training_measures_g_every_epoch_and_calibrates_the_weights_a_model_holds(pooled_model):
    model, history, basedir = pooled_model
    h, a = history.history, model.domain_stats['A']['percentiles']
    assert len(h['out_low']) == len(h['out_high']) == 2
    # the last epoch's measure is G's pooled percentiles of (a sample of) A's training patches, whose own are A's
    c = model.config
    sample = patch_sample(random_patches(c, 6, seed=1))
    np.testing.assert_allclose(pooled_percentiles(sample, c.norm_pmin, c.norm_pmax), a, rtol=1e-6)
    outputs = model.keras_model.predict(sample, verbose=0)
    np.testing.assert_allclose(pooled_percentiles(outputs, c.norm_pmin, c.norm_pmax), [h['out_low'][1], h['out_high'][1]],
                               rtol=1e-4, atol=1e-5)
    last = calibration((h['out_low'][1], h['out_high'][1]), a)
    assert model.output_calibration == pytest.approx(last)
    assert last != pytest.approx((1.0, 0.0), abs=1e-3)  # G's outputs do not keep their inputs' range by themselves
    for weights in ('last', 'best'):
        loaded = C2GAN.from_folder(basedir / 'model', weights=weights)
        e = loaded.weights_epoch()
        assert loaded.output_calibration == pytest.approx(calibration((h['out_low'][e - 1], h['out_high'][e - 1]), a))


def test_restorations_go_into_b_units_through_the_calibration(pooled_model, rng):
    model, _, _ = pooled_model
    x = rng.random((32, 48), np.float32) * 1000 + 5000
    scale, offset = model.output_calibration
    raw = (model.predict(x, 'YX') - 110) / (2000 - 110)  # B's typical range (conftest.TINY_STATS)
    uncalibrated = C2GAN.from_folder(model.logdir)
    uncalibrated.output_calibration = None
    v = (uncalibrated.predict(x, 'YX') - 110) / (2000 - 110)
    np.testing.assert_allclose(raw, scale * v + offset, rtol=1e-4, atol=1e-4)
    assert model.output_range() == pytest.approx(calibrated_range(110, 2000, scale, offset))
    assert model.output_range('BtoA') == (100.0, 300.0)  # degradations are not calibrated
    assert not model.calibrates_per_image()


def test_the_default_calibrates_each_restoration_and_never_a_degradation(tiny_model, rng):
    model, history, _ = tiny_model
    assert model.config.output_calibration == 'per_image' and model.output_calibration is not None  # bioimage.io's
    assert 'out_low' in history.history  # measured either way
    assert model.calibrates_per_image() and not model.calibrates_per_image('BtoA')
    assert model.output_range() == (110.0, 2000.0)
    x = rng.random((40, 48), np.float32) * 1000 + 5000
    for out in (model.predict(x, 'YX'), model.predict(x, 'YX', n_tiles=(2, 2))):
        np.testing.assert_allclose(np.percentile(out, [1, 99.8]), [110, 2000], rtol=1e-4)


def test_output_calibration_none_keeps_b_typical_range(tmp_path):
    model, history = train_tiny(tmp_path, validation=False, epochs=1, output_calibration='none')
    assert 'out_low' in history.history  # measured either way
    assert model.output_calibration is None and model.output_range() == (110.0, 2000.0)
    assert C2GAN.from_folder(tmp_path / 'model').output_calibration is None
