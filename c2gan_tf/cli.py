"""The ``c2gan`` command line: thin sub-commands that parse arguments, call the API and report."""

import argparse
import json
import os
import sys

from .io import OUTPUT_DTYPES


def _demo(args):
    from .demo import run_demo
    run_demo(args.outdir, ndim=args.ndim, epochs=args.epochs, steps_per_epoch=args.steps, seed=args.seed,
             tiny=args.tiny)


def _datagen(args):
    from csbdeep.data import no_background_patches

    from .data import UnpairedData, create_unpaired_patches
    data = UnpairedData.from_folder(args.basepath, args.source_dirs, args.target_dir, args.axes, args.pattern)
    print(data.description)
    X_A, X_B, axes, _ = create_unpaired_patches(
        data, args.patch_size, args.n_patches, patch_filter=no_background_patches() if args.skip_background else None,
        normalization=(args.pmin, args.pmax), save_file=args.out, seed=args.seed)
    print('%d patches of A and %d of B, axes %s, saved to %s' % (len(X_A), len(X_B), axes, args.out))


def _parse_settings(settings):
    """``KEY=VALUE`` strings to a dict, values read as JSON where they parse (numbers, lists, null, true)."""
    out = {}
    for item in settings:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise ValueError('--set takes KEY=VALUE, got %r' % item)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _train(args):
    from pathlib import Path

    from . import C2GAN, Config
    from .data import load_training_data
    (X_A, X_B), val, axes, stats = load_training_data(args.patches, args.validation_split, mmap=args.mmap)
    if args.resume:
        model = _load_model(Path(args.basedir) / args.name)
        model.train(X_A, X_B, validation_data=val, resume=True)
        print('Model saved in %s' % model.logdir)
        return
    settings = dict(train_patch_size=tuple(X_A.shape[1:-1]), **_parse_settings(args.set))
    for key in ('epochs', 'steps_per_epoch', 'batch_size'):
        if getattr(args, key) is not None:
            settings['train_' + key] = getattr(args, key)
    try:
        config = Config(axes[1:], n_channel_in=X_A.shape[-1], n_channel_out=X_B.shape[-1], **settings)
    except AttributeError as e:  # an unknown setting
        raise ValueError(str(e)) from None
    model = C2GAN(config, args.name, args.basedir)
    model.train(X_A, X_B, validation_data=val, intensity_stats=stats)
    print('Model saved in %s' % model.logdir)


def _load_model(folder):
    """The model in a model folder (``BASEDIR/NAME``)."""
    from pathlib import Path

    from . import C2GAN
    folder = Path(folder)
    if not (folder / 'config.json').exists():
        raise FileNotFoundError('no model (config.json) in %s' % folder)
    return C2GAN(None, folder.name, str(folder.parent))


def _predict(args):
    from pathlib import Path

    from tqdm.auto import tqdm

    from .io import axes_of, find_files, read_image, write_image
    files = []
    for item in map(Path, args.inputs):
        if item.is_dir() and item.suffix != '.zarr':
            files += find_files(item, args.pattern)
        elif item.is_file() or item.suffix == '.zarr':
            files.append(item)
        else:
            raise FileNotFoundError('input not found: %s' % item)
    model = _load_model(args.model)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    blockwise = [f for f in files if args.format == 'ome-zarr' or f.suffix == '.zarr']
    if blockwise:
        from .blocks import predict_blocks
    for f in blockwise:
        out = outdir / (f.name.split('.')[0] + '.ome.zarr')
        predict_blocks(model, str(f), str(out), axes=args.axes, direction=args.direction, block_size=args.block_size,
                       scheduler=args.scheduler)
        print('%s -> %s' % (f, out))
    for f in tqdm([f for f in files if f not in blockwise], desc='files', disable=len(files) < 2):
        img, info = read_image(f)
        axes = axes_of(info, args.axes, f, img.ndim)
        try:
            restored = model.predict(img, axes, n_tiles=args.n_tiles, direction=args.direction)
        except ValueError as e:
            raise ValueError('%s: %s' % (f, e)) from None
        out = outdir / (f.name.split('.')[0] + ('.ome.tif' if info.flavour == 'ome' else '.tif'))
        clipping = write_image(out, restored, axes, info, dtype=args.dtype)
        print('%s -> %s (%s)' % (f, out, clipping))


def _export(args):
    from pathlib import Path

    from .export import EXPORT_NAMES
    from .io import axes_of, read_image
    model = _load_model(args.model)
    out = args.out or str(Path(args.model) / (EXPORT_NAMES[args.format] % args.direction))
    if args.format == 'fiji':
        model.export_TF(out, direction=args.direction)
    elif args.format == 'savedmodel':
        model.export_savedmodel(out, direction=args.direction)
    else:
        if args.test_input is None:
            raise ValueError('--format bioimageio needs --test-input (a TIFF image)')
        img, info = read_image(args.test_input)
        axes = axes_of(info, args.axes, args.test_input, img.ndim)
        model.export_bioimageio(out, img, axes, direction=args.direction, name=args.name, authors=args.authors)
    print('Exported %s (%s)' % (out, args.format))


