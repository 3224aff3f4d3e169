"""The Train widget: unpaired images of each domain from layers or folders, the main settings, live loss curves."""

from .. import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

import threading
from pathlib import Path

import keras
import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QProgressBar,
                            QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ..folder import CONFIG_FILE
from ._common import ErrorLine, FolderChoice, LayerChoice, one_line

FOLDER = 'Folder...'
#: Patches drawn from each image by default.
N_PATCHES = 64
#: Model kinds offered: network axes.
KINDS = {'2D (YX)': 'YX', '3D (ZYX)': 'ZYX'}
#: Curves drawn, from the logs of each training step.
CURVES = ('loss', 'adv', 'cycle', 'struct', 'disc')


class StopAndReport(keras.callbacks.Callback):
    """Reports the running losses every ``every`` steps as ``report(step, total_steps, logs)``; stops when ``stop``
    (a :class:`threading.Event`) is set.

    A stop takes effect after the current step: the epoch it ends is recorded, so training can resume after it.
    """

    def __init__(self, stop, report, every=1):
        super().__init__()
        self.stop, self.report, self.every, self.epoch = stop, report, every, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params['steps']
        if (batch + 1) % self.every == 0 or batch + 1 == steps or self.stop.is_set():
            self.report(self.epoch * steps + batch + 1, self.params['epochs'] * steps,
                        {k: float(v) for k, v in (logs or {}).items() if k in CURVES})
        if self.stop.is_set():
            self.model.stop_training = True


def layer_images(layer, n_dim):
    """The images of a layer for a model of ``n_dim`` spatial dimensions: one image, or a stack of them."""
    data = np.asarray(layer.data[0] if layer.multiscale else layer.data)
    if data.ndim == n_dim:
        return [data]
    if data.ndim == n_dim + 1:
        return list(data)
    raise ValueError("layer '%s' has %d dimensions; a %dD model trains on %dD images or a stack of them (%d "
                     "dimensions)" % (layer.name, data.ndim, n_dim, n_dim, n_dim + 1))


def folder_images(folder):
    """The TIFF images of a folder."""
    from ..io import find_files, read_image
    return [read_image(f)[0] for f in find_files(Path(folder), '*.tif*')]


