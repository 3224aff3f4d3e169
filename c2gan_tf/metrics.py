"""Image quality metrics: PSNR, SSIM (raw and CSBDeep-style normalised), histogram distance, saturation, intensity
ceiling, Fourier ring correlation (resolution), mask IoU.

Plain numpy/scipy functions on images of any dimension (2D or 3D, no channel axis unless stated).
"""

import numpy as np
from csbdeep.utils import normalize, normalize_minmse
from scipy import ndimage
from scipy.stats import wasserstein_distance


def _pair(gt, x):
    gt, x = np.asarray(gt, np.float64), np.asarray(x, np.float64)
    if gt.shape != x.shape:
        raise ValueError('images differ in shape: %s (ground truth) and %s' % (gt.shape, x.shape))
    return gt, x


def psnr(gt, x, data_range=None):
    """Peak signal-to-noise ratio of ``x`` against ``gt`` in dB.

    Parameters
    ----------
    data_range : float or None
        Range of the ground truth; by default ``gt.max() - gt.min()``.
    """
    gt, x = _pair(gt, x)
    if data_range is None:
        data_range = gt.max() - gt.min()
    mse = np.mean((gt - x) ** 2)
    return float('inf') if mse == 0 else float(10 * np.log10(data_range ** 2 / mse))


