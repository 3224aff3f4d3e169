"""The napari plugin in a real viewer, headless: manifest, sample data, restore, cancel, train, resume, errors."""
import json

import numpy as np
import pytest

pytest.importorskip('napari')
pytest.importorskip('pytestqt')

from qtpy.QtCore import Qt  # noqa: E402
from qtpy.QtWidgets import QFileDialog, QMessageBox  # noqa: E402

from c2gan_tf.napari._common import guess_axes, recent_models  # noqa: E402
from c2gan_tf.napari._restore import n_predictions, parse_tiles  # noqa: E402

WAIT_MS = 120000


@pytest.fixture(autouse=True)
def headless_gl(monkeypatch, tmp_path):
    """Offscreen Qt has no OpenGL context: give vispy's queries the answers napari's own tests give them.

    The plugin's settings (recent model folders) go to a temporary folder.
    """
    from qtpy.QtCore import QSettings
    monkeypatch.setattr('napari._vispy.layers.image.get_gl_extensions', lambda: '')
    for module in ('image', 'base'):
        monkeypatch.setattr('napari._vispy.layers.%s.get_max_texture_sizes' % module, lambda: (4096, 2048))
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / 'settings'))


def dock(viewer, name):
    """A widget of the plugin, opened the way the Plugins menu opens it (through the manifest)."""
    return viewer.window.add_plugin_dock_widget('c2gan-tf', name)[1]


def wait_done(qtbot, widget):
    qtbot.waitUntil(lambda: widget.worker is None, timeout=WAIT_MS)


def test_axes_guesses_and_tiles():
    assert guess_axes(2, 'YX') == 'YX' and guess_axes(3, 'YX') == 'ZYX' and guess_axes(4, 'YX') == 'TZYX'
    assert guess_axes(3, 'ZYX') == 'ZYX' and guess_axes(4, 'ZYX') == 'TZYX' and guess_axes(5, 'YX') is None
    assert guess_axes(3, 'YXC', n_channel=2) == 'CYX' and guess_axes(2, 'ZYX') is None
    assert guess_axes(3, 'YX', labels=('t', 'y', 'x')) == 'TYX' and guess_axes(3, 'YX', labels=('0', '1', '2')) == 'ZYX'
    assert parse_tiles('1, 2 2', 3) == (1, 2, 2) and parse_tiles(' ', 2) is None
    with pytest.raises(ValueError, match='tiles must be 2 whole numbers'):
        parse_tiles('1 0', 2)
    assert n_predictions((3, 64, 48), 'ZYX', 'YXC', (1, 2, 2)) == 12


def test_sample_data_opens_from_the_manifest(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample('c2gan-tf', 'synthetic_pair')
    a, b = viewer.layers['degraded (A)'].data, viewer.layers['good (B)'].data
    assert a.shape == b.shape == (4, 256, 256) and a.dtype == np.uint16
    assert np.percentile(b, 99.9) > 2 * np.percentile(a, 99.9)  # the good images are brighter, sharper


def test_restore_widget_layer_equals_model_predict(make_napari_viewer, qtbot, tiny_model):
    model, _, basedir = tiny_model
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    stack = (rng.random((3, 64, 48), np.float32) * 800 + 100)
    viewer.add_image(stack, name='raw', scale=(2.0, 0.5, 0.5), translate=(1.0, 2.0, 3.0))
    widget = dock(viewer, 'Restore and export')
    widget.model_folder.set_folder(str(basedir / 'model'))
    assert widget.model_info.text() == '2D model (axes YX), 1 channel'
    assert widget.axes.text() == 'ZYX' and widget.tiles.text() == '1 1 1'  # guessed: a 2D model, a stack
    widget.tiles.setText('1 2 2')
    widget.restore_button.click()
    wait_done(qtbot, widget)
    assert not widget.error.text()
    restored = viewer.layers['raw restored by model']
    np.testing.assert_allclose(restored.data, model.predict(stack, 'ZYX', n_tiles=(1, 2, 2)), rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(restored.scale, (2.0, 0.5, 0.5))
    np.testing.assert_array_equal(restored.translate, (1.0, 2.0, 3.0))
    assert widget.progress.value() == widget.progress.maximum() == 12  # 3 planes x 4 tiles
    assert recent_models()[0] == str((basedir / 'model').resolve())  # remembered for the dropdown
    assert widget.model_folder.combo.itemText(0) == str(basedir / 'model')


def test_restore_widget_adds_the_qc_map_as_a_hidden_layer_with_its_summary(make_napari_viewer, qtbot, tiny_model):
    model, _, basedir = tiny_model
    viewer = make_napari_viewer()
    image = np.random.default_rng(2).random((48, 40), np.float32) * 800 + 100
    viewer.add_image(image, name='raw', scale=(0.5, 0.5))
    widget = dock(viewer, 'Restore and export')
    widget.model_folder.set_folder(str(basedir / 'model'))
    assert not widget.qc.isChecked()  # off by default
    widget.qc.setChecked(True)
    widget.restore_button.click()
    wait_done(qtbot, widget)
    assert not widget.error.text()
    layer = viewer.layers['raw restored by model QC']
    _, expected = model.predict(image, 'YX', return_qc=True)
    np.testing.assert_allclose(layer.data, expected.map, atol=1e-4)
    assert not layer.visible and layer.colormap.name == 'turbo' and tuple(layer.contrast_limits) == (0, 1)
    np.testing.assert_array_equal(layer.scale, (0.5, 0.5))
    assert 'Content changed in %.1f %% of the area' % (100 * expected.summary['changed_fraction']) in widget.status.text()
    assert widget.progress.value() == widget.progress.maximum() == 2  # G, then F


def test_cancel_stops_a_prediction_between_tiles(make_napari_viewer, qtbot, tiny_model):
    _, _, basedir = tiny_model
    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(1).random((4, 64, 64), np.float32), name='raw')
    widget = dock(viewer, 'Restore and export')
    widget.model_folder.set_folder(str(basedir / 'model'))
    widget.tiles.setText('1 2 2')
    # Cancel as the first tile is reported, in the worker's thread (so before the second tile, whatever the timing)
    widget.tile_done.connect(widget.cancel_requested.set, Qt.DirectConnection)
    widget.restore_button.click()
    wait_done(qtbot, widget)
    assert widget.status.text() == 'Cancelled.' and not widget.error.text()
    assert widget.progress.value() == 1 < widget.progress.maximum() == 16
    assert [layer.name for layer in viewer.layers] == ['raw']
    assert widget.restore_button.isEnabled() and not widget.cancel_button.isEnabled()


def test_bad_input_is_one_line_in_the_widget(make_napari_viewer, qtbot, tiny_model, tmp_path):
    _, _, basedir = tiny_model
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2, 3, 4, 5, 32), np.float32), name='five')
    widget = dock(viewer, 'Restore and export')
    widget.model_folder.set_folder(str(tmp_path))
    assert widget.error.text() == 'no model (config.json) in %s' % tmp_path and not widget.error.isHidden()
    widget.model_folder.set_folder(str(basedir / 'model'))
    assert widget.axes.text() == ''  # a 2D model cannot take 5 dimensions
    widget.restore_button.click()
    assert widget.error.text() == "axes '' do not fit layer 'five', which has 5 dimensions (2, 3, 4, 5, 32)"
    widget.axes.setText('TZCYX')  # fits the layer, not the model (one channel): the model says why, in the worker
    widget.restore_button.click()
    wait_done(qtbot, widget)
    assert widget.error.text() and '\n' not in widget.error.text() and 'Traceback' not in widget.error.text()
    assert len(viewer.layers) == 1


