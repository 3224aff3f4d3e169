"""Restoration quality on real paired low/high-SNR fluorescence images (Hagen et al. 2021, CC0).

Every registered pair is cut into quadrants. c2GAN and CycleGAN learn from low-SNR quadrant 0 (domain A) and
high-SNR quadrant 1 (domain B): different regions, so nothing is paired. Supervised CARE learns from the
registered pairs of quadrant 0. All are evaluated on the registered pairs of quadrant 3, which no method saw.
The 8-bit copies were stretched to 0..255 image by image, so low and high do not share a scale: the metrics that
matter are the CSBDeep-style normalised PSNR and SSIM, and the histogram distance on the ground truth's scale.
Methods, training budget and metrics are those of ``quality_synthetic.py``.

Writes ``quality_hagen.json`` and ``quality_hagen.png``.

usage: python benchmarks/quality_hagen.py [--setting cpu|full] [--data DIR] [--out DIR]
"""
import argparse
import json
import os
import tempfile
import time

import numpy as np

from quality_synthetic import KEYS, METHODS, SETTINGS, goals, non_local_means, to_b_units, train_care, train_gan

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', '..', 'shared', 'data', 'hagen2021')


def quadrants(img):
    h, w = img.shape[0] // 2, img.shape[1] // 2
    return [img[:h, :w], img[:h, w:], img[h:, :w], img[h:, w:]]


def load_pairs(folder):
    f = np.load(os.path.join(folder, 'hagen_gigadb_pairs_u8.npz'))
    names = sorted(k[:-4] for k in f.files if k.endswith('_low'))
    return {n: (f[n + '_low'], f[n + '_high']) for n in names}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--setting', choices=sorted(SETTINGS), default='cpu')
    p.add_argument('--data', default=DATA)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=HERE)
    a = p.parse_args()
    from csbdeep.utils import normalize

    from c2gan_tf import DomainNormalizer, metrics
    from c2gan_tf.data import UnpairedData, create_unpaired_patches
    s = SETTINGS[a.setting]
    pairs = load_pairs(a.data)
    q = {n: (quadrants(low), quadrants(high)) for n, (low, high) in pairs.items()}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as basedir:
        unpaired = UnpairedData.from_arrays([q[n][0][0] for n in q], [q[n][1][1] for n in q], 'YX')
        X_A, X_B, _, stats = create_unpaired_patches(unpaired, s['patch'][2], s['n_patches'], seed=a.seed,
                                                     verbose=False)
        c2gan, t_c2gan = train_gan(X_A, X_B, stats, 'YX', s, 2, a.seed, 5.0, basedir, 'c2gan')
        cyclegan, t_cyclegan = train_gan(X_A, X_B, stats, 'YX', s, 2, a.seed, 0.0, basedir, 'cyclegan')
        care, t_care = train_care([q[n][0][0] for n in q], [q[n][1][0] for n in q], 'YX', s, 2, a.seed, basedir)
        to_b = DomainNormalizer(stats['B']['low'], stats['B']['high'])
        per_image, examples = {}, {}
        for n in q:
            x, gt = q[n][0][3], q[n][1][3].astype(np.float32)
            out = {'input': to_b_units(normalize(x.astype(np.float32), 1, 99.8), stats['B']),
                   'non-local means': to_b_units(non_local_means(x), stats['B']),
                   'CycleGAN': cyclegan.predict(x, 'YX'), 'c2GAN': c2gan.predict(x, 'YX'),
                   'CARE (paired)': care.predict(x, 'YX', normalizer=to_b)}
            per_image[n] = {m: metrics.evaluate(gt, out[m], reference_input=x) for m in METHODS}
            examples[n] = dict(out, **{'ground truth': gt})
    summary = {m: {k: float(np.mean([per_image[n][m][k] for n in per_image])) for k in KEYS} for m in METHODS}
    report = dict(benchmark='restoration quality on real paired images (Hagen et al. 2021), quadrant split',
                  setting=a.setting, parameters=s, seed=a.seed, wall_seconds=time.perf_counter() - start,
                  train_seconds={'c2GAN': t_c2gan, 'CycleGAN': t_cyclegan, 'CARE (paired)': t_care},
                  metrics=summary, goals=goals(summary), per_image=per_image)
    with open(os.path.join(a.out, 'quality_hagen.json'), 'w') as f:
        json.dump(report, f, indent=2)
    figure(examples, os.path.join(a.out, 'quality_hagen.png'))
    print('%-16s' % 'method' + ''.join('%20s' % k for k in KEYS))
    for m in METHODS:
        print('%-16s' % m + ''.join('%20.4f' % summary[m][k] for k in KEYS))
    for goal, ok in report['goals'].items():
        print('  %-50s %s' % (goal, 'yes' if ok else 'NO'))


def figure(examples, path, crop=256):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(METHODS) + ['ground truth']
    fig, axes = plt.subplots(len(examples), len(names), figsize=(2.4 * len(names), 2.4 * len(examples)),
                             squeeze=False)
    for r, (dataset, ex) in enumerate(examples.items()):
        for c, name in enumerate(names):
            img = ex[name][:crop, :crop]
            lo, hi = np.percentile(img, [0.5, 99.8])
            axes[r, c].imshow(img, cmap='magma', vmin=lo, vmax=hi)
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(name, fontsize=9)
        axes[r, 0].set_ylabel(dataset, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=60)


if __name__ == '__main__':
    main()
