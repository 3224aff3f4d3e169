import numpy as np
import pytest

from c2gan_tf import metrics


def test_psnr_known_value():
    gt = np.zeros((10, 10))
    gt[0, 0] = 1.0
    x = gt + 0.1
    assert metrics.psnr(gt, x) == pytest.approx(20.0)
    assert metrics.psnr(gt, gt) == float('inf')
    assert metrics.psnr(gt, x, data_range=10) == pytest.approx(40.0)
    with pytest.raises(ValueError, match='shape'):
        metrics.psnr(gt, x[:5])


def test_ssim_matches_scikit_image(rng):
    skm = pytest.importorskip('skimage.metrics')
    gt = rng.random((40, 50))
    x = gt + rng.normal(0, 0.2, gt.shape)
    assert metrics.ssim(gt, x, data_range=1) == pytest.approx(skm.structural_similarity(gt, x, data_range=1), rel=1e-6)
    vol = rng.random((12, 20, 20))
    vx = vol * 0.5 + 0.2
    assert metrics.ssim(vol, vx, data_range=1) == pytest.approx(
        skm.structural_similarity(vol, vx, data_range=1), rel=1e-6)


def test_ssim_bounds(rng):
    gt = rng.random((32, 32))
    assert metrics.ssim(gt, gt) == pytest.approx(1.0)
    assert metrics.ssim(gt, rng.random((32, 32))) < 0.2


def test_normalized_metrics_ignore_scale_and_offset(rng):
    gt = rng.random((32, 32))
    x = gt + rng.normal(0, 0.05, gt.shape)
    assert metrics.psnr_normalized(gt, 300 * x + 1000) == pytest.approx(metrics.psnr_normalized(gt, x), rel=1e-6)
    assert metrics.ssim_normalized(gt, 7 * x - 3) == pytest.approx(metrics.ssim_normalized(gt, x), rel=1e-6)
    assert metrics.psnr(gt, 300 * x + 1000) < 0


def test_histogram_distance(rng):
    gt = rng.random(10000)
    assert metrics.histogram_distance(gt, rng.permutation(gt)) == pytest.approx(0, abs=1e-12)
    lo, hi = np.percentile(gt, [0.1, 99.9])
    assert metrics.histogram_distance(gt, gt + 0.1) == pytest.approx(0.1 / (hi - lo), rel=1e-6)
    assert metrics.histogram_distance(gt, gt[:500]) < 0.05  # sizes may differ


def test_saturated_fraction():
    assert metrics.saturated_fraction(np.array([0, 65535, 65535, 3], np.uint16)) == 0.5
    assert metrics.saturated_fraction(np.array([0, 255], np.uint8)) == 0.5
    assert metrics.saturated_fraction(np.array([70000.0, 1.0, 2.0, 3.0])) == 0.25
    assert metrics.saturated_fraction(np.array([1.0, 2.0]), level=2) == 0.5


def test_otsu_and_mask_iou(rng):
    values = np.concatenate([rng.normal(0.1, 0.02, 1000), rng.normal(0.8, 0.02, 200)])
    assert 0.2 < metrics.otsu_threshold(values) < 0.7
    with pytest.raises(ValueError, match='values that are not all equal'):
        metrics.otsu_threshold(np.ones(10))
    img = np.zeros((32, 32))
    img[8:16, 8:16] = 1
    img += rng.normal(0, 0.01, img.shape)
    assert metrics.mask_iou(img, 5 * img + 3) == pytest.approx(1.0)
    shifted = np.roll(img, 4, axis=1)
    assert metrics.mask_iou(img, shifted) == pytest.approx(32 / 96, abs=0.02)


def test_evaluate_collects_every_metric(rng):
    gt = rng.random((32, 32))
    out = metrics.evaluate(gt, gt * 2 + 1, reference_input=gt)
    assert out['psnr_normalized'] > 100 and out['ssim_normalized'] == pytest.approx(1)
    assert out['mask_iou_with_input'] == pytest.approx(1) and out['saturated_fraction'] == 0
    assert set(out) == {'psnr', 'psnr_normalized', 'ssim', 'ssim_normalized', 'histogram_distance',
                        'saturated_fraction', 'mask_iou_with_input'}
