"""Intensity fidelity on 16-bit data: saturation and histograms of c2GAN, CycleGAN and CARE outputs saved as uint16.

The method's headline claim (Li et al., Fig. 2): a supervised network's output saturates at 65535 and deforms the
intensity histogram, while c2GAN keeps the histogram of real high-SNR images without saturated pixels. Measured here
on two 16-bit sets, in camera units:

- ``hagen-nucleus-u16``: the registered live-cell nuclei pair of ``../shared/data/hagen2021`` (1024x1024, very low
  SNR; the ground truth reaches 65535). A = low-SNR top-left quadrant, B = high-SNR top-right quadrant (another
  region), CARE learns from the registered top-left pair, test = the two registered quadrants of the bottom half.
- ``synthetic-u16``: synthetic scenes (:mod:`c2gan_tf.synthetic`) imaged by a dim, blurred camera (A) and a bright
  one (B) whose brightest structures come near 65535; CARE learns from B images of A's scenes; the ground truth
  of a test scene is its B camera image.

Methods: c2GAN, CycleGAN (``config.CYCLEGAN``), CARE (csbdeep, registered pairs) mapped into B's units as the GANs
are (the stored range of B's training images), and CARE with csbdeep's default normaliser (the output in the
input's range, as ``CARE.predict`` returns it). Every output is written as a user writes it (``c2gan_tf.io``'s
writer, uint16) and read back, then measured against the ground truth: histogram distance (1-Wasserstein, in
units of the ground truth's range), fraction of pixels at 65535, fraction below 0 before clipping, normalised PSNR.

Writes ``fidelity.json`` and ``fidelity.png`` (crops on one display range, intensity histograms with log counts,
a line profile through the brightest structure).

usage: python benchmarks/fidelity.py [--setting cpu|full] [--datasets hagen-nucleus-u16 synthetic-u16]
"""
import argparse
import os
import tempfile

import numpy as np

from quality_real import DATA, save, train_care, train_gan

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = ('c2GAN', 'CycleGAN', 'CARE', 'CARE (csbdeep default)')
KEYS = ('histogram_distance', 'saturated_fraction', 'negative_fraction', 'psnr_normalized')
SETTINGS = {
    'cpu': dict(patch=(64, 64), batch=8, n_first=16, disc_filters=32, epochs=6, steps=100, n_patches=96,
                n_hindsight=2, synthetic_shape=(256, 256), n_synthetic=4),
    'full': dict(patch=(128, 128), batch=4, n_first=32, disc_filters=64, epochs=50, steps=500, n_patches=128,
                 n_hindsight=2, synthetic_shape=(512, 512), n_synthetic=8),
}
#: Synthetic cameras: A dim and blurred, B bright enough that its brightest structures come near 65535.
CAMERAS = {'A': dict(psf_sigma=2.0, photons=60.0, read_noise=3.0, offset=100.0, background=0.03),
           'B': dict(psf_sigma=1.0, photons=34000.0, read_noise=3.0, offset=100.0, background=0.03)}


def load_hagen_u16(folder):
    import tifffile
    low, high = (tifffile.imread(os.path.join(folder, 'hagen2021', 'hagen_nucleus_tracking_%s_u16.tif' % k))
                 for k in ('low', 'high'))
    h, w = low.shape[0] // 2, low.shape[1] // 2
    return dict(A=[low[:h, :w]], B=[high[:h, w:]], care=([low[:h, :w]], [high[:h, :w]]),
                test=[(low[h:, :w], high[h:, :w]), (low[h:, w:], high[h:, w:])])


def make_synthetic(s, seed):
    """Unpaired A and B images of different scenes, B images of A's scenes for CARE, and two test pairs."""
    from c2gan_tf import synthetic
    rng = np.random.default_rng(seed)
    cam = {d: synthetic.microscope(d, 2, **CAMERAS[d]) for d in 'AB'}
    out = dict(A=[], B=[], care=([], []), test=[])
    for i in range(s['n_synthetic']):
        scene_a, scene_b = synthetic.scene(s['synthetic_shape'], rng), synthetic.scene(s['synthetic_shape'], rng)
        out['A'].append(synthetic.camera(scene_a, rng, **cam['A']))
        out['B'].append(synthetic.camera(scene_b, rng, **cam['B']))
        out['care'][0].append(out['A'][-1])
        out['care'][1].append(synthetic.camera(scene_a, rng, **cam['B']))
    for _ in range(2):
        scene = synthetic.scene(s['synthetic_shape'], rng)
        out['test'].append((synthetic.camera(scene, rng, **cam['A']), synthetic.camera(scene, rng, **cam['B'])))
    return out


def trained_methods(d, s, seed, basedir):
    """Yield ``(method, predict, training facts)``; ``predict`` maps a raw test image to float32 camera units."""
    from csbdeep.data import PercentileNormalizer

    from c2gan_tf import DomainNormalizer
    from c2gan_tf.data import intensity_stats
    for method in ('c2GAN', 'CycleGAN'):
        model, info = train_gan(d, s, method, seed, basedir)
        yield method, lambda x, m=model: m.predict(x, 'YX'), info
    model, info = train_care(d, s, seed, basedir)
    b = intensity_stats(d['B'])  # the range of B's training images, as the GANs store it
    yield 'CARE', lambda x: model.predict(x, 'YX', normalizer=DomainNormalizer(b['low'], b['high'])), info
    yield 'CARE (csbdeep default)', lambda x: model.predict(x, 'YX', normalizer=PercentileNormalizer(1, 99.8)), {}


