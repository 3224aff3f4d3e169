"""The ``c2gan`` command line: thin sub-commands that parse arguments, call the API and report.

Arguments, folders and files are checked before TensorFlow is imported (which takes seconds), so that a mistake is
reported at once, in one line. Outputs never replace inputs or each other; batches go on past a bad file.
"""

import argparse
import ast
import json
import sys
import warnings
from pathlib import Path

from .folder import STATE_FILE, read_model_config, weights_path
from .io import OUTPUT_DTYPES
from .quiet import import_tensorflow_quietly

#: Image extensions that output names leave out (the longest first): ``cell.t1.ome.tif`` -> ``cell.t1``.
IMAGE_SUFFIXES = ('.ome.tiff', '.ome.tif', '.ome.zarr', '.tiff', '.tif', '.zarr')
#: Suffix of the outputs' names when they are written into their inputs' folder (``--suffix`` sets another).
IN_PLACE_SUFFIX = '_restored'


class Interrupted(Exception):
    """Ctrl-C, with the line that says what was kept and how to go on."""


def _demo(args):
    from .demo import run_demo
    run_demo(args.outdir, ndim=args.ndim, epochs=args.epochs, steps_per_epoch=args.steps, seed=args.seed,
             tiny=args.tiny, report=print)


def _check_datagen(args):
    from .io import domain_files
    domain_files(args.basepath, args.source_dirs, args.pattern, 'A')
    domain_files(args.basepath, [args.target_dir], args.pattern, 'B')


def _datagen(args):
    from csbdeep.data import no_background_patches

    from .data import UnpairedData, create_unpaired_patches
    data = UnpairedData.from_folder(args.basepath, args.source_dirs, args.target_dir, args.axes, args.pattern)
    print(data.description)
    X_A, X_B, axes, _ = create_unpaired_patches(
        data, args.patch_size, args.n_patches, patch_filter=no_background_patches() if args.skip_background else None,
        normalization=(args.pmin, args.pmax), save_file=args.out, seed=args.seed)
    print('%d patches of A and %d of B, axes %s, saved to %s' % (len(X_A), len(X_B), axes, args.out))


def parse_value(text):
    """A ``--set`` value: JSON (``32``, ``[32, 32]``, ``true``, ``null``), else a Python literal (``(32, 32)``,
    ``True``, ``None``), else the text itself (``constant``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_settings(settings):
    """``KEY=VALUE`` strings to a dict (:func:`parse_value`); ValueError for an item without ``=``."""
    out = {}
    for item in settings:
        key, sep, value = item.partition('=')
        if not sep or not key.strip():
            raise ValueError('--set takes KEY=VALUE (any Config setting), got %r' % item)
        out[key.strip()] = parse_value(value.strip())
    return out


def _cli_settings(args):
    """The settings of ``c2gan train``'s own options, as Config keys."""
    return {'train_' + key: getattr(args, key) for key in ('epochs', 'steps_per_epoch', 'batch_size')
            if getattr(args, key) is not None}


def _check_train(args):
    import zipfile
    patches = Path(args.patches)
    if not patches.is_file():
        raise FileNotFoundError('patches file not found: %s' % patches)
    if not zipfile.is_zipfile(patches):
        raise ValueError('%s is not an .npz file of patches (c2gan datagen and save_training_data write them)'
                         % patches)
    settings = parse_settings(args.set)
    folder = Path(args.basedir) / args.name
    if args.resume and args.overwrite:
        raise ValueError('--resume continues the run in %s and --overwrite replaces it: choose one' % folder)
    if args.resume:
        config = read_model_config(folder)
        asked = dict(settings, **{k: v for k, v in _cli_settings(args).items() if k != 'train_epochs'})
        differ = ['%s is %r there, not %r' % (k, config.get(k), v) for k, v in asked.items()
                  if _comparable(config.get(k)) != _comparable(v)]
        if differ:
            raise ValueError('--resume keeps the settings of the run in %s: %s; leave them out (--epochs N trains '
                             'it further), or train anew with --overwrite' % (folder, '; '.join(differ)))
    elif (folder / 'config.json').exists() and not args.overwrite:
        raise ValueError('%s already holds a model: --resume continues its run, --overwrite replaces it (its '
                         'weights and exports are deleted), or choose another --name' % folder)


