import numpy as np

from c2gan_tf import plot


def test_plot_history_panels_and_validation():
    logs = {'adv': [3, 2, 1], 'cycle': [1, .5, .2], 'struct': [.3, .2, .1], 'identity': [0, 0, 0],
            'disc': [1, .8, .7], 'lr': [2e-4, 2e-4, 1e-4], 'struct_weight': [5, 2, 1], 'val_cycle': [1, .6, .3]}
    fig = plot.plot_history(logs, logy=True)
    assert len(fig.axes) == 3
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ['adv', 'cycle', 'val_cycle', 'struct', 'identity']
    assert fig.axes[0].get_yscale() == 'log'
    fig = plot.plot_history(logs, ('disc',), ('missing',))
    assert len(fig.axes) == 1


def test_plot_histograms_marks_saturation():
    import matplotlib.pyplot as plt
    a = np.full(100, 65535.0)
    a[:75] = 10
    ax = plot.plot_histograms([a, np.arange(100.0)], ['clipped', 'fine'], ax=plt.figure().gca(), saturation=65535)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ['clipped (saturated 25%)', 'fine (saturated 0%)']
    assert ax.get_yscale() == 'log'


def test_plot_restoration_shows_2d_and_3d_as_projections_with_percentile_ranges():
    rng = np.random.default_rng(0)
    images = [rng.random((32, 32)), rng.random((4, 32, 40))]
    fig = plot.plot_restoration(images, ['a', 'b'], pmin=1, pmax=99)
    assert [ax.get_title() for ax in fig.axes[:2]] == ['a', 'b']
    for ax, img in zip(fig.axes, images):
        view = img.max(axis=0) if img.ndim == 3 else img
        shown = ax.images[0]
        np.testing.assert_allclose(shown.get_array(), view, rtol=1e-6)
        np.testing.assert_allclose(shown.get_clim(), np.percentile(view.astype(np.float32), [1, 99]), rtol=1e-6)
    labels = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert labels == ['a', 'b'] and fig.axes[2].get_yscale() == 'log'  # the histograms below


def test_plot_restoration_shows_an_xy_plane_and_an_xz_section_of_volumes():
    rng = np.random.default_rng(1)
    volume = rng.random((6, 16, 20))
    fig = plot.plot_restoration([volume, volume * 2], ['input', 'restored'], planes=True)
    assert [ax.get_title() for ax in fig.axes[:4]] == ['input', 'input (XZ)', 'restored', 'restored (XZ)']
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), volume[3], rtol=1e-6)
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), volume[:, 8], rtol=1e-6)
    assert fig.axes[1].images[0].get_array().shape == (6, 20)