class LossPlot(QWidget):
    """Loss curves against training steps, redrawn as values come."""

    def __init__(self, parent=None):
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure
        super().__init__(parent)
        self.figure = Figure(figsize=(4, 2.6), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.axes = self.figure.add_subplot()
        self.values = {}
        self.setMinimumHeight(220)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.clear()

    def clear(self):
        self.values = {k: ([], []) for k in CURVES}
        self._draw()

    def add(self, step, logs):
        for k, v in logs.items():
            self.values[k][0].append(step)
            self.values[k][1].append(v)
        self._draw()

    def _draw(self):
        ax = self.axes
        ax.clear()
        for k, (steps, values) in self.values.items():
            if steps:
                ax.plot(steps, values, label=k)
        ax.set_xlabel('step')
        ax.set_ylabel('loss (running mean of the epoch)')
        if any(steps for steps, _ in self.values.values()):
            ax.set_yscale('log')
            ax.legend(fontsize='small', ncol=3)
        self.canvas.draw_idle()


class TrainWidget(QWidget):
    """Train a model on unpaired degraded (A) and good (B) images, from layers or folders of TIFFs.

    Patches are drawn from both domains (a tenth kept for validation), the model is trained in a worker thread with
    live loss curves, and written to ``base folder/name``. Stop ends training after the current step and leaves a
    model folder that resumes; training a model that exists asks whether to resume it.
    """

    reported = Signal(int, int, dict)

    def __init__(self, napari_viewer):
        from c2gan_tf import Config
        super().__init__()
        self.viewer, self.worker, self.stop_requested = napari_viewer, None, threading.Event()
        self.sources = {d: LayerChoice(napari_viewer, extra=(FOLDER,)) for d in 'AB'}
        if self.sources['B'].count() > 2:  # two image layers or more: the second for domain B
            self.sources['B'].setCurrentIndex(1)
        self.folders = {d: FolderChoice(caption='Folder of domain %s images (TIFF)' % d) for d in 'AB'}
        self.kind = QComboBox()
        self.kind.addItems(list(KINDS))
        self.name, self.basedir = QLineEdit('c2gan'), FolderChoice(caption='Folder for the model')
        self.basedir.set_folder(str(Path.cwd() / 'models'))
        self.defaults = {axes: Config(axes) for axes in KINDS.values()}
        self.patch_size, self.learning_rate = QLineEdit(), QLineEdit()
        self.spins = {key: self._spin(lo, hi) for key, lo, hi in (
            ('n_patches', 1, 100000), ('unet_n_depth', 1, 5), ('unet_n_first', 1, 512),
            ('train_batch_size', 1, 1024), ('train_epochs', 1, 100000), ('train_steps_per_epoch', 1, 1000000))}
        self.train_button, self.stop_button = QPushButton('Train'), QPushButton('Stop')
        self.stop_button.setEnabled(False)
        self.progress, self.plot = QProgressBar(), LossPlot()
        self.status, self.error = QLabel(), ErrorLine()
        self.status.setWordWrap(True)
        self._layout()
        for d in 'AB':
            self.sources[d].currentTextChanged.connect(self._sources_changed)
        self.kind.currentTextChanged.connect(self._kind_changed)
        self.train_button.clicked.connect(self.train)
        self.stop_button.clicked.connect(self.stop)
        self.reported.connect(self._report)
        self._kind_changed(self.kind.currentText())
        self._sources_changed()

    @staticmethod
    def _spin(lo, hi):
        spin = QSpinBox()
        spin.setRange(lo, hi)
        return spin

    def _layout(self):
        form = QFormLayout()
        for d, what in (('A', 'Degraded (A)'), ('B', 'Good (B)')):
            form.addRow(what, self.sources[d])
            form.addRow('', self.folders[d])
        form.addRow('Model', self.kind)
        form.addRow('Name', self.name)
        form.addRow('Base folder', self.basedir)
        form.addRow('Patch size', self.patch_size)
        for key, label in (('n_patches', 'Patches per image'), ('unet_n_depth', 'U-Net depth'),
                           ('unet_n_first', 'U-Net first filters'), ('train_batch_size', 'Batch size')):
            form.addRow(label, self.spins[key])
        form.addRow('Learning rate', self.learning_rate)
        form.addRow('Epochs', self.spins['train_epochs'])
        form.addRow('Steps per epoch', self.spins['train_steps_per_epoch'])
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.error)

    def _sources_changed(self, *_):
        for d in 'AB':
            self.folders[d].setVisible(self.sources[d].currentText() == FOLDER)

    def _kind_changed(self, kind):
        c = self.defaults[KINDS[kind]]
        self.patch_size.setText(' '.join(map(str, c.train_patch_size)))
        self.learning_rate.setText('%g' % c.train_learning_rate)
        for key, spin in self.spins.items():
            spin.setValue(N_PATCHES if key == 'n_patches' else getattr(c, key))

    # -- the run

    def _settings(self):
        """Network axes, patch size, patches per image and Config settings from the fields (ValueError if bad)."""
        axes = KINDS[self.kind.currentText()]
        try:
            patch_size = tuple(int(p) for p in self.patch_size.text().replace(',', ' ').split())
        except ValueError:
            patch_size = ()
        try:
            learning_rate = float(self.learning_rate.text())
        except ValueError:
            learning_rate = 0
        if len(patch_size) != len(axes) or min(patch_size) < 1:
            raise ValueError('patch size must be %d whole numbers (%s), got %r'
                             % (len(axes), ', '.join(axes), self.patch_size.text()))
        if not learning_rate > 0:
            raise ValueError('learning rate must be a number above 0, got %r' % self.learning_rate.text())
        if not self.name.text().strip() or not self.basedir.folder():
            raise ValueError('give the model a name and a base folder')
        settings = {k: s.value() for k, s in self.spins.items() if k != 'n_patches'}
        settings.update(train_patch_size=patch_size, train_learning_rate=learning_rate)
        return axes, patch_size, self.spins['n_patches'].value(), settings

    def _images(self, domain, n_dim):
        layer = self.sources[domain].layer()
        if layer is not None:
            return layer_images(layer, n_dim)
        if self.sources[domain].currentText() != FOLDER:
            raise ValueError('choose a layer or a folder of domain %s images' % domain)
        return folder_images(self.folders[domain].folder())

    def _ask_resume(self, folder):
        """Whether to resume the model in ``folder`` (True), start it again (False), or do nothing (None)."""
        answer = QMessageBox.question(
            self, 'The model exists', 'A model is in %s.\nResume its training? (No trains it again from the '
            'start.)' % folder, QMessageBox.Yes | QMessageBox.No | QMessageBox.Cancel, QMessageBox.Yes)
        return {QMessageBox.Yes: True, QMessageBox.No: False}.get(answer)

    def train(self):
        """Draw patches and train (in a worker thread); a model that exists is resumed or trained again."""
        from napari.qt.threading import create_worker
        self.error.clear()
        try:
            axes, patch_size, n_patches, settings = self._settings()
            images = {d: self._images(d, len(axes)) for d in 'AB'}
        except (OSError, ValueError) as e:
            self.error.show_error(e)
            return
        name, basedir = self.name.text().strip(), self.basedir.folder()
        resume = False
        if (Path(basedir) / name / CONFIG_FILE).exists():
            resume = self._ask_resume(Path(basedir) / name)
            if resume is None:
                return
        self.stop_requested.clear()
        self.plot.clear()
        self.progress.setValue(0)
        self.status.setText('Drawing patches...')
        self.worker = create_worker(_run, images, axes, patch_size, n_patches, settings, name, basedir, resume,
                                    StopAndReport(self.stop_requested, self.reported.emit,
                                                  max(1, settings['train_steps_per_epoch'] // 10)),
                                    _start_thread=False, _ignore_errors=True)
        self.worker.returned.connect(self._done)
        self.worker.errored.connect(lambda e: self.error.show_error(one_line(e)))
        self.worker.finished.connect(self._finished)
        self.train_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.worker.start()

    def stop(self):
        """End training after the current step; the model folder keeps what was trained and resumes."""
        self.stop_requested.set()
        self.stop_button.setEnabled(False)

    def _report(self, step, total, logs):
        self.progress.setMaximum(total)
        self.progress.setValue(step)
        self.status.setText('Step %d of %d' % (step, self.progress.maximum()))
        self.plot.add(step, logs)

    def _done(self, folder):
        stopped = ' (stopped: train again with the same name to resume)' if self.stop_requested.is_set() else ''
        self.status.setText('Model saved in %s%s.' % (folder, stopped))

    def _finished(self):
        self.train_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.worker = None


def _run(images, axes, patch_size, n_patches, settings, name, basedir, resume, callback):
    """Patches of both domains, then a new model trained, or the one in ``basedir/name`` resumed; its folder."""
    from c2gan_tf import C2GAN, Config

    from ..data import UnpairedData, UnpairedPatches, create_unpaired_patches
    data = UnpairedData.from_arrays(images['A'], images['B'], axes)
    patches = UnpairedPatches(*create_unpaired_patches(data, patch_size, n_patches, seed=0, verbose=False))
    # a tenth of each domain for validation, as `c2gan train --validation-split 0.1` keeps it, when there are enough
    patches = patches.split(0.1 if min(len(patches.X_A), len(patches.X_B)) >= 10 else 0)
    config = None if resume else Config(patches.axes[1:], n_channel_in=patches.X_A.shape[-1],
                                        n_channel_out=patches.X_B.shape[-1], **settings)
    model = C2GAN.train_or_resume(Path(basedir) / name, patches, config=config, resume=resume, callbacks=[callback])
    return str(model.logdir)
