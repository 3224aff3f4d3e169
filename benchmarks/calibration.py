"""Mappings of c2GAN's output into domain B's units, measured on trained models of the development sets.

A trained generator's output is in B's normalised units, mapped into B's intensities by B's typical range
(``low + v * (high - low)``). Its intensities may still differ from B's as a whole (brighter, more contrast, another
tone curve). Each mapping here is fitted without ground truth, from G's outputs on A's training patches and B's
training patches (both normalised), and applied to the restorations of the development pairs:

- ``none``: the package's output as it is;
- ``affine``: the scale and offset that bring G's quantiles nearest B's (least squares over 99 quantiles, 1 %..99 %);
- ``affine, tails``: the same over 999 quantiles, 0.1 %..99.9 %;
- ``quantile map``: the monotone map of G's 1001 quantiles onto B's (histogram matching; linear between them,
  slope 1 beyond);
- ``per image``: each output's own 1 % and 99.8 % percentiles mapped to 0 and 1 (no training data);
- ``typical patch range``: the medians over patches of G's outputs' 1 % and 99.8 % percentiles mapped to the same
  medians of B's patches;
- ``typical image range``: the medians over A's whole training images of their restorations' 1 % and 99.8 %
  percentiles mapped to 0 and 1 (as B's typical range is: :func:`c2gan_tf.data.intensity_stats`);
- ``pooled percentiles``: the 1 % and 99.8 % percentiles of G's outputs of (a sample of) A's training patches, all
  together, mapped to the same of B's training patches;
- ``input percentiles``: the same of G's outputs mapped to the same of its inputs, the patches of A: a restoration
  keeps its input's normalised range (each image's percentiles at 0 and 1, as B's images are), which B's typical
  range then maps into B's units. The package's output calibration (``Config.output_calibration``,
  :mod:`c2gan_tf.calibration`), computed as training computes it, for models trained before it existed.

Reads the model folders that ``recipe.py --keep DIR`` kept (``DIR/SET/CANDIDATE/SEED/c2GAN``), draws the same
patches again (same seed), and writes ``calibration.json``: per set, candidate and seed, the metrics of
``quality_real.py`` (means over the development pairs) for each mapping, with the mapping's parameters.

usage: python benchmarks/calibration.py DIR [--candidate NAME]
"""
import argparse
import json
import os

import numpy as np

from quality_real import KEYS, evaluate, save, setting_of
from real_sets import load_sets

HERE = os.path.dirname(os.path.abspath(__file__))
MAPPINGS = ('none', 'affine', 'affine, tails', 'quantile map', 'per image', 'typical patch range',
            'typical image range', 'pooled percentiles', 'input percentiles')


def affine_fit(q_from, q_to):
    """Scale and offset ``(a, b)`` minimising the squared differences of ``a * q_from + b`` and ``q_to``."""
    a, b = np.polyfit(np.asarray(q_from, np.float64), np.asarray(q_to, np.float64), 1)
    return float(a), float(b)


def quantile_map(v, q_from, q_to):
    """Histogram matching: ``v`` through the monotone piecewise-linear map of ``q_from`` onto ``q_to``; outside
    ``q_from``'s range, slope 1 from its ends."""
    q_from, q_to = np.maximum.accumulate(np.asarray(q_from)), np.asarray(q_to)
    out = np.interp(v, q_from, q_to)
    return np.where(v < q_from[0], q_to[0] + v - q_from[0], np.where(v > q_from[-1], q_to[-1] + v - q_from[-1], out))


def fitted_mappings(outputs_a, patches_b, outputs_images_a, pooled, package):
    """Each mapping of :data:`MAPPINGS` as a function of normalised intensities, fitted on G's outputs of A's
    training patches and on B's training patches (or on G's outputs of A's whole training images; ``pooled`` and
    ``package``: the calibrations ``(scale, offset)`` of the last two); with its parameters."""
    from csbdeep.utils import normalize
    from c2gan_tf.calibration import calibration
    from c2gan_tf.data import intensity_stats

    def typical(images):
        r = intensity_stats(images)
        return r['low'], r['high']

    def affine(scale, offset):
        return (lambda v: scale * v + offset), dict(scale=scale, offset=offset)
    g, b = np.ravel(outputs_a), np.ravel(patches_b)
    mid, tails, fine = np.linspace(0.01, 0.99, 99), np.linspace(0.001, 0.999, 999), np.linspace(0, 1, 1001)
    a1, b1 = affine_fit(np.quantile(g, mid), np.quantile(b, mid))
    a2, b2 = affine_fit(np.quantile(g, tails), np.quantile(b, tails))
    qg, qb = np.quantile(g, fine), np.quantile(b, fine)
    return {'none': (lambda v: v, {}),
            'affine': affine(a1, b1),
            'affine, tails': affine(a2, b2),
            'quantile map': (lambda v: quantile_map(v, qg, qb), {}),
            'per image': ((lambda v: normalize(v, 1, 99.8)), {}),
            'typical patch range': affine(*calibration(typical(outputs_a), typical(patches_b))),
            'typical image range': affine(*calibration(typical(outputs_images_a), (0.0, 1.0))),
            'pooled percentiles': affine(*pooled),
            'input percentiles': affine(*package)}


