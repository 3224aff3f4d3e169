"""Does the content-change map (c2gan_tf.qc) show where a restoration changed content? Measured where the truth is known.

1. **Synthetic, changes made on purpose.** A c2GAN trained on synthetic data restores test images; into its
   restorations, structures are added (bright blobs) and removed (regions replaced by background) on purpose, and
   the map of each changed restoration (against its input, with the cycle through F) is scored against the pixels
   changed: ROC AUC (goal >= 0.9). The content that plain CycleGAN changes on its own (its output's structure where
   the ground truth's differs: masks of output and ground truth disagree) is scored the same way.
2. **Real pairs.** A c2GAN per real set (``real_sets.py``) restores the test images; per region (16 x 16 pixels) the
   map's mean is compared with the true error ``|G(x) - ground truth|`` (both normalised CSBDeep-style): Spearman
   correlation per set (goal >= 0.5).
3. **Checkpoints.** The same runs keep every epoch's weights (``train_save_every=1``); the no-ground-truth ranking
   (:func:`c2gan_tf.qc.checkpoint_score`) is compared with the ranking by normalised PSNR on the test images:
   Spearman correlation per set (goal >= 0.7).

Writes ``trust.json`` and ``trust.png``. Resumable per part and set.

usage: python benchmarks/trust.py [--setting cpu] [--sets w2s-dev hagen-nucleus ...]
"""
import argparse
import json
import os
import tempfile

import numpy as np

from quality_real import save
from real_sets import load_sets

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = {
    'cpu': dict(synthetic=dict(shape=(256, 256), n_images=8, n_test=4, patch=(64, 64), n_patches=32, batch=4,
                               epochs=8, steps=100, n_first=16, disc_filters=32),
                real=dict(patch=(64, 64), n_patches=32, batch=8, epochs=8, steps=100, n_first=16, disc_filters=32,
                          n_test=8)),
}
REGION = 16


def config(s, **kwargs):
    from c2gan_tf import Config
    return Config('YX', unet_n_first=s['n_first'], disc_n_filters=s['disc_filters'], train_patch_size=s['patch'],
                  train_batch_size=s['batch'], train_epochs=s['epochs'], train_steps_per_epoch=s['steps'],
                  train_seed=0, train_tensorboard=False, **kwargs)


def train(images_a, images_b, s, basedir, name, **kwargs):
    from c2gan_tf import C2GAN
    from c2gan_tf.data import UnpairedData, create_unpaired_patches
    X_A, X_B, _, stats = create_unpaired_patches(UnpairedData.from_arrays(images_a, images_b, 'YX'), s['patch'],
                                                 s['n_patches'], seed=0, verbose=False)
    model = C2GAN(config(s, **kwargs), name, basedir)
    model.train(X_A, X_B, intensity_stats=stats)
    return model