def _add_demo(sub):
    """The ``demo`` sub-command."""
    p = sub.add_parser('demo', help='train a small model on synthetic data and restore a test image',
                       description='Generate synthetic unpaired low- and high-SNR images, train a small c2GAN '
                                   '(about two minutes on a CPU with the defaults), restore a held-out test image '
                                   'and write it with a before/after figure and metrics against ground truth.')
    p.add_argument('--outdir', default='c2gan_demo', help='output folder (default: %(default)s)')
    p.add_argument('--ndim', type=int, choices=(2, 3), default=2, help='2D or 3D data (default: %(default)s)')
    p.add_argument('--epochs', type=int, default=8, help='training epochs (default: %(default)s)')
    p.add_argument('--steps', type=int, default=100, help='steps per epoch (default: %(default)s)')
    p.add_argument('--seed', type=int, default=0, help='random seed (default: %(default)s)')
    p.add_argument('--tiny', action='store_true', help='tiny network and images (a quick check)')
    p.set_defaults(func=_demo)


def _add_datagen(sub):
    """The ``datagen`` sub-command."""
    p = sub.add_parser('datagen', help='unpaired training patches from two folders of TIFF images',
                       description='Read domain A (degraded) images from BASEPATH/SOURCE_DIRS and domain B (good) '
                                   'images from BASEPATH/TARGET_DIR, normalise each image with percentiles, draw '
                                   'random patches from each domain independently and alike (anywhere in the '
                                   'image) and save them as an npz file.')
    p.add_argument('basepath', help='folder holding the image folders')
    p.add_argument('--source-dirs', nargs='+', required=True, help='folder(s) of domain A images')
    p.add_argument('--target-dir', required=True, help='folder of domain B images')
    p.add_argument('--axes', required=True, help='axes of the images, e.g. YX, ZYX, CYX, ZCYX')
    p.add_argument('--patch-size', type=int, nargs='+', required=True, help='spatial patch size, e.g. 128 128')
    p.add_argument('--n-patches', type=int, default=64, help='patches per image (default: %(default)s)')
    p.add_argument('--pattern', default='*.tif*', help='file name pattern (default: %(default)s)')
    p.add_argument('--pmin', type=float, default=1.0, help='low normalisation percentile (default: %(default)s)')
    p.add_argument('--pmax', type=float, default=99.8, help='high normalisation percentile (default: %(default)s)')
    p.add_argument('--skip-background', action='store_true',
                   help="skip background-only patches (csbdeep's no_background_patches) in both domains; on noisy "
                        'data it keeps far more patches of A than of B, which biases training (default: keep all)')
    p.add_argument('--seed', type=int, default=None, help='random seed')
    p.add_argument('--out', default='patches.npz', help='output file (default: %(default)s)')
    p.set_defaults(func=_datagen)


def _add_train(sub):
    """The ``train`` sub-command."""
    p = sub.add_parser('train', help='train a model on unpaired patches',
                       description='Train a c2GAN on the patches of an npz file made by "c2gan datagen". The model '
                                   'folder BASEDIR/NAME receives config.json, domain_stats.json, weights and '
                                   'TensorBoard logs.')
    p.add_argument('patches', help='npz file of unpaired patches')
    p.add_argument('--name', required=True, help='model name')
    p.add_argument('--basedir', default='models', help='folder of model folders (default: %(default)s)')
    p.add_argument('--epochs', type=int, help='training epochs')
    p.add_argument('--steps-per-epoch', type=int, help='steps per epoch')
    p.add_argument('--batch-size', type=int, help='batch size')
    p.add_argument('--validation-split', type=float, default=0.1,
                   help='fraction of patches kept for validation (default: %(default)s)')
    p.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                   help='any configuration setting, e.g. --set unet_n_first=16 --set struct_rho0=0 (repeatable)')
    p.add_argument('--mmap', action='store_true', help='memory-map the patches (data larger than memory)')
    p.add_argument('--resume', action='store_true',
                   help='continue the interrupted run of BASEDIR/NAME from its last checkpoint (its own settings)')
    p.set_defaults(func=_train)


