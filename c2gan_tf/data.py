"""Training data: normalisation, per-domain statistics, unpaired patch sampling, saving and loading patches."""

import warnings

import numpy as np
from csbdeep.utils import axes_check_and_normalize, axes_dict, normalize

from .config import DOMAINS
from .io import domain_files, read_image, read_tiff_shape
from .prepare import channels_last_axes, check_finite, to_network_axes


def check_patches(X, config, what):
    """Patches as float32, or ValueError naming ``what`` when they do not fit ``config`` or are not finite."""
    c = config
    expected = tuple(c.train_patch_size) + (c.n_channel_in,)
    if not isinstance(X, np.ndarray) or X.ndim != c.n_dim + 2:
        raise ValueError('%s must be an array of patches with axes S%s (%d dimensions), got %s'
                         % (what, c.axes, c.n_dim + 2, getattr(X, 'shape', type(X).__name__)))
    if X.shape[1:] != expected:
        raise ValueError('%s: patches of shape %s do not match the configured patch size and channels %s '
                         '(axes %s)' % (what, X.shape[1:], expected, c.axes))
    if len(X) == 0:
        raise ValueError('%s holds no patches' % what)
    check_finite(X, what)
    return X.astype(np.float32, copy=False)


def normalize_images(images, pmin=1.0, pmax=99.8):
    """Percentile-normalise each image on its own (per channel, channels last), as CSBDeep does for training.

    Returns
    -------
    list of numpy.ndarray (float32)
    """
    out = []
    for img in images:
        check_finite(img)
        axis = tuple(range(img.ndim - 1))
        out.append(normalize(img, pmin, pmax, axis=axis))
    return out


def intensity_stats(images, pmin=1.0, pmax=99.8):
    """Typical intensity range of a domain: medians over its images of their ``pmin`` and ``pmax`` percentiles.

    These map normalised network outputs back into a domain's units (see :class:`c2gan_tf.prepare.DomainNormalizer`).

    Returns
    -------
    dict
        ``{'low': float, 'high': float}``.
    """
    return typical_range([np.percentile(np.asarray(img, np.float64), [pmin, pmax]) for img in images])


def typical_range(percentiles):
    """``{'low', 'high'}``: the medians of per-image ``(low, high)`` percentile pairs."""
    lows, highs = zip(*percentiles)
    return dict(low=float(np.median(lows)), high=float(np.median(highs)))


