from setuptools import find_packages, setup

version = {}
exec(open('c2gan_tf/version.py').read(), version)

setup(
    name='c2gan_tf',
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
    ],
    extras_require={
        'test': ['pytest>=7', 'scikit-image', 'hypothesis', 'nbmake'],
        'bioimageio': ['bioimageio.core>=0.9', 'bioimageio.spec>=0.5.4'],
        'benchmarks': ['scikit-image', 'PyWavelets'],
    },
    entry_points={'console_scripts': ['c2gan = c2gan_tf.cli:main']},
)
