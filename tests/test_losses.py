import numpy as np
import pytest

from c2gan_tf import losses


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def test_lsgan(rng):
    real, fake = rng.normal(size=(2, 4, 4, 1)), rng.normal(size=(2, 4, 4, 1))
    d = losses.lsgan_discriminator_loss(real.astype('f4'), fake.astype('f4'))
    assert float(d) == pytest.approx(0.5 * (np.mean((real - 1) ** 2) + np.mean(fake ** 2)), rel=1e-5)
    g = losses.lsgan_generator_loss(fake.astype('f4'))
    assert float(g) == pytest.approx(np.mean((fake - 1) ** 2), rel=1e-5)
    assert float(losses.lsgan_discriminator_loss(np.ones(3, 'f4'), np.zeros(3, 'f4'))) == 0
    assert float(losses.lsgan_generator_loss(np.ones(3, 'f4'))) == 0


def test_cycle_and_identity(rng):
    x, rx, y, ry = (rng.random((2, 8, 8, 1)).astype('f4') for _ in range(4))
    expected = np.mean(np.abs(rx - x)) + np.mean(np.abs(ry - y))
    assert float(losses.cycle_loss(x, rx, y, ry)) == pytest.approx(expected, rel=1e-5)
    assert float(losses.identity_loss(x, rx, y, ry)) == pytest.approx(expected, rel=1e-5)
    assert float(losses.cycle_loss(x, x, y, y)) == 0


def test_saliency_mask_values():
    img = np.array([[[[0.0], [0.3], [0.5], [1.0]]]], 'f4')
    m = np.asarray(losses.saliency_mask(img, threshold=0.3, polarity=1, steepness=10))
    np.testing.assert_allclose(m[0, 0], sigmoid(10 * (np.array([0, 0.3, 0.5, 1.0]) - 0.3)), rtol=1e-5)
    assert m[0, 0, 1] == pytest.approx(0.5)
    dark = np.asarray(losses.saliency_mask(img, threshold=0.3, polarity=-1, steepness=10))
    np.testing.assert_allclose(dark, 1 - m, atol=1e-6)


def test_saliency_mask_uses_channel_mean():
    img = np.array([[[[0.0, 1.0]]]], 'f4')
    assert float(np.asarray(losses.saliency_mask(img, 0.5, 1, 20.0))[0, 0, 0]) == pytest.approx(0.5)


def test_structural_loss_masks_each_image_with_its_own_domain(rng):
    """S_A on x and F(y), S_B on y and G(x): the two bugs of the original code give other values."""
    x, fake_b, y, fake_a = (rng.random((2, 8, 8, 1)).astype('f4') for _ in range(4))
    sal_a = dict(threshold=0.2, polarity=1, steepness=15.0)
    sal_b = dict(threshold=0.7, polarity=1, steepness=5.0)

    def s(img, p):
        return sigmoid(p['steepness'] * p['polarity'] * (img.mean(-1) - p['threshold']))

    expected = np.mean(np.abs(s(x, sal_a) - s(fake_b, sal_b))) + np.mean(np.abs(s(y, sal_b) - s(fake_a, sal_a)))
    got = float(losses.structural_loss(x, fake_b, y, fake_a, sal_a, sal_b))
    assert got == pytest.approx(expected, rel=1e-5)
    swapped_thresholds = (np.mean(np.abs(s(x, sal_a) - s(fake_b, sal_a)))
                          + np.mean(np.abs(s(y, sal_b) - s(fake_a, sal_b))))
    assert abs(got - swapped_thresholds) > 1e-3
    # perfectly content-preserving generators give zero loss
    assert float(losses.structural_loss(x, x, y, y, sal_a, sal_a)) == 0


def reference_smooth(v, sigma):
    """Separable Gaussian smoothing in float64 with numpy alone (mirrored borders, scipy's kernel radius)."""
    k = losses.gaussian_kernel(sigma).astype(np.float64)
    r = len(k) // 2
    out = np.asarray(v, np.float64)
    for axis in range(1, out.ndim):
        out = np.apply_along_axis(lambda row: np.convolve(np.pad(row, r, mode='symmetric'), k, 'valid'), axis, out)
    return out


@pytest.mark.parametrize('shape', [(2, 32, 40), (1, 8, 16, 20)])
def test_gaussian_smooth_matches_a_numpy_reference(shape, rng):
    v = rng.random(shape).astype('f4')
    np.testing.assert_allclose(np.asarray(losses.gaussian_smooth(v, 2.0)), reference_smooth(v, 2.0), atol=1e-5)
    assert losses.gaussian_smooth(v, 0) is v
    k = losses.gaussian_kernel(2.0)
    assert len(k) == 13 and k.sum() == pytest.approx(1) and k.argmax() == 6


def test_saliency_mask_of_smoothed_image(rng):
    img = rng.random((2, 24, 24, 1)).astype('f4')
    got = np.asarray(losses.saliency_mask(img, threshold=0.5, polarity=1, steepness=50, sigma=1.5))
    np.testing.assert_allclose(got, sigmoid(50 * (reference_smooth(img[..., 0], 1.5) - 0.5)), atol=1e-4)