def _comparable(value):
    return list(value) if isinstance(value, (tuple, list)) else value


def _train(args):
    import shutil

    from . import C2GAN, Config
    from .data import UnpairedPatches
    patches = UnpairedPatches.load(args.patches, args.validation_split, mmap=args.mmap)
    folder = Path(args.basedir) / args.name
    try:
        config = None
        if not args.resume:
            # the user's --set wins over what the command fills in from the patches and its own options
            settings = dict(axes=patches.axes[1:], train_patch_size=tuple(patches.X_A.shape[1:-1]),
                            n_channel_in=patches.X_A.shape[-1], n_channel_out=patches.X_B.shape[-1],
                            **_cli_settings(args))
            settings.update(parse_settings(args.set))
            config = Config(settings.pop('axes'), **settings)
            if args.overwrite and folder.exists():
                shutil.rmtree(folder)
        model = C2GAN.train_or_resume(folder, patches, config=config, resume=args.resume, epochs=args.epochs)
    except KeyboardInterrupt:
        raise Interrupted(_how_to_resume(args, folder)) from None
    print('Model saved in %s' % model.logdir)


def _how_to_resume(args, folder):
    """What an interrupted training kept, and the command that continues it."""
    try:
        with open(folder / STATE_FILE) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return 'no epoch was completed; nothing to resume in %s' % folder
    return ('%s keeps its last complete epoch (%d of %d); continue with: c2gan train %s --name %s --basedir %s '
            '--resume' % (folder, state['epoch'], state['epochs'], args.patches, args.name, args.basedir))


def output_name(path, suffix=''):
    """An output's name: the input's without its image extension (:data:`IMAGE_SUFFIXES`), plus ``suffix``."""
    name = Path(path).name
    for ext in IMAGE_SUFFIXES:
        if name.lower().endswith(ext):
            return name[:-len(ext)] + suffix
    return Path(path).stem + suffix


def _inputs(args):
    """The input files of ``c2gan predict``, folders expanded."""
    from .io import find_files
    files = []
    for item in map(Path, args.inputs):
        if item.is_dir() and item.suffix != '.zarr':
            files += find_files(item, args.pattern)
        elif item.is_file() or (item.suffix == '.zarr' and item.exists()):
            files.append(item)
        else:
            raise FileNotFoundError('input not found: %s' % item)
    return files


def plan_outputs(files, outdir, suffix=None, fmt='tiff', is_ome=lambda f: False):
    """``{input: output}`` for ``c2gan predict``, refusing any output that would replace an input or another output.

    Outputs keep the input's name without its image extension; in the input's own folder they get
    :data:`IN_PLACE_SUFFIX` unless ``suffix`` says otherwise. ``is_ome(file)`` tells whether a TIFF input carries OME
    metadata (its output is then ``.ome.tif``).
    """
    outdir = Path(outdir).resolve()
    inputs = {Path(f).resolve() for f in files}
    plan, taken = {}, {}
    for f in files:
        blockwise = fmt == 'ome-zarr' or Path(f).suffix == '.zarr'
        ext = '.ome.zarr' if blockwise else ('.ome.tif' if is_ome(f) else '.tif')
        own = Path(f).resolve().parent == outdir
        out = outdir / (output_name(f, IN_PLACE_SUFFIX if suffix is None and own else (suffix or '')) + ext)
        if out in inputs:
            raise ValueError('%s would replace its input; give another --outdir or a --suffix' % out)
        if out in taken:
            raise ValueError('%s and %s would both be written to %s; restore them into different folders (--outdir) '
                             'or rename one' % (taken[out], f, out))
        taken[out] = f
        plan[f] = out
    return plan


def _is_ome(path):
    from .io import read_image_info
    try:
        return read_image_info(path).flavour == 'ome'
    except ValueError:
        return False  # not a readable TIFF: reported when it is restored


