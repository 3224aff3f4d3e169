"""Reading unpaired TIFF folders, patch files, and every bad input, with real files in a temporary folder."""
import numpy as np
import pytest
import tifffile

from c2gan_tf.data import UnpairedData, UnpairedPatches, create_unpaired_patches, load_training_data, training_arrays
from conftest import tiny_config


def write(path, img, axes, kind='imagej'):
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == 'imagej':
        tifffile.imwrite(path, img, imagej=True, metadata={'axes': axes})
    elif kind == 'ome':
        tifffile.imwrite(path, img, ome=True, metadata={'axes': axes})
    else:
        tifffile.imwrite(path, img)


def blobs(shape, rng, dtype):
    img = rng.random(shape) * 0.1
    img[tuple(slice(s // 4, s // 2) for s in shape)] += 1.0
    info = np.iinfo(dtype).max if np.dtype(dtype).kind == 'u' else 1.0
    return (img / img.max() * 0.9 * info).astype(dtype)


@pytest.mark.parametrize('axes,shape_a,shape_b,dtype,kind', [
    ('YX', (40, 48), (64, 36), np.uint16, 'imagej'),
    ('YX', (40, 48), (33, 50), np.uint8, 'plain'),
    ('ZYX', (6, 40, 40), (8, 36, 44), np.uint16, 'ome'),
    ('ZYX', (6, 40, 40), (8, 36, 44), np.float32, 'imagej'),
    ('CYX', (2, 40, 48), (2, 36, 36), np.uint16, 'ome'),
    ('ZCYX', (5, 2, 32, 40), (6, 2, 40, 32), np.uint8, 'imagej'),
])
def test_from_folder_to_patches_and_back(tmp_path, rng, axes, shape_a, shape_b, dtype, kind):
    for i in range(2):
        write(tmp_path / 'low' / ('cell_%d.tif' % i), blobs(shape_a, rng, dtype), axes, kind)
    for name in ('other.tif', 'third.tiff', 'fourth.tif'):  # other names and counts in B
        write(tmp_path / 'high' / name, blobs(shape_b, rng, dtype), axes, kind)
    (tmp_path / 'high' / 'notes.txt').write_text('not an image, not matched by the pattern')
    data = UnpairedData.from_folder(tmp_path, ['low'], 'high', axes)
    assert len(data.names['A']) == 2 and len(data.names['B']) == 3
    n_channel = shape_a[axes.index('C')] if 'C' in axes else 1
    assert data.n_channel == n_channel
    patch = (16, 16) if len(axes.replace('C', '')) == 2 else (4, 16, 16)
    X_A, X_B, p_axes, stats = create_unpaired_patches(data, patch, 5, save_file=tmp_path / 'patches.npz',
                                                      seed=1, verbose=False)
    assert p_axes == 'S' + axes.replace('C', '') + 'C'
    assert X_A.shape == (10,) + patch + (n_channel,) and X_B.shape == (15,) + patch + (n_channel,)
    assert X_A.dtype == np.float32 and np.isfinite(X_A).all()
    assert stats['B']['high'] > stats['B']['low']
    (A, B), (A_val, B_val), l_axes, l_stats = load_training_data(tmp_path / 'patches.npz', validation_split=0.2)
    assert l_axes == p_axes and l_stats == stats
    assert len(A) == 8 and len(A_val) == 2 and len(B) == 12 and len(B_val) == 3
    np.testing.assert_array_equal(np.concatenate([A, A_val]), X_A)


def test_bad_folders_and_files(tmp_path, rng):
    write(tmp_path / 'low' / 'a.tif', blobs((32, 32), rng, np.uint16), 'YX')
    write(tmp_path / 'high' / 'b.tif', blobs((32, 32), rng, np.uint16), 'YX')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='folder of domain A not found: .*missing'):
        UnpairedData.from_folder(tmp_path, ['missing'], 'high', 'YX')
    with pytest.raises(FileNotFoundError, match="no files matching '\\*.tif\\*' in .*empty \\(domain B\\)"):
        UnpairedData.from_folder(tmp_path, ['low'], 'empty', 'YX')
    with pytest.raises(ValueError, match=r'a.tif has shape \(32, 32\), which does not match axes .ZYX.'):
        UnpairedData.from_folder(tmp_path, ['low'], 'high', 'ZYX')
    (tmp_path / 'high' / 'broken.tif').write_bytes(b'this is not a TIFF file')
    with pytest.raises(ValueError, match='cannot read .*broken.tif as a TIFF image'):
        UnpairedData.from_folder(tmp_path, ['low'], 'high', 'YX')
    (tmp_path / 'high' / 'broken.tif').unlink()
    write(tmp_path / 'rgb' / 'c.tif', rng.random((3, 32, 32)).astype(np.float32), 'CYX', 'ome')
    write(tmp_path / 'two' / 'd.tif', rng.random((2, 32, 32)).astype(np.float32), 'CYX', 'ome')
    with pytest.raises(ValueError, match=r'different numbers of channels: \[2, 3\]'):
        UnpairedData.from_folder(tmp_path, ['rgb'], 'two', 'CYX')


def test_bad_images_in_patch_creation(tmp_path, rng):
    data = UnpairedData.from_arrays([blobs((32, 32), rng, np.uint16)], [blobs((20, 40), rng, np.uint16)], 'YX')
    with pytest.raises(ValueError, match=r'B\[0\] \(spatial shape \(20, 40\)\) is smaller than the patch size'):
        create_unpaired_patches(data, (24, 24), 2, verbose=False)
    with pytest.raises(ValueError, match='patch_size .* must have 2 entries'):
        create_unpaired_patches(data, (8, 8, 8), 2, verbose=False)
    nan = rng.random((32, 32))
    nan[1, 1] = np.nan
    with pytest.raises(ValueError, match=r'A\[0\] contains NaN'):
        create_unpaired_patches(UnpairedData.from_arrays([nan], [nan], 'YX'), (8, 8), 2, verbose=False)
    with pytest.raises(ValueError, match='domain B has no images'):
        UnpairedData.from_arrays([nan], [], 'YX')


def test_load_training_data_errors_and_memory_map(tmp_path, rng):
    np.savez(tmp_path / 'pairs.npz', X=np.zeros((3, 8, 8, 1)))
    with pytest.raises(ValueError, match='holds no unpaired patches'):
        load_training_data(tmp_path / 'pairs.npz')
    data = UnpairedData.from_arrays([blobs((32, 32), rng, np.uint16)] * 2, [blobs((32, 32), rng, np.uint16)], 'YX')
    create_unpaired_patches(data, (16, 16), 4, save_file=tmp_path / 'p.npz', verbose=False)
    with pytest.raises(ValueError, match='validation_split'):
        load_training_data(tmp_path / 'p.npz', validation_split=1.5)
    with pytest.raises(ValueError, match='leaves no training or no validation'):
        load_training_data(tmp_path / 'p.npz', validation_split=0.05)
    (A, B), _, _, _ = load_training_data(tmp_path / 'p.npz', mmap=True)
    assert isinstance(A, np.memmap) and A.shape == (8, 16, 16, 1) and B.shape == (4, 16, 16, 1)
    (A2, B2), _, _, _ = load_training_data(tmp_path / 'p.npz')
    np.testing.assert_array_equal(A, A2)
    np.testing.assert_array_equal(B, B2)


def test_unpaired_patches_carry_their_statistics_and_validation_into_the_model(tmp_path, rng):
    data = UnpairedData.from_arrays([blobs((32, 32), rng, np.uint16)] * 2, [3 * blobs((32, 32), rng, np.uint16)],
                                    'YX')
    X_A, X_B, axes, stats = create_unpaired_patches(data, (16, 16), 4, save_file=tmp_path / 'p.npz', seed=0,
                                                    verbose=False)
    patches = UnpairedPatches.load(tmp_path / 'p.npz', validation_split=0.25)
    assert repr(patches) == 'UnpairedPatches(6 of A, 3 of B, axes SYXC, 2 + 1 for validation)'
    assert patches.axes == axes and patches.stats == stats
    np.testing.assert_array_equal(np.concatenate([patches.X_A, patches.validation[0]]), X_A)
    (A, B), val, _, s = load_training_data(tmp_path / 'p.npz', validation_split=0.25)  # the same, as a tuple
    np.testing.assert_array_equal(A, patches.X_A)
    np.testing.assert_array_equal(val[1], patches.validation[1])
    with pytest.raises(ValueError, match='is split already'):
        patches.split(0.5)
    assert UnpairedPatches(X_A, X_B, axes).split(0).validation is None

    from c2gan_tf import C2GAN
    config = tiny_config('YX', train_patch_size=(16, 16), train_epochs=1, train_steps_per_epoch=1)
    model = C2GAN.train_or_resume(tmp_path / 'm', patches, config=config)
    for folder_model in (model, C2GAN.from_folder(tmp_path / 'm')):  # the statistics reached the folder
        for d in 'AB':
            assert folder_model.domain_stats[d]['low'] == stats[d]['low']
            assert folder_model.domain_stats[d]['high'] == stats[d]['high']
    assert (tmp_path / 'm' / 'weights_best.weights.h5').exists()  # kept only with validation patches
    with pytest.raises(ValueError, match='the patches hold intensity_stats: give them once'):
        model.train(patches, intensity_stats=stats)
    with pytest.raises(ValueError, match='X_B is missing'):
        training_arrays(X_A)
