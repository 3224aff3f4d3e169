"""Checkpoint QC: which of a model's kept weights to trust, measured on the user's images, with or without ground truth.

Training keeps the generators of every N-th epoch when ``Config.train_save_every`` is set (``epochs/`` in the model
folder), beside ``weights_last`` and ``weights_best``. :func:`rank_checkpoints` restores a few images with each and
ranks them: without ground truth by the QC score (:func:`c2gan_tf.qc.checkpoint_score`: area changed plus the
distances of the outputs' intensities and power spectra to domain B's), with registered pairs by normalised PSNR
(and SSIM). :func:`use_checkpoint` makes one the model's default.
"""

import json
import shutil
from pathlib import Path

import numpy as np

from .folder import CONFIG_FILE, STATE_FILE, read_model_config
from .qc import checkpoint_terms

#: The file a chosen checkpoint is copied to, and the ``train_select`` that makes the model load it.
CHOSEN = 'weights_chosen.weights.h5'


def kept_checkpoints(folder):
    """``{epoch: file name}`` of the weights a model folder keeps, as its training state records them."""
    with open(Path(folder) / STATE_FILE) as f:
        weights = json.load(f).get('weights', {})
    kept = {}
    for name, epoch in sorted(weights.items(), key=lambda item: (item[1], item[0])):
        if epoch is not None and (Path(folder) / name).is_file():
            kept.setdefault(int(epoch), name)
    return kept


def rank_checkpoints(folder, images, axes, ground_truth=None, n_tiles=None):
    """Restore ``images`` with every kept checkpoint and score each.

    Parameters
    ----------
    folder : str or pathlib.Path
        The model folder.
    images : list of numpy.ndarray
        Degraded images (domain A).
    axes : str
        Their axes.
    ground_truth : list of numpy.ndarray or None
        Registered good images of the same fields: the ranking is then by normalised PSNR.

    Returns
    -------
    list of dict
        One row per checkpoint, best first: ``epoch``, ``file``, ``score`` (the QC score, lower is better),
        ``changed_fraction``, ``distance_to_b``, ``spectrum_distance``, ``cycle_residual`` and, with ground truth,
        ``psnr_normalized`` and ``ssim_normalized``; ``restored`` holds the restoration of the first image.
    """
    from . import metrics
    from .model import C2GAN
    rows = []
    for epoch, name in kept_checkpoints(folder).items():
        model = C2GAN.from_folder(folder, weights=name)
        results = [model.predict(x, axes, n_tiles=n_tiles, return_qc=True) for x in images]
        summaries = [qc.summary for _, qc in results]
        row = dict(epoch=epoch, file=name, **checkpoint_terms(summaries), restored=results[0][0])
        if ground_truth is not None:
            row['psnr_normalized'] = float(np.mean([metrics.psnr_normalized(gt, r) for (r, _), gt
                                                    in zip(results, ground_truth)]))
            row['ssim_normalized'] = float(np.mean([metrics.ssim_normalized(gt, r) for (r, _), gt
                                                    in zip(results, ground_truth)]))
        rows.append(row)
    key = (lambda r: -r['psnr_normalized']) if ground_truth is not None else (lambda r: r['score'])
    return sorted(rows, key=key)


def use_checkpoint(folder, epoch):
    """Make the kept weights of ``epoch`` the model's default: copied to ``weights_chosen``, which the model then
    loads (``train_select='chosen'`` in its ``config.json``); ``weights_last`` and ``weights_best`` stay."""
    folder = Path(folder)
    kept = kept_checkpoints(folder)
    if epoch not in kept:
        raise ValueError('%s keeps no weights of epoch %d (it keeps epochs %s)'
                         % (folder, epoch, ', '.join(map(str, kept)) or 'none'))
    from .atomic import atomic_path, write_json_atomic
    with atomic_path(folder / CHOSEN) as tmp:
        shutil.copyfile(folder / kept[epoch], tmp)
    state_file = folder / STATE_FILE
    with open(state_file) as f:
        state = json.load(f)
    state.setdefault('weights', {})[CHOSEN] = epoch
    write_json_atomic(state, state_file)
    config = read_model_config(folder)
    config['train_select'] = 'chosen'
    write_json_atomic(config, folder / CONFIG_FILE)
    return folder / CHOSEN