def _check_model(args):
    read_model_config(args.model)
    weights_path(args.model, args.weights)


def _check_predict(args):
    _check_model(args)
    files = _inputs(args)
    args.plan = plan_outputs(files, args.outdir, args.suffix, args.format, _is_ome)
    if args.qc and args.direction != 'AtoB':
        raise ValueError('--qc is for restorations (--direction AtoB)')
    if args.lowpass_weight is not None and not 0 <= args.lowpass_weight <= 1:
        raise ValueError('--lowpass-weight must be a fraction from 0 to 1, got %g' % args.lowpass_weight)
    if args.qc:
        taken = {Path(f).resolve() for f in files} | set(args.plan.values())
        for f, out in args.plan.items():
            if qc_name(out) in taken:
                raise ValueError('the QC map of %s would be written to %s, which is an input or an output; '
                                 'give another --suffix' % (f, qc_name(out)))


def _predict(args):
    from . import C2GAN
    model = C2GAN.from_folder(args.model, weights=args.weights)
    Path(args.outdir).mkdir(parents=True, exist_ok=True)
    failed, skipped = [], []
    try:
        for f, out in args.plan.items():
            if out.exists() and not args.overwrite:
                skipped.append(out)
                print('%s -> %s exists, kept (--overwrite replaces it)' % (f, out))
                continue
            try:
                print(_restore_file(model, f, out, args))
            except (ValueError, OSError) as e:
                failed.append(f)
                print('c2gan predict: error: %s' % _with_file(e, f), file=sys.stderr, flush=True)
                if args.fail_fast:
                    break
    except KeyboardInterrupt:
        raise Interrupted('the outputs finished so far are complete; the same command restores the others '
                          '(finished outputs are kept)') from None
    if failed and len(args.plan) > 1:
        raise ValueError('%d of %d files failed (see above)%s' % (
            len(failed), len(args.plan), '' if not args.fail_fast else '; --fail-fast stopped the batch there'))
    if failed:
        raise SystemExit(1)


def _with_file(error, f):
    """An error's message, starting with the file's name unless it names it already."""
    message = str(error) or type(error).__name__
    return message if str(f) in message else '%s: %s' % (f, message)


def _warn_of_clipping(out, clipping):
    from .io import CLIP_TOLERANCE
    if clipping.fraction > CLIP_TOLERANCE:
        print('c2gan predict: warning: %s: %.2f %% of the pixels were clipped to the range of %s (leave out --clip '
              'to map the image into the range instead)' % (out, 100 * clipping.fraction, clipping.dtype),
              file=sys.stderr)


def _restore_file(model, f, out, args):
    """Restore one input into ``out`` (written to a temporary name, then renamed); the line to print."""
    from .atomic import atomic_path
    from .io import axes_of, read_image, write_image
    if out.suffix == '.zarr':
        from .blocks import predict_blocks
        from .io.zarr import conversion_of
        result = predict_blocks(model, str(f), str(out), axes=args.axes, direction=args.direction,
                                block_size=args.block_size, scheduler=args.scheduler, dtype=args.dtype,
                                rescale=not args.clip, qc=str(qc_name(out)) if args.qc else None,
                                lowpass_weight=args.lowpass_weight)
        clipping = conversion_of(out)
        _warn_of_clipping(out, clipping)
        return '%s -> %s (%s)' % (f, out, clipping) + (_qc_line(out, result[1]) if args.qc else '')
    img, info = read_image(f)
    axes = axes_of(info, args.axes, f, img.ndim)
    restored = model.predict(img, axes, n_tiles=args.n_tiles, direction=args.direction, return_qc=args.qc,
                             lowpass_weight=args.lowpass_weight)
    if args.qc:
        restored, qc = restored
        with atomic_path(qc_name(out)) as tmp:
            write_image(tmp, qc.map, qc.axes, info)
    with atomic_path(out) as tmp:
        clipping = write_image(tmp, restored, axes, info, dtype=args.dtype, rescale=not args.clip)
    _warn_of_clipping(out, clipping)
    return '%s -> %s (%s)' % (f, out, clipping) + (_qc_line(out, qc.summary) if args.qc else '')


