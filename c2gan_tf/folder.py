"""A model folder as files, without TensorFlow: its configuration, its weight files, which one to load.

Light on purpose: the command line and the napari widgets check a folder here before TensorFlow is imported, so a
wrong path or a damaged file is reported at once, in one line that names the file and the way out.
"""

import json
from pathlib import Path

CONFIG_FILE = 'config.json'
#: The training state of a model folder (written by :class:`c2gan_tf.run.TrainingRun`).
STATE_FILE = 'training_state.json'
#: The settings a configuration must hold for the networks to be rebuilt as they were trained (other settings,
#: added in later versions, take their defaults).
ARCHITECTURE_KEYS = ('axes', 'n_dim', 'n_channel_in', 'n_channel_out', 'unet_n_depth', 'unet_kern_size',
                     'unet_n_first', 'unet_residual')
#: Short names of the weight files, as ``--weights`` takes them, and their default names.
WEIGHTS = {'best': 'weights_best.weights.h5', 'last': 'weights_last.weights.h5', 'now': 'weights_now.weights.h5',
           'chosen': 'weights_chosen.weights.h5'}
#: The ``train_select`` values whose model holds and loads ``weights_best`` (the epoch with the lowest ``val_select``
#: or ``val_qc``), not the last epoch's.
SELECTS_BEST = ('val_select', 'val_qc')


def read_model_config(folder):
    """The configuration (``config.json``) of a model folder as a dict.

    Raises
    ------
    FileNotFoundError
        ``folder`` holds no ``config.json``.
    ValueError
        ``config.json`` is not JSON, or lacks the settings that rebuild the networks.
    """
    path = Path(folder) / CONFIG_FILE
    if not str(folder).strip() or not path.is_file():
        raise FileNotFoundError('no model (%s) in %s' % (CONFIG_FILE, folder or 'the folder given'))
    try:
        with open(path) as f:
            config = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError('%s is not valid JSON (%s): the model folder is damaged; train the model again with '
                         '--overwrite' % (path, e)) from None
    missing = [k for k in ARCHITECTURE_KEYS if not isinstance(config, dict) or k not in config]
    if missing:
        raise ValueError('%s lacks %s: not the configuration of a c2gan_tf model, or damaged; train the model '
                         'again with --overwrite' % (path, ', '.join(missing)))
    return config


def weights_path(folder, weights=None):
    """The weight file of a model folder to load.

    Parameters
    ----------
    weights : str or None
        ``'best'``, ``'last'``, ``'chosen'``, a file name in the folder, or ``None``: the model's default, by its
        configuration's ``train_select`` (``'last'``, the default: ``weights_last``; ``'val_select'`` and
        ``'val_qc'``: ``weights_best``; ``'chosen'``: ``weights_chosen``, made by ``c2gan qc --use``), else the
        others, else the weights of the last complete epoch of an interrupted run (``weights_now``).

    Returns
    -------
    pathlib.Path or None
        ``None`` when ``weights`` is ``None`` and the folder holds no weights yet.

    Raises
    ------
    FileNotFoundError
        The file asked for is not there (the message lists those that are).
    """
    folder = Path(folder)
    config = read_model_config(folder)
    files = {key: config.get(setting) or WEIGHTS[key]  # the configuration's names of the files
             for key, setting in (('best', 'train_checkpoint'), ('last', 'train_checkpoint_last'),
                                  ('now', 'train_checkpoint_epoch'))}
    files['chosen'] = WEIGHTS['chosen']
    if weights is None:
        select = config.get('train_select', 'last')
        order = {'last': ('last', 'best'), 'chosen': ('chosen', 'last', 'best'),
                 **{best: ('best', 'last') for best in SELECTS_BEST}}[select]
        names = [files[key] for key in order + ('now',)]
    else:
        names = [files.get(weights, weights)]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    if weights is None:
        return None
    present = sorted(p.name for p in folder.glob('*.weights.h5'))
    raise FileNotFoundError('no weights %s in %s (%s)' % (' or '.join(names), folder,
                                                          'it holds ' + ', '.join(present) if present
                                                          else 'it holds no weight files: was it trained?'))


def other_weights(path):
    """The weight files beside ``path`` in its model folder (a way out when ``path`` is damaged)."""
    path = Path(path)
    return sorted(p.name for p in path.parent.glob('*.weights.h5') if p.name != path.name)