def ssim(gt, x, data_range=None, win_size=7):
    """Structural similarity of ``x`` against ``gt`` (Wang et al. 2004, uniform window as scikit-image's default).

    Parameters
    ----------
    data_range : float or None
        Range of the ground truth; by default ``gt.max() - gt.min()``.
    win_size : int
        Side of the (hyper)cubic window.
    """
    gt, x = _pair(gt, x)
    if min(gt.shape) < win_size:
        raise ValueError('images (%s) are smaller than the SSIM window (%d)' % (gt.shape, win_size))
    if data_range is None:
        data_range = gt.max() - gt.min()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    n = win_size ** gt.ndim
    cov_norm = n / (n - 1)

    def mean(v):
        return ndimage.uniform_filter(v, size=win_size)

    mu_g, mu_x = mean(gt), mean(x)
    var_g = cov_norm * (mean(gt * gt) - mu_g ** 2)
    var_x = cov_norm * (mean(x * x) - mu_x ** 2)
    cov = cov_norm * (mean(gt * x) - mu_g * mu_x)
    s = ((2 * mu_g * mu_x + c1) * (2 * cov + c2)) / ((mu_g ** 2 + mu_x ** 2 + c1) * (var_g + var_x + c2))
    crop = tuple(slice((win_size - 1) // 2, -((win_size - 1) // 2) or None) for _ in gt.shape)
    return float(s[crop].mean())


def normalize_pair(gt, x, pmin=0.1, pmax=99.9):
    """CSBDeep-style comparison: ``gt`` normalised by percentiles, ``x`` fitted to it by scale and offset."""
    gt, x = _pair(gt, x)
    gt = normalize(gt, pmin, pmax, dtype=np.float64)
    return gt, normalize_minmse(x, gt)


def psnr_normalized(gt, x):
    """PSNR after :func:`normalize_pair` (data range 1): fair across intensity units."""
    return psnr(*normalize_pair(gt, x), data_range=1.0)


def ssim_normalized(gt, x, win_size=7):
    """SSIM after :func:`normalize_pair` (data range 1)."""
    return ssim(*normalize_pair(gt, x), data_range=1.0, win_size=win_size)


def histogram_distance(gt, x, pmin=0.1, pmax=99.9):
    """1-Wasserstein distance between the intensity distributions of ``x`` and ``gt``.

    Both are put on one normalised scale, that of the ground truth (its ``pmin`` and ``pmax`` percentiles map
    to 0 and 1), so the distance is in units of the ground truth's intensity range. Images need not be aligned
    or of the same size.
    """
    gt, x = np.asarray(gt, np.float64).ravel(), np.asarray(x, np.float64).ravel()
    lo, hi = np.percentile(gt, [pmin, pmax])
    scale = max(hi - lo, 1e-20)
    return float(wasserstein_distance((gt - lo) / scale, (x - lo) / scale))


def saturated_fraction(x, level=None):
    """Fraction of pixels at or above the saturation ``level``.

    Parameters
    ----------
    level : float or None
        By default the largest value of an integer image's type, and 65535 (the 16-bit camera range) for
        floating-point images.
    """
    x = np.asarray(x)
    if level is None:
        level = np.iinfo(x.dtype).max if np.issubdtype(x.dtype, np.integer) else 65535
    return float(np.mean(x >= level))


def above_ceiling_fraction(gt, x):
    """Fraction of the pixels of ``x`` brighter than the brightest pixel of the ground truth ``gt`` (same units).

    An output in the ground truth's units that overshoots its intensities (bright regions burnt out) shows here;
    normalised PSNR, which fits scale and offset, does not see it.
    """
    return float(np.mean(np.asarray(x) > np.max(gt)))


def frc_curve(a, b):
    """Fourier ring correlation of two equally sized 2D images.

    Both are centred on their means and multiplied by a Hann window (so that the image borders add no spurious
    frequencies); the correlation of their Fourier transforms is then taken over rings one frequency bin wide.

    Returns
    -------
    frequencies, frc : numpy.ndarray
        Ring frequencies in cycles per pixel (up to the Nyquist frequency 0.5) and the correlation of each ring.
    """
    a, b = _pair(a, b)
    if a.ndim != 2:
        raise ValueError('Fourier ring correlation takes 2D images, got %d dimensions' % a.ndim)
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa, fb = (np.fft.fft2((v - v.mean()) * window) for v in (a, b))
    fy, fx = np.meshgrid(np.fft.fftfreq(a.shape[0]), np.fft.fftfreq(a.shape[1]), indexing='ij')
    n_rings = min(a.shape) // 2
    ring = np.round(np.hypot(fy, fx) * 2 * n_rings).astype(int).ravel()
    keep = ring < n_rings

    def sums(v):
        return np.bincount(ring[keep], weights=v.ravel()[keep], minlength=n_rings)
    num = sums(np.real(fa * np.conj(fb)))
    den = np.sqrt(sums(np.abs(fa) ** 2) * sums(np.abs(fb) ** 2))
    frc = np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)
    return np.arange(n_rings) / (2.0 * n_rings), frc


def frc_resolution(gt, x, threshold=1 / 7):
    """Resolution of ``x`` against the ground truth ``gt``: the period (pixels) where their Fourier ring
    correlation first falls below ``threshold`` (1/7, the usual criterion); smaller is finer.

    Details of the ground truth finer than this are not reproduced by ``x`` (blurred away, or drowned in noise or
    invented texture). 2 (the Nyquist period) when the correlation never falls below the threshold.
    """
    frequencies, frc = frc_curve(gt, x)
    below = np.flatnonzero(frc[1:] < threshold)
    return 2.0 if below.size == 0 else float(1.0 / frequencies[below[0] + 1])


def otsu_threshold(values, bins=256):
    """Otsu's threshold of a set of values: the histogram split that maximises the between-class variance.

    Where several splits tie (an empty gap between the classes), the middle of them is returned.
    """
    values = np.asarray(values, np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0 or values.min() == values.max():
        raise ValueError('Otsu threshold needs values that are not all equal')
    counts, edges = np.histogram(values, bins=bins)
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(counts)[:-1].astype(np.float64)
    w1 = values.size - w0
    s0 = np.cumsum(counts * centers)[:-1]
    m0 = s0 / np.maximum(w0, 1)
    m1 = (np.sum(counts * centers) - s0) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    best = np.flatnonzero(between >= between.max() * (1 - 1e-12))  # a gap between classes ties: take its middle
    return float(edges[1:-1][best].mean())


def foreground_mask(img, threshold=None, pmin=1, pmax=99.8):
    """Foreground of an image: normalised by percentiles, above ``threshold`` (Otsu's by default)."""
    v = normalize(np.asarray(img, np.float64), pmin, pmax, dtype=np.float64)
    return v > (otsu_threshold(v) if threshold is None else threshold)


def mask_iou(a, b, threshold_a=None, threshold_b=None):
    """Intersection over union of the foreground masks of two images (content preservation without ground truth)."""
    ma, mb = foreground_mask(a, threshold_a), foreground_mask(b, threshold_b)
    if ma.shape != mb.shape:
        raise ValueError('images differ in shape: %s and %s' % (ma.shape, mb.shape))
    union = np.logical_or(ma, mb).sum()
    return 1.0 if union == 0 else float(np.logical_and(ma, mb).sum() / union)


def evaluate(gt, img, reference_input=None):
    """All metrics of an image against ground truth, as a dict of floats.

    Parameters
    ----------
    gt, img : numpy.ndarray
        Ground truth and the image to judge (same shape).
    reference_input : numpy.ndarray or None
        The input the image was restored from: adds ``mask_iou_with_input`` (content preservation).
    """
    out = dict(psnr=psnr(gt, img), psnr_normalized=psnr_normalized(gt, img), ssim=ssim(gt, img),
               ssim_normalized=ssim_normalized(gt, img), histogram_distance=histogram_distance(gt, img),
               saturated_fraction=saturated_fraction(img))
    if reference_input is not None:
        out['mask_iou_with_input'] = mask_iou(reference_input, img)
    return out
