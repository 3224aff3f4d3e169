"""The Restore widget: restore an image layer with a model folder, tiled, in a worker thread; export the model."""

import os
import threading
from pathlib import Path

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (QCheckBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
                            QPushButton, QVBoxLayout, QWidget)

from ..folder import read_model_config
from ._common import (ErrorLine, FolderChoice, LayerChoice, guess_axes, recent_models,
                      remember_model)


class PredictionCancelled(Exception):
    """Raised between tiles when the user cancels a prediction."""


def parse_tiles(text, ndim):
    """Tiles per axis from ``'1 2 2'`` or ``'1,2,2'``; an empty text means no tiling.

    Raises
    ------
    ValueError
        Not ``ndim`` whole numbers of at least 1.
    """
    parts = text.replace(',', ' ').split()
    if not parts:
        return None
    try:
        tiles = tuple(int(p) for p in parts)
    except ValueError:
        tiles = ()
    if len(tiles) != ndim or min(tiles) < 1:
        raise ValueError('tiles must be %d whole numbers of at least 1 (one per axis), got %r' % (ndim, text))
    return tiles


def n_predictions(shape, axes, network_axes, tiles):
    """How many times the network runs: tiles of each plane times the planes of a stack restored plane by plane."""
    tiles = tiles or (1,) * len(shape)
    return int(np.prod([t if a in network_axes else n for a, n, t in zip(axes, shape, tiles) if a != 'C']))


def _newest_change(folder):
    """When a file of a model folder last changed (a retrained model is loaded again)."""
    return max((e.stat().st_mtime_ns for e in os.scandir(folder) if e.is_file()), default=0)