def test_export_buttons_write_fiji_and_bioimageio_files(make_napari_viewer, qtbot, tiny_model, tmp_path,
                                                        monkeypatch):
    _, _, basedir = tiny_model
    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(2).random((64, 64), np.float32), name='raw')
    widget = dock(viewer, 'Restore and export')
    widget.model_folder.set_folder(str(basedir / 'model'))
    for button, name in ((widget.fiji_button, 'fiji.zip'), (widget.bioimageio_button, 'bioimageio.zip')):
        monkeypatch.setattr(QFileDialog, 'getSaveFileName', lambda *a, name=name: (str(tmp_path / name), ''))
        button.click()
        wait_done(qtbot, widget)
        assert not widget.error.text() and (tmp_path / name).stat().st_size > 1000, widget.error.text()
    assert widget.status.text().startswith('Exported %s' % (tmp_path / 'bioimageio.zip'))


def test_train_widget_trains_stops_and_resumes(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    viewer.open_sample('c2gan-tf', 'synthetic_pair')
    widget = dock(viewer, 'Train')
    assert widget.sources['A'].currentText() == 'degraded (A)' and widget.sources['B'].currentText() == 'good (B)'
    widget.basedir.set_folder(str(tmp_path))
    widget.patch_size.setText('32 32')
    for key, value in dict(n_patches=3, unet_n_depth=2, unet_n_first=4, train_batch_size=2, train_epochs=2,
                           train_steps_per_epoch=2).items():
        widget.spins[key].setValue(value)
    # Stop as step 1 is reported, in the worker's thread: the first epoch ends there
    widget.reported.connect(lambda *report: widget.stop_requested.set(), Qt.DirectConnection)
    widget.train_button.click()
    wait_done(qtbot, widget)
    assert not widget.error.text(), widget.error.text()
    folder = tmp_path / 'c2gan'
    state = json.loads((folder / 'training_state.json').read_text())
    assert state['epoch'] == 1 and state['epochs'] == 2 and (folder / 'config.json').exists()
    assert widget.status.text().startswith('Model saved in %s (stopped' % folder)
    assert widget.plot.values['loss'][0] == [1] and np.isfinite(widget.plot.values['disc'][1]).all()
    widget.reported.disconnect()
    widget.reported.connect(widget._report)
    asked = []
    monkeypatch.setattr(QMessageBox, 'question', lambda *a, **k: asked.append(a[2]) or QMessageBox.Yes)
    widget.train_button.click()
    wait_done(qtbot, widget)
    assert len(asked) == 1 and str(folder) in asked[0] and not widget.error.text(), widget.error.text()
    state = json.loads((folder / 'training_state.json').read_text())
    assert state['epoch'] == 2 and len(state['history']['loss']) == 2  # resumed after the stopped epoch
    assert widget.progress.value() == widget.progress.maximum() == 4
    assert widget.plot.values['loss'][0] == [3, 4]  # steps of the second epoch


def test_train_widget_reports_bad_input_in_one_line(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2, 3, 16, 16), np.float32), name='four')
    widget = dock(viewer, 'Train')
    widget.train_button.click()
    assert widget.error.text() == ("layer 'four' has 4 dimensions; a 2D model trains on 2D images or a stack of "
                                   "them (3 dimensions)")
    widget.sources['A'].setCurrentText('Folder...')
    widget.folders['A'].set_folder(str(tmp_path))
    widget.train_button.click()
    assert widget.error.text() == "no files matching '*.tif*' in %s" % tmp_path
    assert widget.worker is None
