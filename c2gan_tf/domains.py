"""What a model knows of each domain, as one record: the saliency settings of its structural masks (threshold,
polarity, steepness, sigma: chosen from the training patches, both domains together), the quantiles of its
normalised training intensities and their power spectrum (for the QC's distances to domain B), the quantiles of
its smoothed intensities (for the low-pass loss), for domain A the pooled percentiles of its normalised training
intensities (for the output calibration, :mod:`c2gan_tf.calibration`) and, when known, its intensity range
(``low``/``high``, the units outputs are mapped into). Kept in a model folder as ``domain_stats.json``, written and
read here only."""

import json
import os

import numpy as np

from .atomic import write_json_atomic
from .calibration import patch_sample, pooled_percentiles
from .config import DOMAINS
from .metrics import otsu_threshold
from .qc import domain_quantiles, domain_spectrum
from .sampling import draw_patches

STATS_FILE = 'domain_stats.json'
#: The settings of a domain's saliency mask (:func:`c2gan_tf.losses.saliency_mask`).
SALIENCY_KEYS = ('threshold', 'polarity', 'steepness', 'sigma')


def estimate_domain_stats(patches, settings, intensity_stats=None, lowpass_sigma=None, percentiles=(1.0, 99.8)):
    """The record of both domains from their normalised training patches.

    Parameters
    ----------
    patches : dict
        ``{'A': X_A, 'B': X_B}``.
    settings : dict
        Each domain's saliency settings (:meth:`c2gan_tf.Config.saliency`; ``None`` = automatic).
    intensity_stats : dict or None
        ``{'A': {'low', 'high'}, 'B': ...}`` (:func:`c2gan_tf.data.create_unpaired_patches`), or ``None``.
    lowpass_sigma : float or None
        The Gaussian of the low-pass loss (``Config.lowpass_sigma``), or ``None``.
    percentiles : tuple(float, float)
        The pooled percentiles kept (``Config.norm_pmin``, ``norm_pmax``).

    Returns
    -------
    dict
        ``{'A': {...}, 'B': {...}}``: ``threshold``, ``polarity``, ``steepness``, ``sigma``, ``quantiles``,
        ``spectrum`` (:func:`c2gan_tf.qc.domain_spectrum`), for A ``percentiles`` (pooled over a sample of the
        patches, :func:`c2gan_tf.calibration.pooled_percentiles`), with ``intensity_stats`` ``low`` and ``high``,
        and with ``lowpass_sigma`` ``lowpass_quantiles`` (the same of patches smoothed by that Gaussian).
    """
    saliency = domains_saliency(patches, settings)
    out = {d: dict(saliency[d], quantiles=domain_quantiles(patches[d]), spectrum=domain_spectrum(patches[d]),
                   **(intensity_stats or {}).get(d, {}))
           for d in DOMAINS}
    out['A']['percentiles'] = pooled_percentiles(patch_sample(patches['A']), *percentiles)
    if lowpass_sigma:
        for d in DOMAINS:
            out[d]['lowpass_quantiles'] = domain_quantiles(patches[d], sigma=lowpass_sigma)
    return out


def saliency_of(stats):
    """The saliency settings of both domains in a record (``{'A': {...}, 'B': {...}}`` with :data:`SALIENCY_KEYS`);
    records written before masks were smoothed have no sigma: their masks stay per pixel (sigma 0)."""
    return {d: {k: stats[d].get(k, 0.0) if k == 'sigma' else stats[d][k] for k in SALIENCY_KEYS} for d in DOMAINS}


def lowpass_quantiles_of(stats):
    """Each domain's quantiles of smoothed intensities in a record (``None`` where it has none: written before the
    low-pass loss existed)."""
    return {d: stats[d].get('lowpass_quantiles') for d in DOMAINS}