class UnpairedData:
    """Images of domain A (degraded) and domain B (good), read when needed; CSBDeep's ``RawData`` for unpaired data.

    The domains need not share file names, counts or sizes. Build it with :meth:`from_folder` or
    :meth:`from_arrays`; every image is checked against ``axes`` when it is built.

    Attributes
    ----------
    axes : str
        Axes of the images (e.g. ``'YX'``, ``'ZYX'``, ``'CYX'``).
    names : dict
        ``{'A': [...], 'B': [...]}``: a name for each image (its file path, or its index).
    shapes : dict
        ``{'A': [...], 'B': [...]}``: the shape of each image, in ``axes``.
    n_channel : int
        Channels of every image (1 without a channel axis).
    description : str
    """

    def __init__(self, loaders, names, shapes, axes, description):
        self.axes = axes_check_and_normalize(axes)
        self._loaders, self.names, self.shapes, self.description = loaders, names, shapes, description
        channels = set()
        for d in DOMAINS:
            if not names[d]:
                raise ValueError('domain %s has no images' % d)
            for name, shape in zip(names[d], shapes[d]):
                if len(shape) != len(self.axes):
                    raise ValueError('%s has shape %s, which does not match axes %r (%d dimensions)'
                                     % (name, tuple(shape), self.axes, len(self.axes)))
                channels.add(shape[axes_dict(self.axes)['C']] if 'C' in self.axes else 1)
        if len(channels) > 1:
            raise ValueError('images have different numbers of channels: %s' % sorted(channels))
        self.n_channel = channels.pop()

    @property
    def network_axes(self):
        """Axes of the images as :meth:`images` yields them (channel last)."""
        return channels_last_axes(self.axes)

    def spatial_shape(self, domain, i):
        """Spatial shape of image ``i`` of a domain, in the order of :attr:`network_axes`."""
        return tuple(self.shapes[domain][i][self.axes.index(a)] for a in self.network_axes[:-1])

    def images(self, domain):
        """Yield ``(name, image)`` of a domain, the image moved to :attr:`network_axes`."""
        for name, load in zip(self.names[domain], self._loaders[domain]):
            yield name, to_network_axes(load(), self.axes, self.network_axes)

    @staticmethod
    def from_folder(basepath, source_dirs, target_dir, axes, pattern='*.tif*'):
        """Images of domain A from ``basepath/source_dirs`` and of domain B from ``basepath/target_dir``.

        Parameters
        ----------
        basepath : str
        source_dirs : str or list of str
            Folder(s) of domain A (degraded) images, relative to ``basepath``.
        target_dir : str
            Folder of domain B (good) images, relative to ``basepath``.
        axes : str
            Axes of every image, e.g. ``'YX'``, ``'ZYX'``, ``'CYX'``, ``'ZCYX'``.
        pattern : str
            Glob pattern of the image files (ImageJ and OME TIFF, uint8, uint16, float32).

        Raises
        ------
        FileNotFoundError
            A folder is missing or holds no file matching ``pattern``.
        ValueError
            A file is not a readable TIFF, or does not match ``axes``, or channels differ between images.
        """
        from pathlib import Path
        folders = {'A': [source_dirs] if isinstance(source_dirs, (str, Path)) else list(source_dirs),
                   'B': [target_dir]}
        names, shapes, loaders = {}, {}, {}
        for d, dirs in folders.items():
            names[d] = [str(f) for f in domain_files(basepath, dirs, pattern, d)]
            shapes[d] = [read_tiff_shape(f) for f in names[d]]
            loaders[d] = [lambda f=f: read_image(f)[0] for f in names[d]]
        description = '%s: A=%s, B=%r, axes=%r, pattern=%r' % (basepath, folders['A'], target_dir, axes, pattern)
        return UnpairedData(loaders, names, shapes, axes, description)

    @staticmethod
    def from_arrays(images_A, images_B, axes):
        """Images of each domain from lists of arrays (or arrays with one image per first index)."""
        images = {'A': list(images_A), 'B': list(images_B)}
        names = {d: ['%s[%d]' % (d, i) for i in range(len(images[d]))] for d in DOMAINS}
        shapes = {d: [np.shape(img) for img in images[d]] for d in DOMAINS}
        loaders = {d: [lambda img=img: np.asarray(img) for img in images[d]] for d in DOMAINS}
        return UnpairedData(loaders, names, shapes, axes, 'arrays: %d A, %d B, axes=%r'
                            % (len(images['A']), len(images['B']), axes))


