import numpy as np
import pytest
from scipy import ndimage

from c2gan_tf.lowband import affine_of, input_low_band, low_band, moments, reach, sigmas, with_input_low_band


def scene(rng, shape=(96, 80)):
    """A fine pattern (noise smoothed by 1 px) and, separately, a coarse bump (a broad Gaussian)."""
    fine = ndimage.gaussian_filter(rng.random(shape), 1.0) * 50
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    bump = 40 * np.exp(-((yy - shape[0] / 3) ** 2 + (xx - shape[1] / 2) ** 2) / (2 * 12 ** 2))
    return fine, bump


def test_the_input_low_band_removes_a_coarse_change_and_keeps_the_fine_structure(rng):
    fine, bump = scene(rng)
    x = 3 * fine + 100  # the input: the fine structure in other units, no bump
    y = fine + bump  # G's output added a bright region the input does not have
    repaired = input_low_band(x, y, 'YX', 'YX', 2.0, 1.0)
    # the bump is gone but for an offset (the fit keeps y's mean) and a little that reached the high band
    assert np.std(repaired - fine) < 0.25 * np.std(bump)  # 0.16 here
    high = lambda v: v - ndimage.gaussian_filter(v, 1.0)
    assert np.std(high(repaired) - high(y)) < 0.15 * np.std(high(y))  # the fine structure is y's (0.09 here)
    half = input_low_band(x, y, 'YX', 'YX', 2.0, 0.5)
    np.testing.assert_allclose(half, (y + repaired) / 2, atol=1e-9)  # weight: a fraction of the change


def test_input_units_do_not_matter_and_an_output_like_its_input_is_unchanged(rng):
    fine, bump = scene(rng)
    x, y = fine + bump, fine + 0.3 * bump + rng.normal(0, 1, fine.shape)
    a = input_low_band(x, y, 'YX', 'YX', 2.0, 1.0)
    np.testing.assert_allclose(input_low_band(7 * x - 20, y, 'YX', 'YX', 2.0, 1.0), a, atol=1e-9)
    np.testing.assert_allclose(input_low_band(x, 2 * x + 5, 'YX', 'YX', 2.0, 1.0), 2 * x + 5, atol=1e-9)
    assert input_low_band(x, y, 'YX', 'YX', 2.0, 0.0) is y
    out = input_low_band(x, y.astype(np.float32), 'YX', 'YX', 2.0, 0.5)
    assert out.dtype == np.float32 and out.shape == y.shape
    with pytest.raises(ValueError, match='differ in shape'):
        input_low_band(x[:-1], y, 'YX', 'YX', 2.0, 0.5)


def test_a_constant_input_gives_no_coarse_structure():
    a, b = affine_of(*moments(np.full((8, 8), 3.0), np.arange(64.0).reshape(8, 8)))
    assert a == 0 and b == pytest.approx(31.5)


def test_stacks_are_smoothed_plane_by_plane_and_channels_fitted_each_alone(rng):
    fine, bump = scene(rng, (48, 40))
    x, y = fine + bump, fine
    one = input_low_band(x, y, 'YX', 'YX', 2.0, 1.0)
    stack = input_low_band(np.stack([x, x]), np.stack([y, y]), 'TYX', 'YX', 2.0, 1.0)
    np.testing.assert_allclose(stack, np.stack([one, one]), atol=1e-9)  # no smoothing across T
    # a second channel in other units: the same result for it, in its own units
    xc, yc = np.stack([x, 10 * x + 1], -1), np.stack([y, 10 * y + 1], -1)
    both = input_low_band(xc, yc, 'YXC', 'YX', 2.0, 1.0)
    np.testing.assert_allclose(both[..., 0], one, atol=1e-9)
    np.testing.assert_allclose(both[..., 1], 10 * one + 1, atol=1e-8)


def test_blocks_moments_add_up_to_the_whole_image_s_and_the_low_band_is_scipy_s_gaussian(rng):
    x, y = rng.random((40, 30, 2)), rng.random((40, 30, 2))
    whole = moments(x, y, channel=2)
    parts = [moments(x[a:b], y[a:b], channel=2) for a, b in ((0, 7), (7, 32), (32, 40))]
    for w, p in zip(whole, zip(*parts)):
        np.testing.assert_allclose(w, np.sum(p, axis=0), rtol=1e-12)
    assert whole[0].tolist() == [1200, 1200] and reach(2.0) == 8 and reach(4.0) == 16
    np.testing.assert_allclose(low_band(x[..., 0], (2.0, 2.0)), ndimage.gaussian_filter(x[..., 0], 2.0), atol=1e-12)


def test_a_stack_done_plane_by_plane_equals_the_whole_stack_at_once(rng):
    """The channel axis first, then the stack's: the planes are taken along Z, each with both channels."""
    x, y = rng.random((2, 3, 40, 30)) * 100, rng.random((2, 3, 40, 30)).astype(np.float32)
    s = sigmas('CZYX', 'YX', 2.0)
    low_x, low_y = low_band(x, s), low_band(y, s)
    expected = with_input_low_band(y, low_x, low_y, *affine_of(*moments(low_x, low_y, 0)), 0.5, 0)
    got = input_low_band(x, y, 'CZYX', 'YX', 2.0, 0.5)
    assert got.dtype == np.float32 and got.shape == y.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
