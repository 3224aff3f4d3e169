"""How the default recipe was chosen: candidate settings of c2GAN on development sets, never on a test set.

The development sets (``real_sets.py``: ``w2s-dev``, ``w2s-blur-dev``) take W2S fields 1-40 for training and 12
registered pairs of fields 41-60 for measuring; the benchmark's test fields (61-80) are never looked at. The Hagen
development sets (``hagen-<type>-dev``) measure on A's own quadrant, never on the test half. Each candidate (a few
``Config`` settings changed from the package's defaults of the time, or the number of patches drawn per image)
trains at the CPU setting of ``quality_real.py`` (W2S's or Hagen's) with several seeds; after every epoch its
generator is measured on the development pairs, so the same runs also tell which checkpoint rule (last epoch,
lowest ``val_select``, ...) lands nearest the best epoch in hindsight.

Writes ``recipe.json``: per set, candidate and seed, the per-epoch curve (PSNR, SSIM, histogram distance,
fraction above the ground truth's ceiling, FRC resolution, validation losses) and the training time; then a
summary per candidate (means and standard deviations over seeds, last epoch) and per checkpoint rule (gap to the
best epoch, mean and worst). Resumable per (set, candidate, seed).

usage: python benchmarks/recipe.py [--sets w2s-dev w2s-blur-dev hagen-nucleus-dev] [--candidates ...] [--seeds 2]
                                   [--keep DIR]   (keep the model folders, e.g. to measure checkpoint signals)
                                   [--qc-scores]  (the QC scores of every epoch in the curve; slower)
"""
import argparse
import json
import os
import tempfile

import numpy as np

from c2gan_tf.config import CYCLEGAN
from quality_real import KEYS, save, setting_of, train_gan
from real_sets import DEV_SETS, load_sets