def patch_acceptance(img, patch_size, patch_filter):
    """Fraction of patch positions in an image that a CSBDeep patch filter accepts (1 without a filter).

    A filter must treat both domains alike: csbdeep's ``no_background_patches``, whose threshold is relative to
    each image's own brightest pixels, accepts almost every patch of a noisy image and few of a clean one, so the
    good domain ends up holding more structure than the degraded one and the discriminator rewards adding it.

    Parameters
    ----------
    img : numpy.ndarray
        Normalised image, channels last (as :meth:`UnpairedData.images` yields it).
    patch_size : tuple of int
        Spatial patch size.
    patch_filter : callable or None
    """
    if patch_filter is None:
        return 1.0
    mask = patch_filter((img, img), tuple(patch_size) + (img.shape[-1],), np.float32)
    border = tuple(slice(p // 2, s - (p - 1 - p // 2)) for s, p in zip(mask.shape, tuple(patch_size) + (1,)))
    return float(np.mean(mask[border]))


def create_unpaired_patches(data, patch_size, n_patches_per_image, patch_filter=None,
                            normalization=(1.0, 99.8), save_file=None, seed=None, verbose=True):
    """Random patches of each domain, drawn independently (unpaired), normalised per image.

    Parameters
    ----------
    data : :class:`UnpairedData`
    patch_size : tuple of int
        Spatial patch size, in the order of the spatial axes of ``data.axes``.
    n_patches_per_image : int
    patch_filter : callable or None
        CSBDeep patch filter (see :func:`csbdeep.data.no_background_patches`), applied to each normalised image of
        both domains; ``None`` (default, as the original c2GAN) takes any patch. A filter that accepts very
        different fractions of the two domains' patches biases training (see :func:`patch_acceptance`): a warning
        says so when the median fractions differ by more than 10 %.
    normalization : tuple(float, float) or None
        Percentiles ``(pmin, pmax)`` that normalise each image to about 0..1 (per channel); ``None`` keeps the
        intensities as they are.
    save_file : str or None
        Save as ``.npz`` in CSBDeep's layout: ``X`` (domain A), ``Y`` (domain B), ``axes``, plus ``stats_A`` and
        ``stats_B`` (each domain's intensity range, see :func:`intensity_stats`).
    seed : int or None
    verbose : bool
        Show a progress bar.

    Returns
    -------
    X_A, X_B : numpy.ndarray
        Patches with axes ``'S' + data.network_axes``, shuffled.
    axes : str
    stats : dict
        ``{'A': {'low', 'high'}, 'B': {...}}`` from the raw images (``None`` without normalisation).
    """
    patch_size = tuple(int(p) for p in patch_size)
    n_dim = len(data.network_axes) - 1
    if len(patch_size) != n_dim:
        raise ValueError('patch_size %s must have %d entries, one per spatial axis of %r'
                         % (patch_size, n_dim, data.axes))
    for d in DOMAINS:
        for i, name in enumerate(data.names[d]):
            if any(s < p for s, p in zip(data.spatial_shape(d, i), patch_size)):
                raise ValueError('%s (spatial shape %s) is smaller than the patch size %s'
                                 % (name, data.spatial_shape(d, i), patch_size))
    rng = np.random.default_rng(seed)
    patches, ranges, accepted = {}, {}, {}
    for d in DOMAINS:
        patches[d], ranges[d], accepted[d] = _domain_patches(data, d, patch_size, n_patches_per_image, patch_filter,
                                                             normalization, rng, verbose)
    if patch_filter is not None:
        fractions = {d: float(np.median(accepted[d])) for d in DOMAINS}
        if abs(fractions['A'] - fractions['B']) > 0.1:
            warnings.warn('the patch filter accepts %.0f %% of the patch positions of domain A and %.0f %% of '
                          'domain B: the domains are sampled unequally, which biases training; consider '
                          'patch_filter=None'
                          % (100 * fractions['A'], 100 * fractions['B']))
    stats = {d: typical_range(ranges[d]) for d in DOMAINS} if normalization is not None else None
    axes = 'S' + data.network_axes
    if save_file is not None:
        save_training_data(save_file, patches['A'], patches['B'], axes, stats)
    return patches['A'], patches['B'], axes, stats


def _domain_patches(data, d, patch_size, n_patches_per_image, patch_filter, normalization, rng, verbose):
    """Shuffled patches of every image of domain ``d``, each image's normalisation percentiles, filter acceptance."""
    from tqdm.auto import tqdm
    out, ranges, accepted = [], [], []
    for name, img in tqdm(data.images(d), total=len(data.names[d]), desc='patches of domain ' + d,
                          disable=not verbose):
        check_finite(img, name)
        img = img.astype(np.float32, copy=False)
        if normalization is not None:
            ranges.append(np.percentile(img, normalization))
            img = normalize_images([img], *normalization)[0]
        if patch_filter is not None:
            accepted.append(patch_acceptance(img, patch_size, patch_filter))
        try:
            out.append(sample_patches(img, patch_size, n_patches_per_image, rng, patch_filter))
        except ValueError as e:
            raise ValueError('%s: %s' % (name, e)) from None
    X = np.concatenate(out)
    return X[rng.permutation(len(X))], ranges, accepted


def sample_patches(img, patch_size, n, rng, patch_filter=None):
    """``n`` random patches of an image, drawn from ``rng`` (no global random state is used).

    As CSBDeep's ``sample_patches_from_multiple_stacks`` samples: positions uniformly among those whose patch lies
    inside the image and that ``patch_filter`` (a CSBDeep patch filter, e.g. ``no_background_patches()``) accepts,
    with replacement only when there are fewer such positions than ``n``.

    Parameters
    ----------
    img : numpy.ndarray
        Image, channels last.
    patch_size : tuple of int
        Spatial patch size.
    n : int
    rng : numpy.random.Generator
    patch_filter : callable or None

    Returns
    -------
    numpy.ndarray
        ``(n,) + patch_size + (channels,)``.
    """
    size = tuple(patch_size) + (img.shape[-1],)
    if not all(0 < p <= s for p, s in zip(size, img.shape)):
        raise ValueError('patches of size %s do not fit in an image of %s' % (tuple(patch_size), img.shape[:-1]))
    mask = np.ones(img.shape, bool) if patch_filter is None else patch_filter((img,), size)
    border = tuple(slice(p // 2, s - p + p // 2 + 1) for p, s in zip(size, img.shape))
    valid = np.nonzero(mask[border])
    if len(valid[0]) == 0:
        raise ValueError('no patch of size %s that holds foreground fits in the image; use smaller patches or no '
                         'patch filter' % (tuple(patch_size),))
    pick = rng.choice(len(valid[0]), n, replace=len(valid[0]) < n)
    corners = [v[pick] + b.start - p // 2 for v, b, p in zip(valid, border, size)]
    return np.stack([img[tuple(slice(c, c + p) for c, p in zip(corner, size))] for corner in zip(*corners)])


def save_training_data(file, X_A, X_B, axes, stats=None):
    """Save unpaired patches as uncompressed ``.npz`` (``X``: domain A, ``Y``: domain B, ``axes``, stats).

    Uncompressed, so that :func:`load_training_data` can memory-map the arrays. Written to a temporary name and
    renamed.
    """
    from pathlib import Path

    from .atomic import atomic_path
    file = Path(file).with_suffix('.npz')
    file.parent.mkdir(parents=True, exist_ok=True)
    arrays = dict(X=X_A, Y=X_B, axes=axes)
    for d, r in (stats or {}).items():
        if r is not None:
            arrays['stats_' + d] = np.array([r['low'], r['high']])
    with atomic_path(file) as tmp:
        np.savez(tmp, **arrays)
    return file


def _memmap_npz_member(file, key):
    """Memory-map an array stored uncompressed in an ``.npz`` file."""
    import zipfile
    with zipfile.ZipFile(file) as z:
        info = z.getinfo(key + '.npy')
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError('%s: %s is compressed and cannot be memory-mapped' % (file, key))
        with open(file, 'rb') as f:
            f.seek(info.header_offset)
            local = f.read(30)
            start = info.header_offset + 30 + int.from_bytes(local[26:28], 'little') \
                + int.from_bytes(local[28:30], 'little')
            f.seek(start)
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            offset = f.tell()
    return np.memmap(file, dtype=dtype, mode='r', shape=shape, offset=offset, order='F' if fortran else 'C')


class UnpairedPatches:
    """Training patches of both domains with what training needs of them: axes, intensity ranges, validation patches.

    What :func:`create_unpaired_patches` returns (``UnpairedPatches(*create_unpaired_patches(...))``) or a patch file
    holds (:meth:`load`), in one object: :meth:`c2gan_tf.C2GAN.train` takes it in place of ``X_A, X_B``, so the
    statistics reach the model without a caller carrying them.

    Parameters
    ----------
    X_A, X_B : numpy.ndarray
        Normalised patches of domain A and of domain B, axes ``axes`` (``S``, the spatial axes, ``C``); counts may
        differ.
    axes : str
    stats : dict or None
        ``{'A': {'low', 'high'}, 'B': {...}}``, each domain's intensity range in its raw units.
    validation : tuple(numpy.ndarray, numpy.ndarray) or None
        Validation patches ``(X_A_val, X_B_val)``.
    """

    def __init__(self, X_A, X_B, axes, stats=None, validation=None):
        self.X_A, self.X_B, self.axes, self.stats, self.validation = X_A, X_B, axes, stats, validation

    def __repr__(self):
        val = '' if self.validation is None else ', %d + %d for validation' % tuple(map(len, self.validation))
        return 'UnpairedPatches(%d of A, %d of B, axes %s%s)' % (len(self.X_A), len(self.X_B), self.axes, val)

    def split(self, validation_split):
        """The same patches with the last ``validation_split`` fraction of each domain kept for validation.

        Raises
        ------
        ValueError
            The patches have validation patches already, or the split leaves a domain none of either kind.
        """
        if validation_split and self.validation is not None:
            raise ValueError('%r is split already' % self)
        (X_A, X_B), val = split_validation((self.X_A, self.X_B), validation_split)
        return UnpairedPatches(X_A, X_B, self.axes, self.stats, val if validation_split else self.validation)

    @classmethod
    def load(cls, file, validation_split=0, axes=None, mmap=False):
        """Load unpaired patches saved by :func:`create_unpaired_patches`; A and B counts may differ.

        Parameters
        ----------
        file : str
            ``.npz`` with ``X`` (domain A), ``Y`` (domain B), ``axes`` and (when saved with them) ``stats_A``,
            ``stats_B``.
        validation_split : float
            Fraction of each domain's patches (its last ones) kept for validation.
        axes : str or None
            Axes of the patches, needed if the file has none.
        mmap : bool
            Memory-map the arrays instead of reading them (for data larger than memory).

        Returns
        -------
        UnpairedPatches
        """
        if not 0 <= validation_split < 1:
            raise ValueError('validation_split must be in [0, 1), got %r' % validation_split)
        import os
        import zipfile
        if os.path.isfile(file) and not zipfile.is_zipfile(file):  # np.load would try to unpickle it
            raise ValueError('%s is not an .npz file of patches (c2gan datagen and save_training_data write them)'
                             % file)
        with np.load(file) as f:
            keys = set(f.files)
            if not {'X', 'Y'} <= keys:
                raise ValueError('%s holds no unpaired patches (keys X and Y)' % file)
            if axes is None:
                if 'axes' not in keys:
                    raise ValueError('%s has no axes: give them as an argument' % file)
                axes = str(f['axes'])
            stats = {d: dict(zip(('low', 'high'), map(float, f['stats_' + d])))
                     for d in DOMAINS if 'stats_' + d in keys}
            arrays = [_memmap_npz_member(file, k) for k in 'XY'] if mmap else [f['X'], f['Y']]
        axes = axes_check_and_normalize(axes)
        if not axes.startswith('S') or not axes.endswith('C'):
            raise ValueError('axes of the patches must start with S and end with C, got %r' % axes)
        for name, X in zip('XY', arrays):
            if X.ndim != len(axes):
                raise ValueError('%s: %s has shape %s, which does not match axes %r' % (file, name, X.shape, axes))
        return cls(arrays[0], arrays[1], axes, stats if len(stats) == 2 else None).split(validation_split)


def load_training_data(file, validation_split=0, axes=None, mmap=False):
    """Unpaired patches from a file, as CSBDeep's ``load_training_data`` returns them (:meth:`UnpairedPatches.load`).

    Returns
    -------
    (X_A, X_B), (X_A_val, X_B_val) or None, axes, stats
        ``stats`` is ``{'A': {'low', 'high'}, 'B': {...}}``, or ``None`` if the file has none.
    """
    p = UnpairedPatches.load(file, validation_split, axes, mmap)
    return (p.X_A, p.X_B), p.validation, p.axes, p.stats


def training_arrays(X_A, X_B=None, validation_data=None, intensity_stats=None):
    """``X_A, X_B, validation_data, intensity_stats`` of a training call, from :class:`UnpairedPatches` or as given.

    Raises
    ------
    ValueError
        ``X_A`` is an :class:`UnpairedPatches` and one of the others is given too (the patches hold them), or it is
        not and ``X_B`` is missing.
    """
    if isinstance(X_A, UnpairedPatches):
        given = [k for k, v in dict(X_B=X_B, validation_data=validation_data, intensity_stats=intensity_stats).items()
                 if v is not None]
        if given:
            raise ValueError('the patches hold %s: give them once (UnpairedPatches or arrays)' % ', '.join(given))
        return X_A.X_A, X_A.X_B, X_A.validation, X_A.stats
    if X_B is None:
        raise ValueError("X_B is missing: give the patches of both domains (or an UnpairedPatches)")
    return X_A, X_B, validation_data, intensity_stats


def split_validation(arrays, validation_split):
    """The last ``validation_split`` fraction of each patch array (each domain's) kept for validation.

    Returns
    -------
    (tuple, tuple or None)
        The training arrays, and the validation arrays (``None`` when ``validation_split`` is 0).

    Raises
    ------
    ValueError
        The split leaves an array no training or no validation patches.
    """
    train, val = [], []
    for X in arrays:
        n_val = int(round(len(X) * validation_split))
        if validation_split > 0 and not 0 < n_val < len(X):
            raise ValueError('validation_split %g leaves no training or no validation patches of %d'
                             % (validation_split, len(X)))
        train.append(X[:len(X) - n_val])
        val.append(X[len(X) - n_val:])
    return tuple(train), (tuple(val) if validation_split > 0 else None)