def _qc_line(out, s):
    return '\n  QC %s: %.1f %% of the area changed, cycle residual %.4f, distance to B %s, spectrum %s' % (
        qc_name(out), 100 * s['changed_fraction'], s['cycle_residual'],
        *('unknown' if s.get(k) is None else '%.4f' % s[k] for k in ('distance_to_b', 'spectrum_distance')))


def qc_name(out):
    """The QC map written beside an output: ``NAME_qc.tif`` (``.ome.tif``, ``.ome.zarr`` for those outputs)."""
    ext = next((e for e in ('.ome.tif', '.ome.zarr') if out.name.endswith(e)), out.suffix)
    return out.with_name(output_name(out) + '_qc' + ext)


def _check_export(args):
    _check_model(args)
    if args.test_input is not None and not Path(args.test_input).is_file():
        raise FileNotFoundError('test input not found: %s' % args.test_input)


def _export(args):
    from . import C2GAN
    from .export import EXPORT_NAMES
    from .io import axes_of, read_image
    model = C2GAN.from_folder(args.model, weights=args.weights)
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


def _qc_inputs(args):
    """The images (and ground truth) ``c2gan qc`` judges the checkpoints on: ``[(input, ground truth or None)]``."""
    from .io import find_files
    if args.pairs:
        low, high = (Path(p) for p in args.pairs)
        for folder in (low, high):
            if not folder.is_dir():
                raise FileNotFoundError('--pairs: folder not found: %s' % folder)
        lows = {f.name: f for f in find_files(low, args.pattern)}
        highs = {f.name: f for f in find_files(high, args.pattern)}
        unmatched = sorted(set(lows) ^ set(highs))
        if unmatched:
            raise ValueError('--pairs: %s has no file of the same name in the other folder (%s and %s must hold '
                             'registered pairs of the same names)' % (unmatched[0], low, high))
        return [(lows[n], highs[n]) for n in sorted(lows)]
    if not args.images:
        if args.use is not None:
            return []
        raise ValueError('give --images (degraded images to judge the checkpoints on) or --pairs LOW_DIR HIGH_DIR')
    args.inputs = args.images
    return [(f, None) for f in _inputs(args)]


def _check_qc(args):
    read_model_config(args.model)
    if not (Path(args.model) / STATE_FILE).is_file():
        raise FileNotFoundError('%s has no training state (%s): nothing to compare' % (args.model, STATE_FILE))
    args.files = _qc_inputs(args)


def _qc(args):
    from .checkpoints import rank_checkpoints, use_checkpoint
    from .io import axes_of, read_image
    if args.use is not None and not args.files:
        print('%s now loads the weights of epoch %d (%s)' % (args.model, args.use, use_checkpoint(args.model, args.use)))
        return
    images, truth, axes = [], [], None
    for f, gt in args.files:
        img, info = read_image(f)
        axes = axes_of(info, args.axes, f, img.ndim)
        images.append(img)
        if gt is not None:
            g = read_image(gt)[0]
            if g.shape != img.shape:
                raise ValueError('--pairs: %s has shape %s, %s has %s' % (f, img.shape, gt, g.shape))
            truth.append(g)
    rows = rank_checkpoints(args.model, images, axes, truth or None, args.n_tiles)
    if not rows:
        raise ValueError('%s keeps no weights to compare (train with --set train_save_every=N)' % args.model)
    _report_qc(args, rows, images[0], truth[0] if truth else None)
    if args.use is not None:
        print('%s now loads the weights of epoch %d (%s)' % (args.model, args.use, use_checkpoint(args.model, args.use)))