def test_distribution_distance_compares_intensities_and_texture_without_pairing(rng):
    from scipy.stats import wasserstein_distance as w1
    a, b = rng.random((2, 8, 8, 1)).astype('f4'), rng.normal(0.3, 0.2, (2, 8, 8, 1)).astype('f4')
    texture = [w1(np.abs(np.diff(a, axis=i)).ravel(), np.abs(np.diff(b, axis=i)).ravel()) for i in (1, 2)]
    expected = w1(a.ravel(), b.ravel()) + np.mean(texture)
    assert float(losses.distribution_distance(a, b)) == pytest.approx(expected, rel=1e-5)
    # unpaired: flipped images look the same
    assert float(losses.distribution_distance(b[::-1, :, ::-1], b)) == pytest.approx(0, abs=1e-7)
    # a smooth image and a noisy one with the same intensities differ by their texture
    smooth = np.sort(a, axis=None).reshape(a.shape)
    assert float(losses.distribution_distance(smooth, a)) > 0.1 > w1(smooth.ravel(), a.ravel())


def test_quantile_map_matches_numpy_interp(rng):
    q_from = np.sort(np.concatenate([np.zeros(5), rng.uniform(0, 1, 20)]))  # a plateau at 0, as a background gives
    q_to = np.sort(rng.uniform(0, 2, 25))
    v = rng.uniform(-0.5, 1.5, (2, 7, 9)).astype('f4')
    v[0, 0, :3] = 0  # on the plateau
    out = np.asarray(losses.quantile_map(v, q_from, q_to))
    assert out.shape == v.shape
    np.testing.assert_allclose(out, np.interp(v, q_from, q_to), atol=1e-5)


def test_lowpass_loss_accepts_denoising_and_the_domain_transfer_but_not_a_moved_region(rng):
    from scipy.ndimage import gaussian_filter
    clean = gaussian_filter(rng.uniform(0, 1, (4, 48, 48)), (0, 3, 3)).astype('f4')[..., None]
    noisy = clean + rng.normal(0, 0.1, clean.shape).astype('f4')
    q = np.linspace(0, 1, 11)
    scaled = {'A': q, 'B': 2 * q}  # B's smoothed intensities are twice A's
    denoised = 2 * clean
    brightened = denoised.copy()
    brightened[:, 10:30, 10:30] *= 1.5  # a region made brighter than the transfer says
    loss = [float(losses.lowpass_loss(noisy, fake_b, 2 * clean, clean, 4.0, scaled))
            for fake_b in (denoised, noisy, brightened)]
    assert loss[0] < 0.02  # what is left of the noise after the Gaussian, twice (the transfer doubles it)
    assert loss[1] > 5 * loss[0]  # the identity keeps A's levels, half of B's
    assert loss[2] > 5 * loss[0]


def test_lowpass_loss_affine_accepts_brightness_and_contrast_but_not_a_tone_curve(rng):
    from scipy.ndimage import gaussian_filter
    clean = gaussian_filter(rng.uniform(0, 1, (4, 48, 48)), (0, 3, 3)).astype('f4')[..., None]
    clean = (clean - clean.min()) / (clean.max() - clean.min())
    noisy = clean + rng.normal(0, 0.05, clean.shape).astype('f4')
    outputs = {'denoised, 3x contrast, offset': 3 * clean + 0.2, 'noisy': noisy,
               'gamma 3 (tone curve)': 3 * clean ** 3, 'region brightened': 3 * clean + 0.2}
    outputs['region brightened'][:, 10:30, 10:30] *= 1.5  # an array of its own
    loss = {k: float(losses.lowpass_loss(noisy, v, clean, clean, 4.0, 'affine')) for k, v in outputs.items()}
    assert loss['denoised, 3x contrast, offset'] < 0.01 and loss['noisy'] < 0.001  # noise left by the Gaussian
    assert loss['gamma 3 (tone curve)'] > 3 * loss['denoised, 3x contrast, offset']
    assert loss['region brightened'] > 5 * loss['denoised, 3x contrast, offset']
    # without a transfer, the change of contrast alone is penalised
    assert float(losses.lowpass_loss(noisy, outputs['denoised, 3x contrast, offset'], clean, clean, 4.0, None)) > 0.1
    fit = np.asarray(losses.affine_fit(clean[..., 0], 2 * clean[..., 0] - 1))
    np.testing.assert_allclose(fit, 2 * clean[..., 0] - 1, atol=1e-3)
    with pytest.raises(ValueError, match='transfer'):
        losses.lowpass_loss(noisy, noisy, clean, clean, 4.0, 'gamma')
    # a callable transfer gives each domain's target
    calls = []
    half = float(losses.lowpass_loss(noisy, noisy, clean, clean, 4.0,
                                     lambda source, output, domain: calls.append(domain) or 0.5 * source))
    assert calls == ['B', 'A'] and half > 0.1


def test_lowpass_loss_affine_batch_penalises_one_image_brightened_apart_from_the_others(rng):
    from scipy.ndimage import gaussian_filter
    clean = gaussian_filter(rng.uniform(0, 1, (4, 48, 48)), (0, 3, 3)).astype('f4')[..., None]
    clean = (clean - clean.min()) / (clean.max() - clean.min())
    apart = 2 * clean + 0.1
    apart[0] *= 1.5  # the first image brighter than the map of the others says
    loss = {t: [float(losses.lowpass_loss(clean, fake_b, clean, clean, 4.0, t)) for fake_b in (2 * clean + 0.1, apart)]
            for t in ('affine', 'affine-batch')}
    assert loss['affine'][0] < 1e-3 and loss['affine'][1] < 1e-3  # per image, each is an affine map of its input
    assert loss['affine-batch'][0] < 1e-3 and loss['affine-batch'][1] > 0.02
