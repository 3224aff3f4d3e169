"""What the early peak is: how c2GAN's restorations change after their best epoch, by band, on development sets.

On some Hagen sample types (actin 60x, mito 60x) the default's normalised PSNR peaks at epoch 2-4 of 6 and declines
by 0.5-2.5 dB, while every validation loss the package logs still falls (issue 19). This script splits each epoch's
restorations of the development pairs into what a restoration may differ from the ground truth by:

- ``psnr_normalized``: the benchmark's measure (scale and offset fitted);
- ``psnr_tone``: after the output's histogram is matched onto the ground truth's (a monotone tone curve fitted with
  ground truth): a decline of ``psnr_normalized`` that ``psnr_tone`` does not share is a tone curve, not structure;
- ``psnr_low``, ``psnr_high``: normalised PSNR of the low band (Gaussian, ``SIGMA`` px) and of the high band (the
  image minus its low band) against the ground truth's: where the content changes;

and, without ground truth, what a checkpoint rule could read: ``fidelity_low`` (normalised PSNR of the output's low
band against the input's: how far G's output departs from its input at low frequencies). Every measure is of G's
output as it is (``predict(..., lowpass_weight=0)``). Last, the lead for a repair without ground truth that became
a default (``lowband.py``): ``psnr_input_low_2`` and ``psnr_input_low_4``, the output with its low band (Gaussian, 2
or 4 px) replaced by the input's, mapped affinely onto it (:func:`c2gan_tf.lowband.input_low_band`, weight 1), with
``ssim_normalized`` and ``histogram_distance`` of the output without and with it (2 px). Per set, ``input_low`` is
the input's own low band against the ground truth's (normalised PSNR, sigma ``SIGMA``).

Reads the model folders of ``recipe.py --candidates 'the 2D default, every epoch kept' --keep DIR``
(``DIR/SET/CANDIDATE/SEED/c2GAN``, every epoch's generators in ``epochs/``) and writes ``decline.json``: per set and
seed, one row per epoch.

usage: python benchmarks/decline.py DIR [--candidate NAME]
"""
import argparse
import os

import numpy as np
from skimage.exposure import match_histograms

from c2gan_tf import metrics
from c2gan_tf.lowband import input_low_band, low_band
from quality_real import save
from real_sets import load_sets

HERE = os.path.dirname(os.path.abspath(__file__))
SIGMA = 2.0
CANDIDATE = 'the 2D default, every epoch kept'


def bands(img, sigma=SIGMA):
    """``(low, high)``: the Gaussian-smoothed image (:func:`c2gan_tf.lowband.low_band`) and the rest."""
    low = low_band(img, sigma)
    return low, np.asarray(img, np.float64) - low


def decomposition(x, gt, out):
    """The measures of the module docstring for one restoration ``out`` of input ``x`` with ground truth ``gt``."""
    (low_gt, high_gt), (low_out, high_out) = bands(gt), bands(out)
    repaired = {s: input_low_band(x, out, 'YX', 'YX', s, 1.0) for s in (2, 4)}  # each used by several measures
    return dict(psnr_normalized=metrics.psnr_normalized(gt, out),
                psnr_tone=metrics.psnr_normalized(gt, match_histograms(np.asarray(out, np.float64), gt)),
                psnr_low=metrics.psnr_normalized(low_gt, low_out),
                psnr_high=metrics.psnr_normalized(high_gt, high_out),
                fidelity_low=metrics.psnr_normalized(bands(x)[0], low_out),
                **{'psnr_input_low_%d' % s: metrics.psnr_normalized(gt, r) for s, r in repaired.items()},
                ssim_normalized=metrics.ssim_normalized(gt, out),
                ssim_input_low_2=metrics.ssim_normalized(gt, repaired[2]),
                histogram_distance=metrics.histogram_distance(gt, out),
                histogram_distance_input_low_2=metrics.histogram_distance(gt, repaired[2]))


def measure(folder, pairs):
    """One row per kept epoch: the means over ``pairs`` of :func:`decomposition`."""
    from c2gan_tf.checkpoints import kept_checkpoints
    from c2gan_tf.model import C2GAN
    rows = []
    for epoch, name in kept_checkpoints(folder).items():
        if not name.startswith('epochs/'):
            continue
        model = C2GAN.from_folder(folder, weights=name)
        values = [decomposition(x, gt, model.predict(x, 'YX', lowpass_weight=0)) for x, gt in pairs]
        rows.append(dict(epoch=epoch, **{k: float(np.mean([v[k] for v in values])) for k in values[0]}))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('keep', help='the folder recipe.py --keep wrote')
    p.add_argument('--candidate', default=CANDIDATE)
    p.add_argument('--out', default=os.path.join(HERE, 'decline.json'))
    a = p.parse_args()
    report = dict(benchmark='the early peak by band, development sets', sigma=SIGMA, runs={})
    names = sorted(n for n in os.listdir(a.keep) if os.path.isdir(os.path.join(a.keep, n, a.candidate)))
    for name, d in load_sets(names).items():
        report.setdefault('input_low', {})[name] = float(np.mean([metrics.psnr_normalized(bands(gt)[0], bands(x)[0])
                                                                  for x, gt in d['test']]))
        for seed in sorted(os.listdir(os.path.join(a.keep, name, a.candidate))):
            folder = os.path.join(a.keep, name, a.candidate, seed, 'c2GAN')
            rows = measure(folder, d['test'])
            report['runs'].setdefault(name, {})[seed] = rows
            print(name, seed)
            for k in rows[0]:
                print('  %-30s' % k, ' '.join('%7.3f' % r[k] for r in rows), flush=True)
    save(report, a.out)


if __name__ == '__main__':
    main()
