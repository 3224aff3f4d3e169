"""Deterministic synthetic fluorescence data: unpaired low-SNR (A) and high-SNR (B) images, and test pairs.

A scene (nuclei, filaments, puncta; values about 0..1) is imaged by a microscope model: Gaussian PSF blur,
``photons`` expected photons at unit brightness, Poisson shot noise, Gaussian read noise and a camera offset,
stored as uint16. Domain A uses a wider PSF and few photons, domain B a narrow PSF and many. The ground truth of
a test pair is the noise-free domain-B image of the test scene (float32, in domain B's units, offset included).
"""

import numpy as np
from scipy import ndimage

#: Default imaging of each domain (PSF sigma in pixels per axis is set by :func:`microscope`).
MICROSCOPES = {
    'A': dict(psf_sigma=2.0, photons=25.0, read_noise=3.0, offset=100.0, background=0.03),
    'B': dict(psf_sigma=1.0, photons=600.0, read_noise=3.0, offset=100.0, background=0.03),
}


def _smooth_noise(shape, sigma, rng):
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field / (field.std() + 1e-12)


def scene(shape, rng, n_nuclei=None, n_filaments=None, n_puncta=None):
    """A synthetic fluorescence scene of nuclei, filaments and puncta, values about 0..1.

    Parameters
    ----------
    shape : tuple of int
        ``(Y, X)`` or ``(Z, Y, X)``.
    rng : numpy.random.Generator
    n_nuclei, n_filaments, n_puncta : int or None
        Counts of each structure; by default proportional to the image area.
    """
    shape = tuple(shape)
    ndim = len(shape)
    if ndim not in (2, 3):
        raise ValueError('scene shape must be 2D or 3D, got %s' % (shape,))
    area = shape[-1] * shape[-2] / 256 ** 2
    n_nuclei = int(round(10 * area)) if n_nuclei is None else n_nuclei
    n_filaments = int(round(12 * area)) if n_filaments is None else n_filaments
    n_puncta = int(round(150 * area)) if n_puncta is None else n_puncta
    grid = np.indices(shape, dtype=np.float32)
    img = np.zeros(shape, np.float32)

    # nuclei: ellipsoids with soft edges and a textured interior
    texture = 0.75 + 0.15 * _smooth_noise(shape, 2.0, rng)
    for _ in range(n_nuclei):
        center = rng.uniform(0, shape)
        radii = rng.uniform(8, 18, ndim) * (np.array([0.5] + [1.0] * (ndim - 1)) if ndim == 3 else 1)
        r = np.sqrt(sum(((g - c) / s) ** 2 for g, c, s in zip(grid, center, radii)))
        nucleus = 1 / (1 + np.exp((r - 1) * 8))
        img = np.maximum(img, rng.uniform(0.4, 0.8) * nucleus * texture)

    # filaments: smooth random walks drawn as thin lines
    lines = np.zeros(shape, np.float32)
    for _ in range(n_filaments):
        n_steps = int(rng.integers(100, 300))
        direction = rng.standard_normal(ndim)
        pos = rng.uniform(0, shape)
        for _ in range(n_steps):
            direction = direction + 0.15 * rng.standard_normal(ndim)
            if ndim == 3:
                direction[0] *= 0.3
            direction /= np.linalg.norm(direction)
            pos = pos + direction
            idx = tuple(np.round(pos).astype(int))
            if all(0 <= i < s for i, s in zip(idx, shape)):
                lines[idx] = rng.uniform(0.6, 1.0)
    img += ndimage.gaussian_filter(lines, 0.7) * 3.0

    # puncta: bright points
    points = np.zeros(shape, np.float32)
    idx = tuple(rng.integers(0, s, n_puncta) for s in shape)
    points[idx] = rng.uniform(0.5, 1.0, n_puncta)
    img += ndimage.gaussian_filter(points, 0.8) * 2 * np.pi * 0.8 ** 2 * (1 if ndim == 2 else 2.0)
    return np.clip(img, 0, None).astype(np.float32)


