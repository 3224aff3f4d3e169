from setuptools import find_packages, setup

version = {}
exec(open('c2gan_tf/version.py').read(), version)

# the documentation site (mkdocs.yml; tests/test_docs.py builds it)
DOCS = ['mkdocs>=1.6', 'mkdocstrings[python]>=0.26']

setup(
    name='c2gan-tf',
    version=version['__version__'],
    description='Unsupervised fluorescence image restoration with c2GAN (content-preserving CycleGAN), '
                'TensorFlow 2 / Keras 3, in the style of CSBDeep',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    license='BSD-3-Clause',
    packages=find_packages(exclude=['tests', 'tests.*']),
    python_requires='>=3.9',
    install_requires=[
        'tensorflow>=2.16',
        'keras>=3.0',
        'csbdeep>=0.8.2',
        'numpy',
        'scipy',
        'tifffile',
        'h5py',
        'matplotlib',
        'tensorboard',
        'tqdm',
        # images larger than memory: Dask arrays, a local or distributed scheduler, (OME-)Zarr in and out
        # dask's distributed extra pins distributed to dask's own release (dask 2026.11 with distributed 2026.8,
        # which installing them apart gives, cannot import)
        'dask[array,distributed]',
        'zarr>=3',
        'ome-zarr>=0.11',
    ],
    extras_require={
        'test': ['pytest>=7', 'pytest-timeout', 'pytest-xdist', 'pytest-qt', 'scikit-image', 'hypothesis', 'nbmake'] + DOCS,
        'docs': DOCS,
        # the plugin (widgets, sample data; c2gan_tf/napari/napari.yaml) with napari and a Qt binding
        'napari': ['napari[pyqt5]>=0.5', 'npe2'],
        'bioimageio': [
            'bioimageio.core>=0.9',
            'bioimageio.spec>=0.5.4',
            # pydantic 2.14.0 to 2.14.4 break the serialisation of bioimageio.spec 0.5.12.0 (the version that
            # bioimageio.core 0.11.0, the newest, pins): save_bioimageio_package fails with "'index_key' is
            # expected to be an integer or a string, got 'SerializationInfo(...)'". 2.13.4 works (checked).
            'pydantic<2.14',
        ],
        # quality_real.py's Noise2Void baseline also needs CAREamics (and PyTorch), installed by hand: see
        # benchmarks/README.md
        'benchmarks': ['scikit-image', 'PyWavelets', 'bm3d'],
    },
    package_data={'c2gan_tf': ['napari/napari.yaml']},
    entry_points={'console_scripts': ['c2gan = c2gan_tf.cli:main'],
                  'napari.manifest': ['c2gan-tf = c2gan_tf.napari:napari.yaml']},
)