def save_and_measure(out, gt, path):
    """Write a float output as uint16 with the package's writer, read it back and measure it against ``gt``."""
    from c2gan_tf import metrics
    from c2gan_tf.io import read_image, write_image
    clipping = write_image(path, out, 'YX', dtype='uint16')
    saved, _ = read_image(path)
    return saved, dict(histogram_distance=metrics.histogram_distance(gt, saved),
                       saturated_fraction=metrics.saturated_fraction(saved),
                       negative_fraction=clipping.n_below / clipping.n,
                       psnr_normalized=metrics.psnr_normalized(gt, saved))


def run_dataset(name, d, s, seed, report, out):
    """Train and measure every method on one dataset; returns the first test image's outputs for the figure."""
    gt_all = np.concatenate([gt.ravel() for _, gt in d['test']])
    entry = report['datasets'][name] = dict(metrics={}, training={}, parameters=s, n_test_images=len(d['test']),
                                            ground_truth_saturated_fraction=float(np.mean(gt_all >= 65535)),
                                            ground_truth_max=int(gt_all.max()))
    shown = {'input': d['test'][0][0], 'ground truth': d['test'][0][1]}
    with tempfile.TemporaryDirectory() as basedir:
        for method, predict, info in trained_methods(d, s, seed, basedir):
            per_image = []
            for i, (x, gt) in enumerate(d['test']):
                saved, m = save_and_measure(predict(x), gt, os.path.join(basedir, 'out%d.tif' % i))
                per_image.append(m)
                shown.setdefault(method, saved)
            entry['metrics'][method] = {k: float(np.mean([m[k] for m in per_image])) for k in KEYS}
            entry['training'][method] = info
            report['wall_seconds'] = report.get('wall_seconds', 0) + info.get('train_seconds', 0)
            save(report, out)
            print('%s %s: ' % (name, method) + '  '.join('%s %.5f' % (k, entry['metrics'][method][k]) for k in KEYS),
                  flush=True)
    return shown


def figure(shown, report, path, crop=192):
    """Per dataset: crops on one display range, log-count histograms, a profile through the brightest structure."""
    import matplotlib.pyplot as plt
    from scipy.ndimage import gaussian_filter

    from c2gan_tf.plot import plot_histograms
    names = ['ground truth'] + list(METHODS)
    fig, axes = plt.subplots(len(shown), len(names) + 2, figsize=(2.6 * (len(names) + 2), 2.8 * len(shown)),
                             squeeze=False)
    for r, (dataset, images) in enumerate(shown.items()):
        gt = images['ground truth'].astype(np.float32)
        y, x = np.unravel_index(np.argmax(gaussian_filter(gt, 2)), gt.shape)  # brightest structure, not hot pixel
        size = min(crop, *gt.shape)
        y0, x0 = (int(np.clip(c - size // 2, 0, n - size)) for c, n in zip((y, x), gt.shape))
        vmax = np.percentile(gt, 99.99)
        for c, name in enumerate(names):
            ax = axes[r, c]
            ax.imshow(images[name][y0:y0 + size, x0:x0 + size], cmap='magma', vmin=0, vmax=vmax)
            ax.axhline(y - y0, color='c', lw=0.5)
            ax.set_xticks([]), ax.set_yticks([])
            metrics = report['datasets'][dataset]['metrics'].get(name)
            ax.set_title(name if metrics is None else '%s\nhist %.3f, sat %.2g%%'
                         % (name, metrics['histogram_distance'], 100 * metrics['saturated_fraction']), fontsize=8)
        axes[r, 0].set_ylabel(dataset, fontsize=9)
        plot_histograms([images[n] for n in names], names, ax=axes[r, -2], saturation=65535)
        axes[r, -2].legend(fontsize=5)
        for name in names:
            axes[r, -1].plot(np.asarray(images[name][y, x0:x0 + size], np.float32), lw=0.8, label=name)
        axes[r, -1].axhline(65535, color='k', ls='--', lw=0.8)
        axes[r, -1].set_title('profile along the line in the crops', fontsize=8)
        axes[r, -1].set_xlabel('x (pixels)')
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--setting', choices=sorted(SETTINGS), default='cpu')
    p.add_argument('--datasets', nargs='+', choices=('hagen-nucleus-u16', 'synthetic-u16'),
                   default=['hagen-nucleus-u16', 'synthetic-u16'])
    p.add_argument('--data', default=DATA)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=os.path.join(HERE, 'fidelity.json'))
    a = p.parse_args()
    s = SETTINGS[a.setting]
    report = dict(benchmark='intensity fidelity on 16-bit data, outputs saved as uint16', setting=a.setting,
                  seed=a.seed, datasets={})
    shown = {}
    for name in a.datasets:
        d = load_hagen_u16(a.data) if name == 'hagen-nucleus-u16' else make_synthetic(s, a.seed)
        shown[name] = run_dataset(name, d, s, a.seed, report, a.out)
    figure(shown, report, os.path.splitext(a.out)[0] + '.png')
    for name, entry in report['datasets'].items():
        print('%s (ground truth: max %d, %.2g%% at 65535)' % (name, entry['ground_truth_max'],
                                                             100 * entry['ground_truth_saturated_fraction']))
        for m, v in entry['metrics'].items():
            print('  %-24s' % m + ''.join('%12.5f' % v[k] for k in KEYS))


if __name__ == '__main__':
    main()
