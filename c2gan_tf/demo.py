"""The demo: train a small c2GAN on synthetic data, restore a test image, write it with a figure and metrics."""

import json
import os

from . import synthetic
from .config import Config
from .data import UnpairedData, UnpairedPatches, create_unpaired_patches
from .metrics import evaluate
from .model import C2GAN


def demo_sizes(ndim, epochs=8, steps_per_epoch=100, tiny=False):
    """The demo's network, patch, batch and training sizes: :class:`Config` settings for ``ndim`` (2 or 3).

    Eight epochs of 100 steps take about two minutes on two CPU cores in 2D and five in 3D; ``tiny`` shrinks the
    networks for tests. ``benchmarks/quality_synthetic.py`` trains its 3D networks at this budget.
    """
    return dict(unet_n_depth=2, unet_n_first=8 if tiny else 16, disc_n_filters=8 if tiny else 32,
                train_patch_size=(64, 64) if ndim == 2 else (16, 32, 32), train_batch_size=4 if ndim == 2 else 2,
                train_epochs=epochs, train_steps_per_epoch=steps_per_epoch, **({'disc_n_layers': 2} if tiny else {}))


def run_demo(outdir='c2gan_demo', ndim=2, epochs=8, steps_per_epoch=100, seed=0, n_images=8, tiny=False,
             report=None):
    """Train a small c2GAN on synthetic unpaired data and restore a held-out synthetic test image.

    Writes to ``outdir``: the model folder ``model/``, ``input.tif``, ``restored.tif``, ``ground_truth.tif``,
    ``demo.png`` (input, restoration, ground truth, histograms) and ``metrics.json`` (input and restoration
    against ground truth).

    Parameters
    ----------
    outdir : str
    ndim : int
        2 or 3.
    epochs, steps_per_epoch : int
        Training length (the defaults take about two minutes on two CPU cores in 2D).
    seed : int
    n_images : int
        Training images per domain.
    tiny : bool
        A tiny network and data, for tests.
    report : callable or None
        Called with each line of progress and of the results (``c2gan demo`` passes ``print``).

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.
    """
    report = report or (lambda line: None)
    os.makedirs(outdir, exist_ok=True)
    shape = ((128, 128) if tiny else (256, 256)) if ndim == 2 else ((16, 64, 64) if tiny else (32, 128, 128))
    axes = 'YX' if ndim == 2 else 'ZYX'
    report('Generating synthetic data (%dD, %d images per domain) ...' % (ndim, n_images))
    data = synthetic.generate(ndim, shape, n_a=n_images, n_b=n_images, n_test=1, seed=seed)

    config = Config(axes, train_seed=seed, **demo_sizes(ndim, epochs, steps_per_epoch, tiny))
    patch = config.train_patch_size
    patches = UnpairedPatches(*create_unpaired_patches(UnpairedData.from_arrays(data['A'], data['B'], axes), patch,
                                                       32, normalization=(config.norm_pmin, config.norm_pmax),
                                                       seed=seed))
    model = C2GAN.train_or_resume(os.path.join(outdir, 'model'), patches, config=config)

    x, gt = data['test_A'][0], data['test_GT'][0]
    restored = model.predict(x, axes)
    result = dict(input=evaluate(gt, x), restored=evaluate(gt, restored, reference_input=x),
                  training=dict(ndim=ndim, epochs=epochs, steps_per_epoch=steps_per_epoch, seed=seed))
    _write_results(outdir, axes, dict(input=x, restored=restored, ground_truth=gt), result)
    report('Normalised PSNR against ground truth: input %.2f dB, restored %.2f dB'
          % (result['input']['psnr_normalized'], result['restored']['psnr_normalized']))
    report('Normalised SSIM against ground truth: input %.3f, restored %.3f'
          % (result['input']['ssim_normalized'], result['restored']['ssim_normalized']))
    report('Results in %s' % os.path.abspath(outdir))
    return result


def _write_results(outdir, axes, images, result):
    """The demo's images as ImageJ TIFFs, its metrics as JSON and the figure of input, restoration, ground truth."""
    import matplotlib.pyplot as plt
    import tifffile

    from .plot import plot_restoration
    for name, img in images.items():
        tifffile.imwrite(os.path.join(outdir, name + '.tif'), img, imagej=True, metadata={'axes': axes})
    with open(os.path.join(outdir, 'metrics.json'), 'w') as f:
        json.dump(result, f, indent=2)
    fig = plot_restoration(list(images.values()), ['input (A)', 'c2GAN restored', 'ground truth'], planes=True)
    fig.savefig(os.path.join(outdir, 'demo.png'), dpi=80)
    plt.close(fig)