class RestoreWidget(QWidget):
    """Restore an image layer with a trained model; export the model for Fiji or bioimage.io.

    The result is added as a new layer (float32, in the good domain's units) with the input's scale and translation,
    named after the input and the model. Prediction runs in a worker thread with a progress bar over tiles (and
    planes) and a Cancel button.
    """

    tile_done = Signal()

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.worker, self._model, self.cancel_requested = None, None, threading.Event()
        self.model_folder = FolderChoice(recent_models(), 'Choose a model folder')
        self.model_info = QLabel()
        self.image = LayerChoice(napari_viewer)
        self.axes = QLineEdit()
        self.axes.setToolTip('Axes of the layer, e.g. YX, ZYX (a 2D model restores it plane by plane), CYX')
        self.tiles = QLineEdit()
        self.tiles.setToolTip('Tiles per axis (e.g. 1 2 2), for images too large for memory in one piece')
        self.qc = QCheckBox('Content-change map (QC)')
        self.qc.setToolTip('Also add a layer that shows where the restoration may have changed content (0 kept to 1 '
                           'changed, from the saliency masks and the cycle residual; no ground truth needed). It runs '
                           'the reverse generator too, so it takes twice as long.')
        self.restore_button, self.cancel_button = QPushButton('Restore'), QPushButton('Cancel')
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.fiji_button, self.bioimageio_button = QPushButton('Export for Fiji...'), QPushButton(
            'Export for bioimage.io...')
        self.status, self.error = QLabel(), ErrorLine()
        self.status.setWordWrap(True)
        self._layout()
        self.model_folder.changed.connect(self._model_changed)
        self.image.currentTextChanged.connect(self._layer_changed)
        self.restore_button.clicked.connect(self.restore)
        self.cancel_button.clicked.connect(self.cancel)
        self.fiji_button.clicked.connect(self.export_fiji)
        self.bioimageio_button.clicked.connect(self.export_bioimageio)
        self.tile_done.connect(lambda: self.progress.setValue(min(self.progress.value() + 1,
                                                                  self.progress.maximum())))
        self._model_changed(self.model_folder.folder())

    def _layout(self):
        form = QFormLayout()
        form.addRow('Model folder', self.model_folder)
        form.addRow('', self.model_info)
        form.addRow('Image', self.image)
        form.addRow('Axes', self.axes)
        form.addRow('Tiles', self.tiles)
        form.addRow('', self.qc)
        buttons, exports = QHBoxLayout(), QHBoxLayout()
        buttons.addWidget(self.restore_button)
        buttons.addWidget(self.cancel_button)
        exports.addWidget(self.fiji_button)
        exports.addWidget(self.bioimageio_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addLayout(exports)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addStretch(1)

    # -- what is chosen

    def _config(self):
        return read_model_config(self.model_folder.folder())

    def _model_changed(self, folder):
        self.error.clear()
        try:
            config = self._config()
        except (FileNotFoundError, ValueError) as e:
            self.model_info.setText('')
            if folder:
                self.error.show_error(e)
            return
        self.model_info.setText('%s model (axes %s), %d channel%s' % (
            '3D' if 'Z' in config['axes'] else '2D', config['axes'].replace('C', ''), config['n_channel_in'],
            '' if config['n_channel_in'] == 1 else 's'))
        self._layer_changed()

    def _layer_changed(self, *_):
        layer = self.image.layer()
        if layer is None:
            return
        try:
            config = self._config()
        except (FileNotFoundError, ValueError):
            return
        labels = getattr(layer, 'axis_labels', None)
        axes = guess_axes(layer.ndim, config['axes'], config['n_channel_in'], labels)
        self.axes.setText(axes or '')
        self.tiles.setText(' '.join(['1'] * layer.ndim))

    def _checked_input(self):
        """The model folder, image, axes and tiles chosen; ValueError with one line when something does not fit."""
        folder = self.model_folder.folder()
        config = self._config()
        layer = self.image.layer()
        if layer is None:
            raise ValueError('choose an image layer to restore')
        data = layer.data[0] if layer.multiscale else layer.data
        axes = self.axes.text().strip().upper()
        if len(axes) != layer.ndim:
            raise ValueError("axes %r do not fit layer '%s', which has %d dimensions %s"
                             % (axes, layer.name, layer.ndim, tuple(data.shape)))
        return folder, config, layer, data, axes, parse_tiles(self.tiles.text(), layer.ndim)

    # -- work in a worker thread

    def model(self, folder):
        """The model of a folder, loaded once (again when a file in the folder changed)."""
        from c2gan_tf import C2GAN
        key = (str(Path(folder).resolve()), _newest_change(folder))
        if self._model is None or self._model[0] != key:
            self._model = key, C2GAN.from_folder(key[0])
        return self._model[1]

    def _start(self, func, on_result, *args):
        from napari.qt.threading import create_worker
        self.error.clear()
        self.status.setText('')
        self.cancel_requested.clear()
        self.worker = create_worker(func, *args, _start_thread=False, _ignore_errors=True)
        self.worker.returned.connect(on_result)
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(self._finished)
        for button in (self.restore_button, self.fiji_button, self.bioimageio_button):
            button.setEnabled(False)
        self.worker.start()

    def _failed(self, error):
        if isinstance(error, PredictionCancelled):
            self.status.setText('Cancelled.')
        else:
            self.error.show_error(error)

    def _finished(self):
        for button in (self.restore_button, self.fiji_button, self.bioimageio_button):
            button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.worker = None

    def _tile(self):
        if self.cancel_requested.is_set():
            raise PredictionCancelled()
        self.tile_done.emit()

    def restore(self):
        """Restore the chosen layer (in a worker thread); the result is added as a layer."""
        try:
            folder, config, layer, data, axes, tiles = self._checked_input()
        except (FileNotFoundError, ValueError) as e:
            self.error.show_error(e)
            return
        remember_model(folder)
        self.model_folder.keep(folder)
        with_qc = self.qc.isChecked()
        self.progress.setRange(0, n_predictions(data.shape, axes, config['axes'], tiles) * (2 if with_qc else 1))
        self.progress.setValue(0)
        self.cancel_button.setEnabled(True)
        name = '%s restored by %s' % (layer.name, Path(folder).resolve().name)

        def run():
            return self.model(folder).predict(np.asarray(data), axes, n_tiles=tiles, callback=self._tile,
                                              return_qc=with_qc)

        def add(result):
            self.progress.setValue(self.progress.maximum())
            restored, qc = result if with_qc else (result, None)
            self.viewer.add_image(restored, name=name, scale=layer.scale, translate=layer.translate)
            self.status.setText('Restored %s.' % layer.name)
            if qc is not None:
                self.add_qc(qc, name, layer, axes)
        self._start(run, add)

    def add_qc(self, qc, name, layer, axes):
        """The content-change map as a layer of its own (hidden until shown), and its summary in the status line."""
        keep = [i for i, a in enumerate(axes) if a != 'C']  # the map has no channel axis
        scale, translate = (np.asarray(v)[keep] if len(v) == len(axes) else v for v in (layer.scale, layer.translate))
        self.viewer.add_image(qc.map, name='%s QC' % name, scale=scale, translate=translate, colormap='turbo',
                              contrast_limits=(0, 1), blending='additive', visible=False)
        s = qc.summary
        self.status.setText('Restored %s. Content changed in %.1f %% of the area (cycle residual %.4f%s); the QC '
                            'layer shows where.' % (layer.name, 100 * s['changed_fraction'], s['cycle_residual'],
                                                    ''.join(', %s %.4f' % (label, s[k]) for k, label in (
                                                        ('distance_to_b', 'distance to B'),
                                                        ('spectrum_distance', 'spectrum distance to B'))
                                                        if s.get(k) is not None)))

    def cancel(self):
        """Stop the running prediction before its next tile."""
        self.cancel_requested.set()
        self.cancel_button.setEnabled(False)

    def _export(self, what, default, file_filter, export):
        try:
            folder = self.model_folder.folder()
            self._config()
        except FileNotFoundError as e:
            self.error.show_error(e)
            return
        path, _ = QFileDialog.getSaveFileName(self, 'Export for %s' % what, str(Path(folder) / default),
                                              file_filter)
        if path:
            self._start(lambda: export(self.model(folder), path),
                        lambda _: self.status.setText('Exported %s (%s).' % (path, what)))

    def export_fiji(self):
        """Export the model as a zip for Fiji's CSBDeep plugin (in a worker thread)."""
        from ..export import EXPORT_NAMES
        self._export('Fiji', EXPORT_NAMES['fiji'] % 'AtoB', 'Zip (*.zip)', lambda model, path: model.export_TF(path))

    def export_bioimageio(self):
        """Export the model as a bioimage.io package, the chosen layer as its test input (in a worker thread)."""
        from ..export import EXPORT_NAMES
        try:
            _, _, _, data, axes, _ = self._checked_input()
        except (FileNotFoundError, ValueError) as e:
            self.error.show_error(e)
            return
        self._export('bioimage.io', EXPORT_NAMES['bioimageio'] % 'AtoB', 'Zip (*.zip)',
                     lambda model, path: model.export_bioimageio(path, np.asarray(data), axes))