def _report_qc(args, rows, image, truth):
    """The table, ``qc.json`` and ``qc.png`` of ``c2gan qc``."""
    from .atomic import write_json_atomic
    from .model import C2GAN
    default = C2GAN.from_folder(args.model).weights_epoch()
    paired = truth is not None
    print('%6s %-44s %8s %9s %9s %9s%s' % ('epoch', 'weights', 'score', 'changed', 'dist. B', 'spectrum',
                                           '   PSNR   SSIM' if paired else ''))
    for r in rows:
        print('%6d %-44s %8.4f %8.1f%% %9.4f %9.4f%s%s' % (
            r['epoch'], r['file'], r['score'], 100 * r['changed_fraction'], r['distance_to_b'], r['spectrum_distance'],
            '  %6.2f  %.3f' % (r['psnr_normalized'], r['ssim_normalized']) if paired else '',
            '  (default)' if r['epoch'] == default else ''))
    out = Path(args.out or args.model)
    out.mkdir(parents=True, exist_ok=True)
    table = [{k: v for k, v in r.items() if k != 'restored'} for r in rows]
    write_json_atomic(dict(model=str(args.model), ranked_by='psnr_normalized' if paired else 'score',
                           default_epoch=default, checkpoints=table), out / 'qc.json')
    _qc_figure(rows, default, image, truth, out / 'qc.png')
    print('best: epoch %d; wrote %s and %s' % (rows[0]['epoch'], out / 'qc.json', out / 'qc.png'))


def _qc_figure(rows, default, image, truth, path):
    import numpy as np
    from matplotlib.figure import Figure

    from .plot import display
    by_epoch = sorted(rows, key=lambda r: r['epoch'])
    chosen = next((r for r in rows if r['epoch'] == default), rows[-1])
    panels = [('input', image), ('best: epoch %d' % rows[0]['epoch'], rows[0]['restored']),
              ('default: epoch %d' % chosen['epoch'], chosen['restored'])] + ([('ground truth', truth)] if truth is not None else [])
    fig = Figure(figsize=(3.2 * (len(panels) + 1), 3.2))
    ax = fig.add_subplot(1, len(panels) + 1, 1)
    ax.plot([r['epoch'] for r in by_epoch], [r['score'] for r in by_epoch], 'o-', label='QC score (lower is better)')
    ax.set_xlabel('epoch')
    if truth is not None:
        ax2 = ax.twinx()
        ax2.plot([r['epoch'] for r in by_epoch], [r['psnr_normalized'] for r in by_epoch], 's--', color='C1')
        ax2.set_ylabel('normalised PSNR (dB)', color='C1')
    ax.set_ylabel('QC score')
    for i, (title, img) in enumerate(panels):
        a = fig.add_subplot(1, len(panels) + 1, i + 2)
        view, lo, hi = display(np.asarray(img, np.float32))
        a.imshow(view, cmap='magma', vmin=lo, vmax=hi)
        a.set_title(title, fontsize=9)
        a.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=70)


def _add_weights(p):
    p.add_argument('--weights', default=None,
                   help="weights to load: 'best' (lowest validation val_select, or val_qc), 'last' (the last epoch) "
                        "or a file name in the model folder (default: the model's own choice, train_select: the "
                        'last epoch unless it was trained with train_select=val_select or val_qc)')


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
    p.set_defaults(func=_demo, check=None)


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
    p.set_defaults(func=_datagen, check=_check_datagen)


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
                   help='continue the run of BASEDIR/NAME from its last checkpoint, with its own settings '
                        '(--epochs N trains a finished run further)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace the model in BASEDIR/NAME if there is one (its weights and exports are deleted)')
    p.set_defaults(func=_train, check=_check_train)


