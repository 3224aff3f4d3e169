"""Screenshots of the napari widgets for the README, taken from a real viewer that uses them.

The sample images are opened, a small model is trained with the Train widget (its loss curves drawn) and the
degraded stack is restored with the Restore widget; then each widget is saved as a PNG next to this script.

usage: python docs/napari_screenshots.py [--steps N]   (headless: QT_QPA_PLATFORM=offscreen, about 2 minutes)
"""
import argparse
import os
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def without_opengl():
    """Offscreen Qt has no OpenGL context: answer vispy's queries as napari's own tests do (widgets need no GL)."""
    import napari._vispy.layers.base as base
    import napari._vispy.layers.image as image
    image.get_gl_extensions = lambda: ''
    image.get_max_texture_sizes = base.get_max_texture_sizes = lambda: (4096, 2048)


def wait(app, widget):
    while widget.worker is not None:
        app.processEvents()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=40, help='training steps per epoch (3 epochs)')
    a = p.parse_args()
    import napari
    from qtpy.QtWidgets import QApplication
    if os.environ.get('QT_QPA_PLATFORM') == 'offscreen':
        without_opengl()
    viewer = napari.Viewer(show=False)
    app = QApplication.instance()
    viewer.open_sample('c2gan-tf', 'synthetic_pair')
    with tempfile.TemporaryDirectory() as tmp:
        train = viewer.window.add_plugin_dock_widget('c2gan-tf', 'Train')[1]
        train.basedir.set_folder(os.path.join(tmp, 'models'))
        train.patch_size.setText('64 64')
        for key, value in dict(n_patches=16, unet_n_first=16, train_batch_size=4, train_epochs=3,
                               train_steps_per_epoch=a.steps).items():
            train.spins[key].setValue(value)
        train.train_button.click()
        wait(app, train)
        restore = viewer.window.add_plugin_dock_widget('c2gan-tf', 'Restore and export')[1]
        restore.model_folder.set_folder(os.path.join(tmp, 'models', 'c2gan'))
        restore.image.setCurrentText('degraded (A)')
        restore.tiles.setText('1 2 2')
        restore.restore_button.click()
        wait(app, restore)
        for widget, name in ((restore, 'napari_restore.png'), (train, 'napari_train.png')):
            widget.resize(420, widget.sizeHint().height())
            app.processEvents()
            widget.grab().save(os.path.join(HERE, name))
            print('wrote', os.path.join(HERE, name), '|', widget.status.text(), widget.error.text())
    viewer.close()


if __name__ == '__main__':
    main()