def measure(folder, d, s, seed):
    """The metrics of every mapping for the model in ``folder`` (trained by ``recipe.py`` on set ``d``)."""
    from c2gan_tf import C2GAN
    from c2gan_tf.calibration import calibration, patch_sample, pooled_percentiles
    from c2gan_tf.data import UnpairedData, create_unpaired_patches
    X_A, X_B, _, stats = create_unpaired_patches(UnpairedData.from_arrays(d['A'], d['B'], 'YX'), s['patch'],
                                                 s['n_patches'], seed=seed, verbose=False)
    n_a, n_b = max(1, len(X_A) // 10), max(1, len(X_B) // 10)
    model = C2GAN(None, 'c2GAN', folder)
    model.output_calibration = None  # 'none': B's typical range only, whichever version trained the model
    rng = np.random.default_rng(0)
    train_a = X_A[n_a:][np.sort(rng.choice(len(X_A) - n_a, min(500, len(X_A) - n_a), replace=False))]
    outputs_a = model.keras_model.predict(train_a, batch_size=8, verbose=0)
    low, high = stats['B']['low'], stats['B']['high']
    restored = [(gt, (model.predict(x, 'YX') - low) / (high - low)) for x, gt in d['test']]
    images_a = [(model.predict(x, 'YX') - low) / (high - low) for x in d['A']]
    c = model.config  # the package's calibration, as training measures it (c2gan_tf.calibration)
    sample_a = patch_sample(X_A[n_a:])
    outputs = pooled_percentiles(model.keras_model.predict(sample_a, verbose=0), c.norm_pmin, c.norm_pmax)
    pooled = calibration(outputs, pooled_percentiles(patch_sample(X_B[n_b:]), c.norm_pmin, c.norm_pmax))
    package = calibration(outputs, pooled_percentiles(sample_a, c.norm_pmin, c.norm_pmax))
    out = {}
    for name, (mapping, params) in fitted_mappings(outputs_a, X_B[n_b:], images_a, pooled, package).items():
        scores = [evaluate(gt, low + mapping(v) * (high - low)) for gt, v in restored]
        out[name] = dict({k: float(np.mean([sc[k] for sc in scores])) for k in KEYS}, **params)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('keep', help="the folder that recipe.py --keep kept the runs in")
    p.add_argument('--candidate', default='the 2D default of 2026-12-06, kept')
    p.add_argument('--out', default=os.path.join(HERE, 'calibration.json'))
    a = p.parse_args()
    report = dict(benchmark='mappings of the output into B units, development sets', mappings=list(MAPPINGS),
                  runs={})
    if os.path.exists(a.out):
        with open(a.out) as f:
            report = json.load(f)
    for name in sorted(os.listdir(a.keep)):
        runs = os.path.join(a.keep, name, a.candidate)
        if not os.path.isdir(runs):
            continue
        d = load_sets([name])[name]
        for seed in sorted(os.listdir(runs)):
            entry = report['runs'].setdefault(name, {}).setdefault(a.candidate, {})
            if seed in entry or not os.path.exists(os.path.join(runs, seed, 'c2GAN', 'weights_last.weights.h5')):
                continue
            entry[seed] = measure(os.path.join(runs, seed), d, setting_of('cpu', name), int(seed))
            save(report, a.out)
            for m, r in entry[seed].items():
                print('%s seed %s %-14s' % (name, seed, m) + '  '.join('%s %.4f' % (k, r[k]) for k in KEYS), flush=True)


if __name__ == '__main__':
    main()