HERE = os.path.dirname(os.path.abspath(__file__))
#: Defaults of the time that a candidate's measurement relied on, spelled out so that it stays what was measured when
#: the package's defaults move: the low-pass loss was off until 2026-12-06 (then weight 10, running affine map).
LOWPASS_OFF = dict(lambda_lowpass=0.0, lowpass_transfer='quantiles')
#: Candidates: Config settings changed from the package's defaults at the time they were measured (2026-12-01:
#: exponential decay of the structural weight to 0, no identity loss), over LOWPASS_OFF.
CANDIDATES = {name: dict(LOWPASS_OFF, **settings) for name, settings in {
    'exp decay (old default)': dict(struct_decay='exp', struct_floor=0.0, lambda_identity=0.0),
    'constant structure': dict(struct_decay='constant', lambda_identity=0.0),
    'constant structure + identity': dict(struct_decay='constant', lambda_identity=5.0),
    'exp decay to a floor of 0.2': dict(struct_decay='exp', struct_floor=0.2, lambda_identity=0.0),
    # instance normalisation in the discriminators removes each feature map's scale per patch: they cannot see how
    # bright the output is, only its shapes
    'floor 0.2, discriminators without instance norm': dict(struct_decay='exp', struct_floor=0.2,
                                                            lambda_identity=0.0, disc_norm='none'),
    'no structure (CycleGAN)': dict(CYCLEGAN, lambda_identity=0.0),
    # 2026-12-03, from the defaults of that day: the low-pass loss (c2gan_tf.losses.lowpass_loss)
    'low-pass loss 10, quantile transfer': dict(lambda_lowpass=10.0),
    'low-pass loss 50, quantile transfer': dict(lambda_lowpass=50.0),
    'low-pass loss 10, no transfer': dict(lambda_lowpass=10.0, lowpass_transfer='none'),
    'low-pass loss 50, no transfer': dict(lambda_lowpass=50.0, lowpass_transfer='none'),
    'the defaults of 2026-12-03': dict(),
    # 2026-12-05: the same defaults on 8x as many patches drawn from the same images (the Hagen CPU setting draws 96
    # from one quadrant per domain; its GANs' quality falls after epoch 2-3 on some sample types)
    'the defaults, 8x the patches': dict(n_patches_factor=8),
    # 2026-12-05: the peak at epoch 2-3 of 6 is where the learning rate starts to decay; decaying from the first step
    'the defaults, learning rate decaying from the start': dict(train_lr_decay_start=0.0),
    'the defaults, constant learning rate': dict(train_lr_decay='constant'),
    # 2026-12-06: the defaults of 2026-12-03 again (unchanged since), run with --qc-scores: the no-ground-truth QC
    # scores of every epoch in the curve (of the development inputs and of A's validation patches)
    'the defaults, QC-scored': dict(),
    # the same (--qc-scores), keeping every epoch's generators (--keep DIR: to measure other checkpoint signals)
    'the defaults, every epoch kept': dict(train_save_every=1),
    # 2026-12-06: the low-pass loss with the affine transfer (lowpass_transfer='affine'): after the early peak the
    # generators learn a tone curve (their smoothed output departs from their smoothed input); brightness and
    # contrast may change, the tone curve may not
    'low-pass loss 10, affine transfer': dict(lambda_lowpass=10.0, lowpass_transfer='affine'),
    'low-pass loss 10, affine transfer per batch': dict(lambda_lowpass=10.0, lowpass_transfer='affine-batch'),
    # 2026-12-06: the affine map fitted over many batches (lowpass_transfer='affine-running'): the map per batch
    # whatever the batch size; first over about the last hundred batches (momentum 0.99 per batch: at a batch of 8,
    # 796 images; at a batch of one, 99.5), then over about 16 images (the default window); and at a batch of one
    # (the package's default batch size), where the map per batch is the map per image
    'low-pass loss 10, running affine map over 800 images': dict(lambda_lowpass=10.0, lowpass_transfer='affine-running',
                                                                 lowpass_window=796.0),
    'low-pass loss 10, running affine map over 16 images': dict(lambda_lowpass=10.0, lowpass_transfer='affine-running',
                                                                lowpass_window=16.0),
    'batch 1: the defaults': dict(train_batch_size=1),
    'batch 1: low-pass loss 10, affine transfer': dict(train_batch_size=1, lambda_lowpass=10.0,
                                                       lowpass_transfer='affine'),
    'batch 1: low-pass loss 10, running affine map over 100 images': dict(
        train_batch_size=1, lambda_lowpass=10.0, lowpass_transfer='affine-running', lowpass_window=99.5),
    'batch 1: low-pass loss 10, running affine map over 16 images': dict(
        train_batch_size=1, lambda_lowpass=10.0, lowpass_transfer='affine-running', lowpass_window=16.0),
    # 2026-12-06: the low-pass loss smooths with a Gaussian of 4 pixels, the blur of w2s-blur's inputs: it holds a
    # restoration's 4-pixel average to the input's, which is the ground truth's averaged over about 5.7 pixels, so it
    # pulls against deblurring at that scale; a wider Gaussian (8 pixels: the input's is the truth's over 8.9) less so
    'low-pass loss 10, running affine map over 16 images, sigma 8': dict(
        lambda_lowpass=10.0, lowpass_transfer='affine-running', lowpass_window=16.0, lowpass_sigma=8.0),
    # 2026-12-07: the 2D default of 2026-12-06, run again with --keep: its trained models, to measure mappings of the
    # output into B's units on them (``calibration.py``)
    'the 2D default of 2026-12-06, kept': dict(lambda_lowpass=10.0, lowpass_transfer='affine-running',
                                               lowpass_window=16.0),
    # 2026-12-07: the same keeping every epoch's generators (--keep DIR), for decline.py: how the restorations
    # change after the early peak
    'the 2D default, every epoch kept': dict(lambda_lowpass=10.0, lowpass_transfer='affine-running',
                                             lowpass_window=16.0, train_save_every=1),
}.items()}