def _add_predict(sub):
    """The ``predict`` sub-command."""
    p = sub.add_parser('predict', help='restore TIFF or (OME-)Zarr images with a trained model',
                       description='Restore TIFF files (or all matching files in folders), and (OME-)Zarr images. The '
                                   "outputs keep the inputs' axes and pixel size (ImageJ hyperstack, or OME-TIFF for "
                                   'OME inputs); integer outputs (TIFF and OME-Zarr alike) are rounded, and mapped '
                                   'into their type\'s range when they do not fit (the mapping stored with the '
                                   'image; --clip clips instead), as reported per file. Zarr inputs (and TIFF with '
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
    p.add_argument('--suffix', default=None,
                   help='added to the output names (default: none, or %r when the outputs go into the inputs\' '
                        'folder; an output never replaces its input)' % IN_PLACE_SUFFIX)
    p.add_argument('--overwrite', action='store_true', help='replace existing outputs (default: keep them)')
    p.add_argument('--clip', action='store_true',
                   help='integer --dtype: clip values outside the type\'s range (default: when more than 0.01 %% of '
                        'the pixels would be clipped, map the image into the range and store the mapping in the '
                        'metadata)')
    p.add_argument('--lowpass-weight', type=float, default=None,
                   help="how much of a restoration's low band (Gaussian of the model's output_lowpass_sigma) is "
                        "taken from the input's: 0 (G's output as it is, as the exports compute) to 1 (default: "
                        "the model's output_lowpass_weight, 0.5 for 2D models)")
    p.add_argument('--qc', action='store_true',
                   help='also write NAME_qc.tif (NAME_qc.ome.zarr) beside each output: where the restoration may '
                        'have changed content '
                        '(0 kept to 1 changed; from the saliency masks and the cycle residual, no ground truth), '
                        'and print its summary')
    p.add_argument('--fail-fast', action='store_true',
                   help='stop at the first file that fails (default: restore the others, then exit 1)')
    _add_weights(p)
    p.set_defaults(func=_predict, check=_check_predict)


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
    _add_weights(p)
    p.set_defaults(func=_export, check=_check_export)


def _add_qc(sub):
    """The ``qc`` sub-command."""
    p = sub.add_parser('qc', help="rank a model's kept checkpoints, with or without ground truth",
                       description='Restore a few images with every checkpoint a model kept (train with --set '
                                   'train_save_every=N; weights_last and weights_best too) and rank them: by the QC '
                                   'score (area of content changed plus the distances of the outputs\' intensities '
                                   'and power spectra to domain B\'s; no ground truth), or with --pairs by '
                                   'normalised PSNR and SSIM. Prints a table and writes qc.json and qc.png; --use '
                                   'EPOCH makes a checkpoint the default.')
    p.add_argument('model', help='model folder (BASEDIR/NAME)')
    p.add_argument('--images', nargs='+', help='degraded (domain A) TIFF files or folders to judge on')
    p.add_argument('--pairs', nargs=2, metavar=('LOW_DIR', 'HIGH_DIR'),
                   help='folders of registered degraded and good images with the same file names')
    p.add_argument('--axes', help='axes of the images (default: from their metadata)')
    p.add_argument('--pattern', default='*.tif*', help='file name pattern in folders (default: %(default)s)')
    p.add_argument('--n-tiles', type=int, nargs='+', help='tiles per axis of the images')
    p.add_argument('--use', type=int, metavar='EPOCH', help='make the weights of EPOCH the model\'s default')
    p.add_argument('--out', help='folder of qc.json and qc.png (default: the model folder)')
    p.set_defaults(func=_qc, check=_check_qc)


def build_parser():
    parser = argparse.ArgumentParser(prog='c2gan', description='Unsupervised image restoration with c2GAN.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    for add in (_add_demo, _add_datagen, _add_train, _add_predict, _add_export, _add_qc):
        add(sub)
    return parser


def main(argv=None):
    """Entry point of ``c2gan``: returns 0 on success, 1 with one line on stderr for bad input, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    warnings.formatwarning = lambda message, *_, **__: 'c2gan %s: warning: %s\n' % (args.command, message)
    try:
        if args.check is not None:
            args.check(args)  # before TensorFlow: a mistake is reported at once
        import_tensorflow_quietly()
        args.func(args)
    except (ValueError, OSError, FloatingPointError) as e:
        print('c2gan %s: error: %s' % (args.command, str(e) or type(e).__name__), file=sys.stderr)
        return 1
    except SystemExit as e:
        return e.code
    except (KeyboardInterrupt, Interrupted) as e:
        print('c2gan %s: interrupted%s' % (args.command, ': %s' % e if str(e) else ''), file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
