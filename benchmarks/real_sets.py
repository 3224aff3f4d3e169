"""The real-data sets of the quality benchmarks, from ``../shared/data`` (never committed).

Each set is a dict: ``A`` and ``B`` (lists of unpaired training images of each domain), ``care`` (registered
pairs for supervised CARE: the degraded and good images of A's fields), ``test`` (registered pairs ``(degraded,
ground truth)`` that no method trains on), ``groups`` (a label per test pair, or ``None``) and ``train_noisy``
(the degraded images a self-supervised method such as Noise2Void trains on: A's).

W2S (widefield, fields of view 1-80, three stains each; single frame ``avg1`` vs 400-frame average ``avg400``):

- ``w2s``: the README's truly unpaired split: A = avg1 of fields 1-30, B = avg400 of fields 31-60, test = fields
  61-80.
- ``w2s-swap``: A and B swapped between the field ranges: A = avg1 of fields 31-60, B = avg400 of fields 1-30.
- ``w2s-blur``: a degradation that a denoiser cannot undo: A = avg400 of fields 1-30 blurred by a Gaussian PSF
  (sigma 4 px) with Poisson-Gaussian noise (0.5 photons per grey level, read noise 2 grey levels), B = avg400 of
  fields 31-60 as they are, test = the same degradation of fields 61-80 against their averages.
- ``w2s-dev`` and ``w2s-blur-dev``: for choosing the recipe, never for reporting it: A = fields 1-20, B = fields
  21-40, test = 12 pairs of fields 41-60 (the benchmark's test fields 61-80 are never looked at).

Hagen et al. 2021 (``hagen-<type>``, one model each): A = low-SNR top-left quadrant, B = high-SNR top-right
quadrant, test = the registered bottom half (two quadrants). ``hagen-<type>-dev``, for choosing settings, never for
reporting them: the same A and B, measured on A's own quadrant against its registered high-SNR one (the bottom half
is never looked at).
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', '..', 'shared', 'data')
#: Degradation of ``w2s-blur``: Gaussian PSF sigma (px), photons per grey level, read noise (grey levels).
BLUR = dict(sigma=4.0, photons_per_level=0.5, read_noise=2.0)
#: The two Hagen sample types flagged as weak tests (membrane: hardly noisy; mito-60x-noise2: a nearly empty ground
#: truth): they run, and are reported apart from the goals.
HAGEN_WEAK = ('hagen-membrane', 'hagen-mito-60x-noise2')
W2S_SETS = ('w2s', 'w2s-swap', 'w2s-blur')
DEV_SETS = ('w2s-dev', 'w2s-blur-dev')


def degrade(img, seed, sigma=BLUR['sigma'], photons_per_level=BLUR['photons_per_level'],
            read_noise=BLUR['read_noise']):
    """A clean image blurred by a Gaussian PSF, with Poisson (shot) and Gaussian (read) noise, in grey levels."""
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(seed)
    blurred = gaussian_filter(np.asarray(img, np.float64), sigma, mode='reflect')
    photons = rng.poisson(np.clip(blurred, 0, None) * photons_per_level)
    return (photons / photons_per_level + rng.normal(0, read_noise, img.shape)).astype(np.float32)


def blur_only(img, sigma=BLUR['sigma']):
    """The blur of ``w2s-blur`` without noise: what a perfect denoiser that does not deblur would return."""
    from scipy.ndimage import gaussian_filter
    return gaussian_filter(np.asarray(img, np.float32), sigma, mode='reflect')


def _w2s_arrays(folder):
    f = np.load(os.path.join(folder, 'w2s', 'w2s_train_fov001-080_u8.npz'))
    return f['avg1'], f['avg400'], f['fov'], f['channel']


def _fields(fov, first, last):
    return (fov >= first) & (fov <= last)


def w2s_set(name, folder=DATA):
    """One W2S set by name (see the module's docstring)."""
    low, high, fov, channel = _w2s_arrays(folder)
    dev = name.endswith('-dev')
    a_fields, b_fields = {True: ((1, 20), (21, 40)), False: ((1, 30), (31, 60))}[dev]
    if name == 'w2s-swap':
        a_fields, b_fields = b_fields, a_fields
    a, b = _fields(fov, *a_fields), _fields(fov, *b_fields)
    t = np.flatnonzero(_fields(fov, 41, 60) if dev else _fields(fov, 61, 80))
    if dev:
        t = t[np.linspace(0, len(t) - 1, 12).astype(int)]
    if name.startswith('w2s-blur'):
        index = np.arange(len(high))
        degraded = {int(i): degrade(high[i], seed=int(i)) for i in np.concatenate([np.flatnonzero(a), t])}
        a_imgs = [degraded[int(i)] for i in index[a]]
        test = [(degraded[int(i)], high[i]) for i in t]
    else:
        a_imgs = list(low[a])
        test = [(low[i], high[i]) for i in t]
    return dict(A=a_imgs, B=list(high[b]), care=(a_imgs, list(high[a])), test=test,
                groups=['stain%d' % channel[i] for i in t], train_noisy=a_imgs)


def hagen_sets(folder=DATA):
    """Every Hagen sample type: ``{'hagen-<type>': set}``."""
    f = np.load(os.path.join(folder, 'hagen2021', 'hagen_gigadb_pairs_u8.npz'))
    out = {}
    for name in sorted(k[:-4] for k in f.files if k.endswith('_low')):
        low, high = f[name + '_low'], f[name + '_high']
        h, w = low.shape[0] // 2, low.shape[1] // 2
        a = [low[:h, :w]]
        out['hagen-' + name] = dict(A=a, B=[high[:h, w:]], care=(a, [high[:h, :w]]),
                                    test=[(low[h:, :w], high[h:, :w]), (low[h:, w:], high[h:, w:])],
                                    groups=None, train_noisy=a)
    return out


def hagen_dev_set(hagen_set):
    """The development version of a Hagen set: measured on A's own quadrant, not on the test half."""
    return dict(hagen_set, test=[(hagen_set['A'][0], hagen_set['care'][1][0])])


def load_sets(names, folder=DATA):
    """The sets named (``'hagen'`` stands for every Hagen type), in order: ``{name: set}``."""
    out, hagen = {}, None
    for name in names:
        if name.startswith('w2s'):
            out[name] = w2s_set(name, folder)
            continue
        hagen = hagen if hagen is not None else hagen_sets(folder)
        if name == 'hagen':
            out.update(hagen)
        elif name.endswith('-dev') and name[:-4] in hagen:
            out[name] = hagen_dev_set(hagen[name[:-4]])
        elif name in hagen:
            out[name] = hagen[name]
        else:
            raise SystemExit('unknown data set %r (w2s sets: %s, %s; hagen, or one of %s, each also with -dev)'
                             % (name, ', '.join(W2S_SETS), ', '.join(DEV_SETS), ', '.join(sorted(hagen))))
    return out
