"""Pieces the widgets share: model folders remembered, image-layer choice, one-line errors, axes guesses."""

from pathlib import Path

from qtpy.QtCore import QSettings, Signal
from qtpy.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget

#: Model folders remembered in the dropdown.
N_RECENT = 10


def settings():
    """The plugin's settings (an INI file in the user's configuration folder)."""
    return QSettings(QSettings.IniFormat, QSettings.UserScope, 'c2gan_tf', 'napari')


def recent_models():
    """Model folders used recently, the latest first."""
    value = settings().value('recent_models', [])
    return [value] if isinstance(value, str) else list(value or [])


def remember_model(folder):
    """Put ``folder`` first in the recent model folders."""
    folder = str(Path(folder).resolve())
    settings().setValue('recent_models', [folder] + [f for f in recent_models() if f != folder][:N_RECENT - 1])


def guess_axes(ndim, network_axes, n_channel=1, labels=None):
    """Axes of a layer of ``ndim`` dimensions for a model with ``network_axes``, or None when it cannot fit.

    The layer's own axis labels win when they are axis letters (e.g. ``('z', 'y', 'x')``). Otherwise the last axes
    are the network's spatial axes, preceded by channels when the model has several, and the first ones are
    restored plane by plane: ``Z`` then ``T`` for a 2D model, ``T`` for a 3D one.
    """
    if labels is not None:
        letters = ''.join(str(a).upper() for a in labels)
        if len(letters) == ndim and set(letters) <= set('TZCYX') and len(set(letters)) == ndim:
            return letters
    spatial = network_axes.replace('C', '')
    base = ('C' if n_channel > 1 else '') + spatial
    extra = ndim - len(base)
    stack = {'YX': ('', 'Z', 'TZ'), 'ZYX': ('', 'T')}.get(spatial, ('',))
    return stack[extra] + base if 0 <= extra < len(stack) else None


def one_line(error):
    """An exception as one readable line (its type only when it has no message)."""
    text = str(error).strip().splitlines()
    text = text[0] if text else ''
    if isinstance(error, KeyError):
        text = text.strip('\'"')
    return text or type(error).__name__


class ErrorLine(QLabel):
    """One line in red for what went wrong (empty and hidden when all is well)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setStyleSheet('color: #e05050')
        self.setWordWrap(True)
        self.hide()

    def show_error(self, error):
        self.setText(error if isinstance(error, str) else one_line(error))
        self.show()

    def clear(self):
        self.setText('')
        self.hide()


class LayerChoice(QComboBox):
    """The viewer's image layers, kept up to date, with optional fixed entries after them (e.g. a folder)."""

    def __init__(self, viewer, extra=(), parent=None):
        super().__init__(parent)
        self.viewer, self.extra = viewer, tuple(extra)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed, viewer.layers.events.moved):
            event.connect(self.refresh)
        self.refresh()

    def refresh(self, event=None):
        from napari.layers import Image
        current = self.currentText()
        names = [layer.name for layer in self.viewer.layers if isinstance(layer, Image)] + list(self.extra)
        self.blockSignals(True)
        self.clear()
        self.addItems(names)
        self.blockSignals(False)
        if current in names:
            self.setCurrentText(current)
        elif names:
            self.currentTextChanged.emit(self.currentText())

    def layer(self):
        """The chosen image layer, or None (none there, or a fixed entry chosen)."""
        name = self.currentText()
        return self.viewer.layers[name] if name and name not in self.extra and name in self.viewer.layers else None


class FolderChoice(QWidget):
    """An editable dropdown of folders with a Browse button; ``recent`` fills the list."""

    changed = Signal(str)

    def __init__(self, recent=(), caption='Choose a folder', parent=None):
        super().__init__(parent)
        self.caption = caption
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.addItems(list(recent))
        self.combo.setCurrentIndex(0 if recent else -1)
        self.combo.currentTextChanged.connect(self.changed)
        browse = QPushButton('Browse...')
        browse.clicked.connect(self.browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(browse)

    def folder(self):
        return self.combo.currentText().strip()

    def set_folder(self, folder):
        self.combo.setCurrentText(str(folder))

    def keep(self, folder):
        """Put ``folder`` first in the dropdown's list."""
        index = self.combo.findText(str(folder))
        if index != 0:
            self.combo.blockSignals(True)
            if index > 0:
                self.combo.removeItem(index)
            self.combo.insertItem(0, str(folder))
            self.combo.setCurrentIndex(0)
            self.combo.blockSignals(False)

    def browse(self):
        folder = QFileDialog.getExistingDirectory(self, self.caption, self.folder())
        if folder:
            self.set_folder(folder)