def rules(curve, total_epochs):
    """Epoch (1-based) each checkpoint rule chooses from a run's per-epoch validation logs (no ground truth)."""
    def argmin(key, first=1):
        values = [c[key] if c['epoch'] >= first else np.inf for c in curve]
        return int(np.argmin(values)) + 1
    half = total_epochs // 2 + 1  # the learning rate decays over the second half
    chosen = {'last epoch': len(curve), 'lowest val_select': argmin('val_select'),
              'lowest val_select, second half': argmin('val_select', half),
              'lowest val_dist, second half': argmin('val_dist', half)}
    if 'qc_score' in curve[0]:  # runs since 2026-12-06
        chosen.update({'lowest QC score of the inputs': argmin('qc_score'),
                       'lowest QC score of the validation patches': argmin('qc_val_score')})
    if 'val_qc' in curve[0]:  # the package's own (train_select='val_qc'), since 2026-12-06
        chosen['lowest val_qc'] = argmin('val_qc')
    return chosen


def summary(report):
    """Per set and candidate: last-epoch metrics over seeds; per checkpoint rule: gaps to the best epoch."""
    out = {}
    for name, runs in report['runs'].items():
        for cand, seeds in runs.items():
            curves = [r['curve'] for r in seeds.values()]
            last = [c[-1] for c in curves]
            entry = {k: float(np.mean([x[k] for x in last])) for k in KEYS}
            entry.update({k + '_sd': float(np.std([x[k] for x in last], ddof=1)) if len(last) > 1 else None
                          for k in ('psnr_normalized', 'ssim_normalized', 'histogram_distance')})
            entry['n_seeds'] = len(curves)
            gaps = {}
            for c in curves:
                best = max(x['psnr_normalized'] for x in c)
                for rule, epoch in rules(c, len(c)).items():
                    gaps.setdefault(rule, []).append(best - c[epoch - 1]['psnr_normalized'])
            entry['checkpoint_rules'] = {rule: dict(mean_gap_db=float(np.mean(g)), worst_gap_db=float(np.max(g)))
                                         for rule, g in gaps.items()}
            out.setdefault(name, {})[cand] = entry
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sets', nargs='+', default=list(DEV_SETS),
                   help="development sets: %s or hagen-<type>-dev (Hagen's CPU setting)" % ', '.join(DEV_SETS))
    p.add_argument('--candidates', nargs='+', default=list(CANDIDATES), choices=list(CANDIDATES))
    p.add_argument('--seeds', type=int, default=2)
    p.add_argument('--out', default=os.path.join(HERE, 'recipe.json'))
    p.add_argument('--keep', default=None,
                   help='keep the model folders in DIR/SET/CANDIDATE/SEED (default: deleted after each run)')
    p.add_argument('--qc-scores', action='store_true',
                   help="log every epoch's no-ground-truth QC scores (of the development inputs and of A's "
                        'validation patches) in the curve; they add minutes per run')
    a = p.parse_args()
    report = dict(benchmark='recipe choice on development sets', setting='cpu', runs={})
    if os.path.exists(a.out):
        with open(a.out) as f:
            report = json.load(f)
    report['candidates'] = CANDIDATES  # with those added since the file was written
    for name, d in load_sets(a.sets).items():
        if not name.endswith('-dev'):
            raise SystemExit('%s is not a development set' % name)
        s = setting_of('cpu', name)
        for seed in range(a.seeds):
            for cand in a.candidates:
                runs = report['runs'].setdefault(name, {}).setdefault(cand, {})
                if str(seed) in runs:
                    continue
                print('%s: %s, seed %d' % (name, cand, seed), flush=True)
                config = dict(CANDIDATES[cand])  # Config settings, but for the patches drawn per image (a factor)
                setting = dict(s, n_patches=s['n_patches'] * config.pop('n_patches_factor', 1))
                with tempfile.TemporaryDirectory() as scratch:
                    basedir = scratch if a.keep is None else os.path.join(a.keep, name, cand, str(seed))
                    _, info = train_gan(d, setting, 'c2GAN', seed, basedir, pairs=d['test'], qc_scores=a.qc_scores,
                                        **config)
                runs[str(seed)] = dict(curve=info['curve'], train_seconds=info['train_seconds'])
                report['summary'] = summary(report)
                save(report, a.out)
                last = info['curve'][-1]
                print('  last epoch: ' + '  '.join('%s %.4f' % (k, last[k]) for k in KEYS), flush=True)
    print(json.dumps(report.get('summary', {}), indent=1))


if __name__ == '__main__':
    main()