def read_domain_stats(folder):
    """The record of a model folder (``{}`` when it has none)."""
    path = os.path.join(str(folder), STATS_FILE)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def write_domain_stats(stats, folder):
    """Write the record into a model folder (atomically)."""
    write_json_atomic(stats, os.path.join(str(folder), STATS_FILE))


def auto_saliency(patches, threshold=None, polarity=None, steepness=50.0, sigma=2.0, max_patches=1000, seed=0):
    """Saliency settings of a domain, filling in what is ``None`` from its normalised training patches.

    The patches' channel mean is smoothed as the structural loss smooths it (a Gaussian of ``sigma`` pixels,
    :func:`c2gan_tf.losses.gaussian_smooth`); the threshold is Otsu's on these values, so it separates each
    domain's structure from its background rather than its noise from its noise. The polarity is +1 (bright
    foreground) when fewer values lie above the threshold than below it, -1 otherwise. Both are estimated on at
    most ``max_patches`` patches drawn at random (so that memory-mapped data is not read whole).

    Returns
    -------
    dict
        ``threshold``, ``polarity``, ``steepness`` and ``sigma``.
    """
    from .losses import gaussian_smooth
    values = _smoothed_sample(patches, gaussian_smooth, sigma, max_patches, seed)
    if threshold is None:
        threshold = otsu_threshold(values)
    if polarity is None:
        polarity = 1 if np.mean(values > threshold) <= 0.5 else -1
    return dict(threshold=float(threshold), polarity=int(polarity), steepness=float(steepness), sigma=float(sigma))


def domains_saliency(patches, settings):
    """Saliency settings of both domains (:func:`auto_saliency`), chosen together.

    - One polarity for both: a restoration does not invert contrast. When neither domain's is set, it is chosen on
      domain B (the good images, where structure stands out from the background); when one is set, the other
      takes it. Chosen on each domain alone, a blurred domain A whose smoothed foreground covered more than half of
      its patches (seen in 3D) got the opposite polarity of B's, and the structural loss asked G to invert its input.
    - Masks that cover alike: domain B's threshold (unless set) is Otsu's on its smoothed patches; domain A's
      (unless set) is the one above which the same fraction of A's smoothed patches lies as of B's above B's.
      Unpaired but similar samples hold about as much structure in either domain, and a restoration G(x) holds what
      B's images hold; Otsu's threshold on a blurred A instead marked 55 % of a 3D volume where B's marked 1 %, and
      the structural loss then asked G to spread haze. (On W2S, where both are sharp enough, the two rules agree:
      33 % and 32 %.)

    Parameters
    ----------
    patches : dict
        ``{'A': X_A, 'B': X_B}``: normalised training patches of each domain.
    settings : dict
        ``{'A': {...}, 'B': {...}}``: each domain's settings (:meth:`c2gan_tf.Config.saliency`; ``None`` =
        automatic).
    """
    from .losses import gaussian_smooth
    settings = {d: dict(settings[d]) for d in DOMAINS}
    given = [settings[d]['polarity'] for d in ('B', 'A') if settings[d]['polarity'] is not None]
    b = auto_saliency(patches['B'], **dict(settings['B'], polarity=given[0] if given else None))
    a = dict(settings['A'], polarity=b['polarity'])
    if a['threshold'] is None:
        values = {d: _smoothed_sample(patches[d], gaussian_smooth, settings[d]['sigma']) for d in DOMAINS}
        fraction = np.mean(b['polarity'] * (values['B'] - b['threshold']) > 0)
        q = 1 - fraction if b['polarity'] == 1 else fraction
        a['threshold'] = float(np.quantile(values['A'], q))
    return dict(A=auto_saliency(patches['A'], **a), B=b)


def _smoothed_sample(patches, smooth, sigma, max_patches=1000, seed=0):
    """The smoothed channel mean of at most ``max_patches`` patches drawn at random (as :func:`auto_saliency`)."""
    patches = draw_patches(patches, max_patches, seed)
    return np.asarray(smooth(np.asarray(patches, np.float32).mean(axis=-1), sigma))
