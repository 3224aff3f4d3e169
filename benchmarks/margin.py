"""The prediction margin: trained development models restored with and without it (development data only).

``C2GAN.predict`` reflects the image by the network's receptive field at its edges (``model.prediction_margin()``,
:class:`c2gan_tf.prepare.MarginResizer`); CSBDeep's ``PadAndCropResizer`` pads to the network's multiples only. Each
model is measured with its default weights (the last epoch) on its development set's pairs: normalised PSNR and
SSIM, and the seconds of prediction.

Models: the 2D ones that ``recipe.py --keep DIR`` kept (``DIR/SET/CANDIDATE/SEED/c2GAN``, sets of
``real_sets.DEV_SETS``), and 3D ones given as ``--volume SET SEED FOLDER`` (a model trained on ``recipe_3d.py``'s
development set ``SET`` with seed ``SEED``).

Writes ``margin.json`` (``{"models": {NAME: {"without margin": {...}, "with margin": {...}}}}``). Resumable.

usage: python benchmarks/margin.py [--keep DIR] [--candidate NAME] [--volume SET SEED FOLDER ...]
"""
import argparse
import json
import os
import time

import numpy as np

from quality_real import save

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(model, pairs, axes):
    """Normalised PSNR and SSIM (means over the pairs) and seconds, without and with the margin."""
    from csbdeep.data import PadAndCropResizer

    from c2gan_tf import metrics
    out = {}
    for name, kwargs in (('without margin', dict(resizer=PadAndCropResizer())), ('with margin', {})):
        t = time.perf_counter()
        outputs = [model.predict(x, axes, **kwargs) for x, _ in pairs]
        seconds = time.perf_counter() - t
        out[name] = dict(psnr_normalized=float(np.mean([metrics.psnr_normalized(gt, y)
                                                        for (_, gt), y in zip(pairs, outputs)])),
                         ssim_normalized=float(np.mean([metrics.ssim_normalized(gt, y)
                                                        for (_, gt), y in zip(pairs, outputs)])),
                         seconds=seconds)
    return out


def models(keep, candidate, volumes):
    """(name, model folder, set, seed, ndim) of every model to measure."""
    found = []
    if keep:
        for name in sorted(os.listdir(keep)):
            for seed in sorted(os.listdir(os.path.join(keep, name, candidate))):
                found.append(('%s, seed %s' % (name, seed), os.path.join(keep, name, candidate, seed, 'c2GAN'), name,
                              int(seed), 2))
    for name, seed, folder in volumes:
        found.append(('%s (3D), seed %s' % (name, seed), folder, name, int(seed), 3))
    return found


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--keep', help="recipe.py's --keep folder of 2D models")
    p.add_argument('--candidate', default='the 2D default, every epoch kept', help='their candidate')
    p.add_argument('--volume', nargs=3, action='append', default=[], metavar=('SET', 'SEED', 'FOLDER'),
                   help="a 3D model trained on recipe_3d.py's development set SET with seed SEED")
    p.add_argument('--out', default=os.path.join(HERE, 'margin.json'))
    a = p.parse_args()
    from c2gan_tf.model import C2GAN
    report = dict(benchmark='prediction margin on development models', models={})
    if os.path.exists(a.out):
        with open(a.out) as f:
            report = json.load(f)
    for name, folder, set_name, seed, ndim in models(a.keep, a.candidate, a.volume):
        if name in report['models']:
            continue
        if ndim == 2:
            from real_sets import load_sets
            pairs, axes = load_sets([set_name])[set_name]['test'], 'YX'
        else:
            from recipe_3d import dev_data
            d = dev_data(set_name, seed)
            pairs, axes = list(zip(d['test_A'], d['test_GT'])), 'ZYX'
        model = C2GAN.from_folder(folder)
        report['models'][name] = r = dict(measure(model, pairs, axes), margin=model.prediction_margin())
        save(report, a.out)
        print('%s: %s' % (name, '; '.join('%s %.2f dB / %.3f, %.1f s' % (k, v['psnr_normalized'],
                                                                          v['ssim_normalized'], v['seconds'])
                                          for k, v in r.items() if k != 'margin')), flush=True)


if __name__ == '__main__':
    main()
