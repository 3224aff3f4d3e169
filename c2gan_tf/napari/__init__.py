"""napari plugin: restore, train and export from the viewer (widgets and sample data, declared in ``napari.yaml``).

Install with ``pip install -e ".[napari]"``; the widgets are under Plugins > c2GAN restoration, the sample images
under File > Open Sample. The widgets run the work in worker threads and call only the package's public API.
"""
