"""How much of a restoration's low band to take from its input: Gaussian sigma and weight, on development sets.

Where the default's quality falls after an early best epoch, it falls in the low band (``decline.py``). Prediction
can put the input's low band (Gaussian, ``sigma`` px) into G's output, a fraction ``weight`` of it, mapped affinely
onto the output's own (:mod:`c2gan_tf.lowband`; ``Config.output_lowpass_weight``, ``output_lowpass_sigma``). This
script measures every epoch of the models that ``recipe.py --candidates 'the 2D default, every epoch kept' --keep
DIR`` kept, with each (sigma, weight) of ``VARIANTS``, on the development pairs: normalised PSNR and SSIM, histogram
distance, fraction above the ground truth's ceiling, FRC resolution. Each output is what ``predict`` gives with that
setting (G runs once per epoch and image: the normalised input and output are reused for every variant).

Writes ``lowband.json``: per set, seed and variant the per-epoch rows, and per variant a summary over all runs: the
last epoch's change against no low band (PSNR mean, worst, best; SSIM mean), and the gap of the last epoch to the
best epoch of its own curve (mean, worst).

usage: python benchmarks/lowband.py DIR [--candidate NAME] [--sets ...]
"""
import argparse
import os

import numpy as np
from csbdeep.data import NoNormalizer

from c2gan_tf import metrics
from c2gan_tf.lowband import input_low_band
from quality_real import save
from real_sets import load_sets

HERE = os.path.dirname(os.path.abspath(__file__))
CANDIDATE = 'the 2D default, every epoch kept'
#: ``(sigma, weight)``; weight 0 is the network's output as it is.
VARIANTS = [(2.0, 0.0)] + [(s, w) for s in (1.0, 2.0, 3.0, 4.0) for w in (0.5, 1.0)]
MEASURES = dict(psnr_normalized=metrics.psnr_normalized, ssim_normalized=metrics.ssim_normalized,
                histogram_distance=metrics.histogram_distance, above_ceiling_fraction=metrics.above_ceiling_fraction,
                frc_resolution=metrics.frc_resolution)


def name_of(sigma, weight):
    return 'none' if weight == 0 else 'sigma %g, weight %g' % (sigma, weight)


def outputs(model, x):
    """``{variant name: output}``: what ``model.predict(x, 'YX', lowpass_weight=weight)`` gives with each variant's
    sigma, from one run of G."""
    normalizer = model.default_normalizer()
    xn = normalizer.before(np.asarray(x, np.float32), 'YX')
    y = model.predict(xn, 'YX', normalizer=NoNormalizer(), lowpass_weight=0)
    return {name_of(s, w): normalizer.after(input_low_band(xn, y, 'YX', 'YX', s, w), None, 'YX')[0]
            for s, w in VARIANTS}


def measure(folder, pairs):
    """``{variant: [row per kept epoch]}``, each row the means over ``pairs`` of :data:`MEASURES`."""
    from c2gan_tf.checkpoints import kept_checkpoints
    from c2gan_tf.model import C2GAN
    rows = {}
    for epoch, weights in kept_checkpoints(folder).items():
        if not weights.startswith('epochs/'):
            continue
        model = C2GAN.from_folder(folder, weights=weights)
        per_image = [outputs(model, x) for x, _ in pairs]
        for v in per_image[0]:
            rows.setdefault(v, []).append(dict(epoch=epoch, **{
                k: float(np.mean([f(gt, out[v]) for (_, gt), out in zip(pairs, per_image)]))
                for k, f in MEASURES.items()}))
    return rows


def summary(runs):
    """Per variant, over every (set, seed): the last epoch against no low band, and its gap to its curve's best."""
    out = {}
    all_runs = [r for seeds in runs.values() for r in seeds.values()]
    for v in all_runs[0]:
        gain = [r[v][-1]['psnr_normalized'] - r['none'][-1]['psnr_normalized'] for r in all_runs]
        ssim = [r[v][-1]['ssim_normalized'] - r['none'][-1]['ssim_normalized'] for r in all_runs]
        gap = [max(e['psnr_normalized'] for e in r[v]) - r[v][-1]['psnr_normalized'] for r in all_runs]
        out[v] = dict(n_runs=len(all_runs), psnr_gain_mean=float(np.mean(gain)), psnr_gain_min=float(np.min(gain)),
                      psnr_gain_max=float(np.max(gain)), ssim_gain_mean=float(np.mean(ssim)),
                      gap_to_best_mean=float(np.mean(gap)), gap_to_best_max=float(np.max(gap)))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('keep', help='the folder recipe.py --keep wrote')
    p.add_argument('--candidate', default=CANDIDATE)
    p.add_argument('--sets', nargs='+', default=None, help='default: every set with the candidate in DIR')
    p.add_argument('--out', default=os.path.join(HERE, 'lowband.json'))
    a = p.parse_args()
    names = a.sets or sorted(n for n in os.listdir(a.keep) if os.path.isdir(os.path.join(a.keep, n, a.candidate)))
    report = dict(benchmark="the input's low band in restorations, development sets", candidate=a.candidate,
                  variants=[dict(name=name_of(s, w), sigma=s, weight=w) for s, w in VARIANTS], runs={})
    for name, d in load_sets(names).items():
        for seed in sorted(os.listdir(os.path.join(a.keep, name, a.candidate))):
            rows = measure(os.path.join(a.keep, name, a.candidate, seed, 'c2GAN'), d['test'])
            report['runs'].setdefault(name, {})[seed] = rows
            print(name, seed)
            for v, r in rows.items():
                print('  %-22s' % v, ' '.join('%6.2f' % e['psnr_normalized'] for e in r),
                      '| last SSIM %.3f, histogram %.4f, above %.3f %%, FRC %.2f px'
                      % tuple(r[-1][k] * (100 if k.startswith('above') else 1) for k in list(MEASURES)[1:]),
                      flush=True)
            report['summary'] = summary(report['runs'])
            save(report, a.out)
    for v, s in report['summary'].items():
        print('%-22s' % v, ', '.join('%s %.3f' % kv for kv in s.items()))


if __name__ == '__main__':
    main()