def _add_predict(sub):
    """The ``predict`` sub-command."""
    p = sub.add_parser('predict', help='restore TIFF or (OME-)Zarr images with a trained model',
                       description='Restore TIFF files (or all matching files in folders), and (OME-)Zarr images. The '
                                   "outputs keep the inputs' axes and pixel size (ImageJ hyperstack, or OME-TIFF for "
                                   'OME inputs); integer outputs are rounded and clipped to their range, and the '
                                   'fraction of clipped pixels is reported per file. Zarr inputs (and TIFF with '
                                   '--format ome-zarr) are restored block by block with Dask into OME-Zarr, never '
                                   'whole in memory; a killed run started again with the same command continues. '
                                   'Stacks and movies that the model\'s axes do not cover are restored plane by '
                                   'plane with one normalisation.')
    p.add_argument('model', help='model folder (BASEDIR/NAME)')
    p.add_argument('inputs', nargs='+', help='TIFF files or folders')
    p.add_argument('--axes', help='axes of the input images, e.g. YX, ZYX, CYX (default: from the ImageJ or OME '
                                  'metadata of each file; needed for plain TIFFs)')
    p.add_argument('--dtype', choices=OUTPUT_DTYPES, default='float32',
                   help="data type of the outputs; 'same' is the input's (default: %(default)s)")
    p.add_argument('--outdir', default='restored', help='output folder (default: %(default)s)')
    p.add_argument('--n-tiles', type=int, nargs='+', help='tiles per axis of the input, e.g. 1 4 4')
    p.add_argument('--direction', choices=('AtoB', 'BtoA'), default='AtoB',
                   help='AtoB restores (default), BtoA degrades')
    p.add_argument('--pattern', default='*.tif*', help='file name pattern in folders (default: %(default)s)')
    p.add_argument('--format', choices=('tiff', 'ome-zarr'), default='tiff',
                   help='output of TIFF inputs: TIFF (in memory), or OME-Zarr block by block with Dask for images '
                        'larger than memory; Zarr inputs always give OME-Zarr (default: %(default)s)')
    p.add_argument('--block-size', type=int, help='OME-Zarr: block side in Y and X (default 512 for a 2D model; 256, '
                   'and 32 in Z, for a 3D one)')
    p.add_argument('--scheduler', help='OME-Zarr: address of a dask.distributed scheduler to run the blocks on '
                                       '(default: Dask\'s threaded scheduler in this process)')
    p.set_defaults(func=_predict)


def _add_export(sub):
    """The ``export`` sub-command."""
    p = sub.add_parser('export', help='export a generator for Fiji, TensorFlow 2 or bioimage.io',
                       description='Export the A->B (or B->A) generator: "fiji" writes a zip that the CSBDeep Fiji '
                                   'plugin (TensorFlow 1.15) loads; "savedmodel" a TensorFlow 2 SavedModel folder; '
                                   '"bioimageio" a bioimage.io model package (needs c2gan_tf[bioimageio]).')
    p.add_argument('model', help='model folder (BASEDIR/NAME)')
    p.add_argument('--format', choices=('fiji', 'savedmodel', 'bioimageio'), default='fiji',
                   help='export format (default: %(default)s)')
    p.add_argument('--direction', choices=('AtoB', 'BtoA'), default='AtoB', help='generator (default: AtoB)')
    p.add_argument('--out', help='output (default: in the model folder)')
    p.add_argument('--test-input', help='bioimageio: a TIFF image of the source domain for the test tensors')
    p.add_argument('--axes', help='bioimageio: axes of the test input, e.g. YX (default: from its metadata)')
    p.add_argument('--name', help='bioimageio: name of the model')
    p.add_argument('--authors', nargs='+', default=['c2gan_tf user'], help='bioimageio: authors')
    p.set_defaults(func=_export)


def build_parser():
    parser = argparse.ArgumentParser(prog='c2gan', description='Unsupervised image restoration with c2GAN.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    for add in (_add_demo, _add_datagen, _add_train, _add_predict, _add_export):
        add(sub)
    return parser


def _import_tensorflow_quietly():
    """Import TensorFlow and find its devices with stderr silenced.

    Its C++ libraries print notices while loading, and "failed call to cuInit" on every machine without a GPU,
    which no setting hides. Only a real problem is reported: an NVIDIA device that TensorFlow cannot use.
    """
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf
        gpus = tf.config.list_physical_devices('GPU')
    finally:
        os.dup2(saved, 2)
        os.close(saved), os.close(devnull)
    if not gpus and os.path.exists('/proc/driver/nvidia'):
        print('c2gan: warning: this machine has an NVIDIA driver, but TensorFlow finds no GPU it can use (check '
              'its CUDA libraries); running on the CPU', file=sys.stderr)


def main(argv=None):
    """Entry point of ``c2gan``: returns 0 on success, 1 with one line on stderr for bad input."""
    args = build_parser().parse_args(argv)
    _import_tensorflow_quietly()
    try:
        args.func(args)
    except (ValueError, OSError, FloatingPointError) as e:
        print('c2gan %s: error: %s' % (args.command, e), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