def microscope(domain='A', ndim=2, axial_ratio=2.0, **overrides):
    """Imaging parameters of a domain (see :data:`MICROSCOPES`), with the PSF sigma per axis.

    In 3D, the axial sigma is ``axial_ratio`` times the lateral one (in units of the lateral pixel size).
    """
    params = dict(MICROSCOPES[domain], **overrides)
    s = params['psf_sigma']
    params['psf_sigma'] = (s,) * 2 if ndim == 2 else (axial_ratio * s, s, s)
    return params


def blur(img, psf_sigma):
    """Optical blur with a Gaussian PSF."""
    return ndimage.gaussian_filter(img.astype(np.float32), psf_sigma, mode='reflect')


def expected_image(img, psf_sigma, photons, offset, background, **_):
    """Noise-free camera image (float32) of a scene: blurred, scaled to photons, plus background and offset."""
    return (photons * (blur(img, psf_sigma) + background) + offset).astype(np.float32)


def camera(img, rng, psf_sigma, photons, read_noise, offset, background):
    """Noisy uint16 camera image of a scene: Poisson shot noise on the blurred signal, Gaussian read noise."""
    signal = photons * (blur(img, psf_sigma) + background)
    counts = rng.poisson(np.clip(signal, 0, None)) + rng.normal(0, read_noise, img.shape) + offset
    return np.clip(np.round(counts), 0, 65535).astype(np.uint16)


def generate(ndim=2, shape=None, n_a=4, n_b=4, n_test=1, seed=0, paired=False, z_step=1, axial_ratio=2.0):
    """Unpaired training images of both domains and paired test images with ground truth.

    Every image shows a different scene, so A and B share no content (unpaired by construction).

    Parameters
    ----------
    ndim : int
        2 or 3.
    shape : tuple of int or None
        Image shape; default ``(256, 256)`` in 2D, ``(32, 128, 128)`` in 3D.
    n_a, n_b, n_test : int
        Numbers of domain-A training images, domain-B training images and test pairs.
    seed : int
        Seed; the same seed gives the same data.
    paired : bool
        Also image every domain-A training scene as domain B would (``A_paired_B``): registered pairs for a
        supervised baseline (CARE). Drawn from a random stream of its own, so the other images do not change.
    z_step : int
        3D: the Z step in units of the lateral pixel size, as in real stacks (2-5): scenes are made and imaged on
        an isotropic grid ``z_step`` times finer in Z, then every ``z_step``-th plane is kept.
    axial_ratio : float
        3D: the PSF's axial sigma in units of its lateral one (on the isotropic grid).

    Returns
    -------
    dict
        ``A``, ``B``: lists of uint16 images; ``test_A``: list of uint16 domain-A images; ``test_GT``: list of
        float32 noise-free domain-B images of the same scenes; with ``paired``, ``A_paired_B``.
    """
    if shape is None:
        shape = (256, 256) if ndim == 2 else (32, 128, 128)
    if len(shape) != ndim:
        raise ValueError('shape %s does not have %d dimensions' % (tuple(shape), ndim))
    rng = np.random.default_rng(seed)
    mic_a, mic_b = (microscope(d, ndim, axial_ratio) for d in 'AB')
    fine = tuple(shape) if ndim == 2 or z_step == 1 else (shape[0] * z_step,) + tuple(shape[1:])

    def planes(img):  # the planes of a stack taken every z_step on the fine grid
        return img if fine == tuple(shape) else img[z_step // 2::z_step]
    out = dict(A=[], B=[], test_A=[], test_GT=[])
    pair_rng = np.random.default_rng([seed, 1])
    for _ in range(n_a):
        s = scene(fine, rng)
        out['A'].append(planes(camera(s, rng, **mic_a)))
        if paired:
            out.setdefault('A_paired_B', []).append(planes(camera(s, pair_rng, **mic_b)))
    for _ in range(n_b):
        out['B'].append(planes(camera(scene(fine, rng), rng, **mic_b)))
    for _ in range(n_test):
        s = scene(fine, rng)
        out['test_A'].append(planes(camera(s, rng, **mic_a)))
        out['test_GT'].append(planes(expected_image(s, **mic_b)))
    return out