def roc_auc(scores, labels):
    """Area under the ROC curve of ``scores`` for binary ``labels`` (the Mann-Whitney statistic, ties halved)."""
    from scipy.stats import rankdata
    scores, labels = np.ravel(scores), np.ravel(labels).astype(bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def normalised(model, x):
    """The input as the model sees it (its percentile normalisation)."""
    from csbdeep.utils import normalize
    return normalize(np.asarray(x, np.float32), model.config.norm_pmin, model.config.norm_pmax)


def map_of(model, x, y):
    """The QC map of a (possibly changed) normalised restoration ``y`` of the normalised input ``x``."""
    from c2gan_tf import qc
    cycle = model.trainer.F.predict(y[np.newaxis, ..., np.newaxis], verbose=0)[0, ..., 0]
    s = model.trainer.saliency
    return qc.quality_control(x, y, cycle, s['A'], s['B'], spatial=[0, 1])[0]


def edit(y, rng, n=3, radius=6):
    """``y`` with ``n`` bright blobs added and ``n`` discs of structure replaced by background; the changed mask."""
    yy, xx = np.indices(y.shape)
    out, changed = y.copy(), np.zeros(y.shape, bool)
    background = np.percentile(y, 10)
    bright = np.percentile(y, 99.5)
    structure = np.argwhere(y > np.percentile(y, 95))
    for k in range(2 * n):
        if k < n:  # add a blob where there is background
            c = rng.integers(radius, np.array(y.shape) - radius)
            disc = (yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= radius ** 2
            out[disc] = np.maximum(out[disc], bright)
        else:  # remove structure
            c = structure[rng.integers(len(structure))]
            disc = (yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= radius ** 2
            out[disc] = background
        changed |= disc & (np.abs(out - y) > 0.1)
    return out, changed


def synthetic_part(s, basedir):
    from c2gan_tf import synthetic
    from c2gan_tf.config import CYCLEGAN
    from c2gan_tf.qc import mask
    d = synthetic.generate(2, s['shape'], n_a=s['n_images'], n_b=s['n_images'], n_test=s['n_test'], seed=7)
    c2gan = train(d['A'], d['B'], s, basedir, 'c2gan')
    cyclegan = train(d['A'], d['B'], s, basedir, 'cyclegan', **CYCLEGAN)
    rng = np.random.default_rng(0)
    on_purpose, own = [], []
    for x_raw, gt in zip(d['test_A'], d['test_GT']):
        x = normalised(c2gan, x_raw)
        y = c2gan.trainer.G.predict(x[np.newaxis, ..., np.newaxis], verbose=0)[0, ..., 0]
        changed_y, changed = edit(y, rng)
        on_purpose.append(roc_auc(map_of(c2gan, x, changed_y), changed))
        # CycleGAN's own changes: where its output's mask and the ground truth's disagree
        xc = normalised(cyclegan, x_raw)
        yc = cyclegan.trainer.G.predict(xc[np.newaxis, ..., np.newaxis], verbose=0)[0, ..., 0]
        s_b = cyclegan.trainer.saliency['B']
        gt_n = normalised(cyclegan, gt)
        truth = np.abs(mask(yc, s_b, [0, 1]) - mask(gt_n, s_b, [0, 1])) > 0.5
        own.append(roc_auc(map_of(cyclegan, xc, yc), truth))
    own = [a for a in own if a is not None]
    return dict(auc_changes_made=float(np.mean(on_purpose)), auc_changes_made_per_image=on_purpose,
                auc_cyclegan_own_changes=float(np.mean(own)) if own else None, auc_cyclegan_per_image=own)


def regions(v, size=REGION):
    h, w = (np.array(v.shape) // size) * size
    return v[:h, :w].reshape(h // size, size, w // size, size).mean(axis=(1, 3)).ravel()


def real_part(d, s, basedir):
    from scipy.stats import spearmanr

    from c2gan_tf import metrics
    from c2gan_tf.checkpoints import rank_checkpoints
    model = train(d['A'], d['B'], s, basedir, 'c2gan', train_save_every=1)
    test = d['test'][::max(1, len(d['test']) // s['n_test'])]
    correlations = []
    for x, gt in test:
        restored, result = model.predict(x, 'YX', return_qc=True)
        g, r = metrics.normalize_pair(gt.astype(np.float32), restored)
        correlations.append(float(spearmanr(regions(result.map), regions(np.abs(r - g)))[0]))
    rows = rank_checkpoints(model.logdir, [x for x, _ in test], 'YX', [gt for _, gt in test])
    rows = sorted(rows, key=lambda r: r['epoch'])
    psnr = [r['psnr_normalized'] for r in rows]
    old = [r['changed_fraction'] + r['distance_to_b'] for r in rows]  # the score before it took spectra
    return dict(map_error_spearman=float(np.mean(correlations)), map_error_spearman_per_image=correlations,
                checkpoint_ranking_spearman=float(spearmanr([-r['score'] for r in rows], psnr)[0]),
                checkpoint_ranking_spearman_without_spectrum=float(spearmanr(-np.array(old), psnr)[0]),
                score_choice_gap_db=float(max(psnr) - psnr[int(np.argmin([r['score'] for r in rows]))]),
                score_choice_gap_db_without_spectrum=float(max(psnr) - psnr[int(np.argmin(old))]),
                checkpoints=[{k: v for k, v in r.items() if k != 'restored'} for r in rows])


def figure(report, path):
    import matplotlib.pyplot as plt
    names = list(report.get('real', {}))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].bar(names, [report['real'][n]['map_error_spearman'] for n in names])
    axes[0].axhline(0.5, ls='--', color='k')
    axes[0].set_title('map vs true error per region (Spearman)', fontsize=9)
    axes[1].bar(names, [report['real'][n]['checkpoint_ranking_spearman'] for n in names])
    axes[1].axhline(0.7, ls='--', color='k')
    axes[1].set_title('checkpoint ranking vs PSNR (Spearman)', fontsize=9)
    for ax in axes:
        ax.tick_params(axis='x', rotation=30, labelsize=8)
    syn = report.get('synthetic')
    if syn:
        fig.suptitle('synthetic: ROC AUC %.3f (changes made), %.3f (CycleGAN\'s own changes)'
                     % (syn['auc_changes_made'], syn['auc_cyclegan_own_changes'] or float('nan')), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--setting', choices=sorted(SETTINGS), default='cpu')
    p.add_argument('--sets', nargs='+', default=['w2s-dev', 'hagen-nucleus', 'hagen-actin-20x-noise1'])
    p.add_argument('--out', default=os.path.join(HERE, 'trust.json'))
    a = p.parse_args()
    s = SETTINGS[a.setting]
    report = dict(benchmark='content-change map and checkpoint QC against known truth', setting=a.setting,
                  parameters=s, real={})
    if os.path.exists(a.out):
        with open(a.out) as f:
            report = json.load(f)
    if 'synthetic' not in report:
        with tempfile.TemporaryDirectory() as basedir:
            report['synthetic'] = synthetic_part(s['synthetic'], basedir)
        save(report, a.out)
        print('synthetic:', {k: v for k, v in report['synthetic'].items() if not k.endswith('image')}, flush=True)
    for name, d in load_sets([n for n in a.sets if n not in report['real']]).items():
        with tempfile.TemporaryDirectory() as basedir:
            report['real'][name] = real_part(d, s['real'], basedir)
        save(report, a.out)
        r = report['real'][name]
        print('%s: map-error Spearman %.3f, checkpoint ranking Spearman %.3f'
              % (name, r['map_error_spearman'], r['checkpoint_ranking_spearman']), flush=True)
    figure(report, os.path.splitext(a.out)[0] + '.png')


if __name__ == '__main__':
    main()
