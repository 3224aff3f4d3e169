"""Figures with matplotlib only: restorations side by side, intensity histograms, training history."""

import numpy as np
from csbdeep.utils import plot_some

__all__ = ['plot_some', 'plot_history', 'plot_histograms', 'plot_restoration', 'display', 'sections']

#: Default panels of :func:`plot_history`: generator losses, discriminator loss, schedules.
HISTORY_PANELS = (('adv', 'cycle', 'struct', 'identity', 'lowpass'), ('disc',), ('lr', 'struct_weight'))


def plot_history(history, *panels, logy=False, figsize=None):
    """Training history, one panel per group of keys (training and, where logged, validation values).

    Parameters
    ----------
    history : keras.callbacks.History or dict
        As returned by :meth:`c2gan_tf.C2GAN.train`.
    panels : tuple of str
        Keys per panel; by default the generator losses, the discriminator loss, and the learning rate with the
        structural weight.
    logy : bool
        Logarithmic y axes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    logs = getattr(history, 'history', history)
    panels = [[k for k in p if k in logs] for p in (panels or HISTORY_PANELS)]
    panels = [p for p in panels if p]
    fig, axes = plt.subplots(1, len(panels), figsize=figsize or (4.5 * len(panels), 3.5), squeeze=False)
    for ax, keys in zip(axes[0], panels):
        for key in keys:
            epochs = np.arange(1, len(logs[key]) + 1)
            ax.plot(epochs, logs[key], '.-', label=key)
            if 'val_' + key in logs:
                ax.plot(epochs, logs['val_' + key], '.--', label='val_' + key)
        if logy:
            ax.set_yscale('log')
        ax.set_xlabel('epoch')
        ax.legend(fontsize='small')
    fig.tight_layout()
    return fig


def display(img, pmin=0.5, pmax=99.9):
    """What is shown of an image: a 2D view and its display range.

    Returns
    -------
    view : numpy.ndarray
        The image, or the maximum projection of a 3D stack along its first axis (float32).
    vmin, vmax : float
        The ``pmin`` and ``pmax`` percentiles of the view.
    """
    img = np.asarray(img, np.float32)
    view = img.max(axis=0) if img.ndim == 3 else img
    vmin, vmax = np.percentile(view, [pmin, pmax])
    return view, float(vmin), float(vmax)


def plot_histograms(images, labels, ax=None, bins=256, saturation=None):
    """Intensity histograms of several images on a log scale, with the saturated fraction of each marked.

    Parameters
    ----------
    images : list of numpy.ndarray
    labels : list of str
    ax : matplotlib axes or None
    saturation : float or None
        Saturation level; when given it is drawn and each label states the fraction of pixels at or above it.
    """
    import matplotlib.pyplot as plt
    from .metrics import saturated_fraction
    ax = ax or plt.gca()
    values = [np.asarray(img, np.float64).ravel() for img in images]
    lo, hi = min(v.min() for v in values), max(v.max() for v in values)
    if saturation is not None:
        hi = max(hi, saturation)
    edges = np.linspace(lo, hi, bins + 1)
    for v, label in zip(values, labels):
        if saturation is not None:
            label = '%s (saturated %.2g%%)' % (label, 100 * saturated_fraction(v, saturation))
        ax.hist(v, bins=edges, histtype='step', label=label)
    if saturation is not None:
        ax.axvline(saturation, color='k', ls='--', lw=1)
    ax.set_yscale('log')
    ax.set_xlabel('intensity')
    ax.set_ylabel('pixels')
    ax.legend(fontsize='small')
    return ax


def sections(volume):
    """The middle XY plane and the middle XZ section of a ZYX volume (float32)."""
    v = np.asarray(volume, np.float32)
    return v[v.shape[0] // 2], v[:, v.shape[1] // 2]


def plot_restoration(images, titles, pmin=0.5, pmax=99.9, histograms=True, figsize=None, planes=False):
    """Images side by side (3D as maximum projections), each with its own percentile display range.

    Parameters
    ----------
    planes : bool
        3D: show each volume's middle XY plane and, below it, its middle XZ section (true to the Z step: rows
        of voxels), instead of a maximum projection, so that what happens along Z shows.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    n = len(images)
    views = [sections(img) if planes and np.ndim(img) == 3 else (img,) for img in images]
    n_view = max(len(v) for v in views)
    rows = n_view + (1 if histograms else 0)
    fig = plt.figure(figsize=figsize or (4 * n, 4 * rows + (0.5 if histograms else 0)))
    for i, (shown, title) in enumerate(zip(views, titles)):
        for r, img in enumerate(shown):
            ax = fig.add_subplot(rows, n, r * n + i + 1)
            view, vmin, vmax = display(img, pmin, pmax)
            ax.imshow(view, cmap='magma', vmin=vmin, vmax=vmax, interpolation='nearest',
                      aspect='auto' if r == 1 else 'equal')
            ax.set_title(title if r == 0 else title + ' (XZ)')
            ax.axis('off')
    if histograms:
        plot_histograms(images, titles, ax=fig.add_subplot(rows, 1, rows))
    fig.tight_layout()
    return fig
