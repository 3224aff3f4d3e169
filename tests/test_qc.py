"""Where to trust a restoration: the content-change map and its summary (c2gan_tf.qc, predict(return_qc=True))."""
import numpy as np
import pytest
import tifffile

from c2gan_tf import qc

SALIENCY = dict(threshold=0.5, polarity=1, steepness=50.0, sigma=1.0)


def blob(shape, center, radius, value=1.0):
    yy, xx = np.indices(shape)
    return value * ((yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius ** 2).astype(np.float32)


def test_map_is_zero_where_nothing_changes_and_rises_where_a_blob_appears(rng):
    x = 0.1 + blob((64, 64), (20, 20), 6) * 0.8 + 0.02 * rng.standard_normal((64, 64)).astype(np.float32)
    identity, _ = qc.quality_control(x, x, x, SALIENCY, SALIENCY, spatial=[0, 1])
    assert identity.shape == x.shape and identity.max() < 0.05  # kept structure and background alike
    added = blob((64, 64), (45, 45), 5) * 0.8
    qmap, summary = qc.quality_control(x, x + added, x, SALIENCY, SALIENCY, spatial=[0, 1])
    assert qmap[45, 45] > 0.95 and qmap[20, 20] < 0.05 and qmap[5, 60] < 0.05
    assert summary['changed_fraction'] == pytest.approx(np.mean(qmap > qc.CHANGED))
    assert 0.01 < summary['changed_fraction'] < 0.05  # the blob's area, about 80 of 4096 pixels
    # a residual the reverse generator leaves counts too, on the scale of the input's normalised range
    qmap, summary = qc.quality_control(x, x, x + added * qc.RESIDUAL_SCALE / 0.8, SALIENCY, SALIENCY, spatial=[0, 1])
    assert qmap[45, 45] > 0.8 and summary['cycle_residual'] > 0


def test_qc_of_a_padded_image_is_the_crop_of_its_map_and_summarises_the_image_alone(rng):
    """With ``crop`` (the image padded by a margin): the smoothing sees the margin, map and summary are the image's."""
    x = 0.1 + blob((64, 64), (32, 32), 6) * 0.8 + 0.02 * rng.standard_normal((64, 64)).astype(np.float32)
    y = x + blob((64, 64), (4, 4), 5) * 0.8  # a change in the margin only
    inner = (slice(12, 52), slice(12, 52))
    full, _, full_residual = qc.quality_control(x, y, x, SALIENCY, SALIENCY, [0, 1], return_residual=True)
    qmap, summary, residual = qc.quality_control(x, y, x, SALIENCY, SALIENCY, [0, 1], return_residual=True,
                                                 crop=lambda v: v[inner])
    np.testing.assert_array_equal(qmap, full[inner])
    np.testing.assert_array_equal(residual, full_residual[inner])
    assert full.max() > 0.95 and summary['changed_fraction'] == 0  # the margin's change is not the image's


def test_noise_alone_leaves_no_cycle_residual(rng):
    """The residual is smoothed before its magnitude is taken: noise that no generator brings back averages out."""
    x = 0.3 + 0.1 * rng.standard_normal((128, 128)).astype(np.float32)
    cycle = np.full_like(x, 0.3)
    residual = qc.cycle_residual(x, cycle, sigma=2.0, spatial=[0, 1])
    assert residual.mean() < 0.25 * 0.1 * np.sqrt(2 / np.pi)  # well below the mean magnitude of the noise


def test_distance_to_quantiles():
    values = np.linspace(0, 1, 1001)
    quantiles = np.quantile(values, np.linspace(0, 1, qc.N_QUANTILES))
    assert qc.distance_to_quantiles(values, quantiles) == pytest.approx(0, abs=1e-9)
    assert qc.distance_to_quantiles(values + 0.3, quantiles) == pytest.approx(0.3, rel=1e-6)


def blobs(shape, rng, n=40, sigma=3.0):
    """Smooth bright structures on a dark background, normalised to about 0..1 (a clean domain-B-like image)."""
    from scipy import ndimage
    v = np.zeros(shape, np.float32)
    v[tuple(rng.integers(0, s, n) for s in shape)] = 1
    v = ndimage.gaussian_filter(v, sigma)
    return v / v.max()


def test_segments_tile_an_image_in_the_patch_shape():
    v = np.arange(2 * 70 * 100, dtype=np.float32).reshape(2, 70, 100)  # a stack of two planes
    segs = qc.segments(v, (32, 48), spatial=[1, 2])
    assert segs.shape == (2 * 2 * 2, 32, 48)  # the remainder at the far borders left out
    np.testing.assert_array_equal(segs[0], v[0, :32, :48])
    np.testing.assert_array_equal(segs[3], v[0, 32:64, 48:96])
    np.testing.assert_array_equal(segs[4], v[1, :32, :48])
    assert qc.segments(v, (128, 48), spatial=[1, 2]).shape == (4, 70, 48)  # an axis shorter than the patch: whole
    assert len(qc.segments(np.zeros((512, 512)), (16, 16), [0, 1], max_segments=100)) == 100


def test_power_spectrum_of_white_noise_is_flat_and_does_not_depend_on_the_segment_shape(rng):
    noise = 0.1 * rng.standard_normal((512, 512))
    for shape in ((32, 32), (64, 64), (16, 128)):
        spectrum = qc.power_spectrum(qc.segments(noise, shape, [0, 1]))
        assert spectrum.shape == (qc.N_BINS,)
        np.testing.assert_allclose(spectrum, np.log10(0.01), atol=0.1)  # the variance, at every frequency
    from scipy import ndimage
    smooth = qc.power_spectrum(qc.segments(ndimage.gaussian_filter(noise, 2), (64, 64), [0, 1]))
    assert smooth[-1] < smooth[0] - 3  # blur removes the high frequencies


def test_spectrum_distance_tells_the_noisy_input_and_an_oversmoothed_output_from_domain_b(rng):
    """The distance the checkpoint score adds: an output that kept the input's noise (a near-identity generator)
    or smoothed it away is far from domain B's texture; a clean image of other fields is close."""
    from scipy import ndimage
    reference = qc.domain_spectrum(qc.segments(blobs((512, 512), rng, n=640), (32, 32), [0, 1])[..., None])
    clean = blobs((256, 256), rng, n=160)  # other fields of the same kind
    noisy = clean + 0.2 * rng.standard_normal(clean.shape)
    far = {name: qc.spectrum_distance(qc.power_spectrum(qc.segments(v, (32, 32), [0, 1])), reference)
           for name, v in (('clean', clean), ('noisy', noisy), ('smooth', ndimage.gaussian_filter(clean, 4)))}
    assert far['clean'] < 0.5 and far['noisy'] > 3 * far['clean'] and far['smooth'] > 3 * far['clean']
    assert qc.spectrum_distance(reference, None) is None


def test_checkpoint_score_ranks_a_near_identity_checkpoint_below_a_restoring_one(rng):
    """The failure found on real data: a near-identity generator changes no area and leaves intensities as close to
    B's as a restoration that is a little too bright; only B's power spectrum tells the input's noise apart."""
    patches = qc.segments(blobs((512, 512), rng, n=640), (32, 32), [0, 1])[..., None]
    quantiles, spectrum = qc.domain_quantiles(patches), qc.domain_spectrum(patches)
    clean = blobs((128, 128), rng, n=40)
    x = clean + 0.05 * rng.standard_normal(clean.shape).astype(np.float32)
    summaries = {}
    for name, y in (('identity', x), ('restoring', 1.2 * clean)):
        summaries[name] = qc.quality_control(x, y, x, SALIENCY, SALIENCY, [0, 1], quantiles, b_spectrum=spectrum,
                                             segment=(32, 32))[1]
    without_spectrum = {k: qc.checkpoint_score([dict(s, spectrum_distance=None)]) for k, s in summaries.items()}
    assert without_spectrum['identity'] < without_spectrum['restoring']  # area and histogram alone: the identity
    assert qc.checkpoint_score([summaries['restoring']]) < qc.checkpoint_score([summaries['identity']])


def test_patches_score_tells_a_near_identity_generator_from_a_restoring_one_on_patches(rng):
    """The score of a generator on validation patches ``(n, Y, X, C)``, each patch one segment of the spectrum, ranks
    as the score of whole images does, and averages the channels."""
    patches = qc.segments(blobs((512, 512), rng, n=640), (32, 32), [0, 1])[..., None]
    quantiles, spectrum = qc.domain_quantiles(patches), qc.domain_spectrum(patches)
    clean = qc.segments(blobs((128, 128), rng, n=40), (32, 32), [0, 1])[..., None]
    x = clean + 0.05 * rng.standard_normal(clean.shape).astype(np.float32)
    score = {name: qc.patches_score(x, y, x, SALIENCY, SALIENCY, quantiles, spectrum)
             for name, y in (('identity', x), ('restoring', 1.2 * clean))}
    assert score['restoring'] < score['identity']
    two = np.concatenate([x, x], axis=-1)  # two equal channels score as one
    assert qc.patches_score(two, two, two, SALIENCY, SALIENCY, quantiles, spectrum) == pytest.approx(score['identity'])


def test_predict_with_qc_keeps_the_restoration_shapes_and_tiles(tiny_model, rng):
    model, _, _ = tiny_model
    x = rng.random((40, 56), np.float32) * 500
    restored, result = model.predict(x, 'YX', return_qc=True)
    np.testing.assert_allclose(restored, model.predict(x, 'YX'), rtol=1e-5, atol=1e-5 * np.abs(restored).max())
    assert result.map.shape == x.shape and result.axes == 'YX' and result.map.dtype == np.float32
    assert 0 <= result.map.min() and result.map.max() <= 1
    assert set(result.summary) == {'changed_fraction', 'cycle_residual', 'distance_to_b', 'spectrum_distance'}
    assert None not in result.summary.values()  # B's quantiles and spectrum were stored in training
    calls = []  # one network call per tile: G once, F once on G's output (the margin's padding included)
    _, tiled = model.predict(x, 'YX', return_qc=True, n_tiles=(2, 2), callback=lambda: calls.append(1))
    np.testing.assert_allclose(tiled.map, result.map, atol=1e-4)
    assert len(calls) == 2 * 4
    stack = rng.random((3, 32, 40), np.float32) * 500
    _, planes = model.predict(stack, 'ZYX', return_qc=True)
    assert planes.map.shape == stack.shape and planes.axes == 'ZYX'
    with pytest.raises(ValueError, match='return_qc is for restorations'):
        model.predict(x, 'YX', return_qc=True, direction='BtoA')


def test_identity_generators_change_nothing_on_background(tmp_path, rng):
    """With G and F the identity, the map is 0 on structure-free regions (the cycle closes, both masks are empty)."""
    import keras

    from conftest import train_tiny
    model, _ = train_tiny(tmp_path, validation=False)
    for net in (model.trainer.G, model.trainer.F):
        conv = [layer for layer in net.layers if isinstance(layer, keras.layers.Conv2D)][-1]
        conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])  # residual U-Nets: the identity
    x = 100 + rng.normal(0, 2, (64, 64)).astype(np.float32)
    x[40:56, 40:56] += 400  # one bright square, everything else background
    _, result = model.predict(x, 'YX', return_qc=True)
    assert result.summary['cycle_residual'] < 1e-5
    assert result.map[:24, :24].max() < 0.05


def test_cli_qc_writes_the_map_beside_the_output_with_its_axes_and_pixel_size(tiny_model, tmp_path, capsys, rng):
    from csbdeep.io import save_tiff_imagej_compatible

    from c2gan_tf import cli
    from c2gan_tf.io import read_image
    _, _, basedir = tiny_model
    save_tiff_imagej_compatible(str(tmp_path / 'cell.t1.tif'), (rng.random((32, 48)) * 500).astype(np.uint16), 'YX',
                                resolution=(1 / 0.2, 1 / 0.2), metadata={'unit': 'micron'})
    code = cli.main(['predict', str(basedir / 'model'), str(tmp_path / 'cell.t1.tif'), '--outdir',
                     str(tmp_path / 'out'), '--qc'])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert 'QC %s: ' % (tmp_path / 'out' / 'cell.t1_qc.tif') in out and '% of the area changed' in out
    qmap, info = read_image(tmp_path / 'out' / 'cell.t1_qc.tif')
    assert qmap.shape == (32, 48) and qmap.dtype == np.float32 and info.axes == 'YX'
    assert info.spacing == pytest.approx({'X': 0.2, 'Y': 0.2})
    assert tifffile.imread(tmp_path / 'out' / 'cell.t1.tif').shape == (32, 48)


@pytest.fixture(scope='module')
def kept_model(tmp_path_factory):
    """A tiny model that kept the weights of each of its 3 epochs, and registered pairs to judge them on."""
    from c2gan_tf import synthetic
    from conftest import train_tiny
    root = tmp_path_factory.mktemp('kept')
    train_tiny(root, epochs=3, train_save_every=1)
    d = synthetic.generate(2, (48, 48), n_a=0, n_b=0, n_test=2, seed=3)
    for folder, key in (('low', 'test_A'), ('high', 'test_GT')):
        (root / folder).mkdir()
        for i, img in enumerate(d[key]):
            tifffile.imwrite(root / folder / ('f%d.tif' % i), img, imagej=True, metadata={'axes': 'YX'})
    return root


def test_kept_checkpoints_are_ranked_and_one_made_the_default(kept_model, capsys):
    import json

    from c2gan_tf import C2GAN, cli
    from c2gan_tf.checkpoints import kept_checkpoints
    folder = kept_model / 'model'
    kept = kept_checkpoints(folder)
    assert sorted(kept) == [1, 2, 3] and kept[3] in ('weights_last.weights.h5', 'epochs/weights_epoch_0003.weights.h5')
    code = cli.main(['qc', str(folder), '--pairs', str(kept_model / 'low'), str(kept_model / 'high')])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads((folder / 'qc.json').read_text())
    assert report['ranked_by'] == 'psnr_normalized' and report['default_epoch'] == 3
    psnr = [r['psnr_normalized'] for r in report['checkpoints']]
    assert sorted(r['epoch'] for r in report['checkpoints']) == [1, 2, 3] and psnr == sorted(psnr, reverse=True)
    assert (folder / 'qc.png').stat().st_size > 0 and '(default)' in out
    code = cli.main(['qc', str(folder), '--images', str(kept_model / 'low'), '--use', '2', '--out',
                     str(kept_model / 'report')])
    out, err = capsys.readouterr()
    assert code == 0, err
    scores = [r['score'] for r in json.loads((kept_model / 'report' / 'qc.json').read_text())['checkpoints']]
    assert scores == sorted(scores)  # without ground truth: by the QC score
    assert 'now loads the weights of epoch 2' in out
    model = C2GAN.from_folder(folder)
    assert model.weights_name == 'weights_chosen.weights.h5' and model.weights_epoch() == 2


def test_qc_pairs_that_do_not_match_are_one_line(kept_model, tmp_path, capsys):
    from c2gan_tf import cli
    (tmp_path / 'high').mkdir()
    tifffile.imwrite(tmp_path / 'high' / 'other.tif', np.zeros((48, 48), np.float32), imagej=True)
    code = cli.main(['qc', str(kept_model / 'model'), '--pairs', str(kept_model / 'low'), str(tmp_path / 'high')])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "has no file of the same name in the other folder" in err[0]
    (tmp_path / 'h2').mkdir()
    for i in range(2):
        tifffile.imwrite(tmp_path / 'h2' / ('f%d.tif' % i), np.zeros((40, 48), np.float32), imagej=True)
    code = cli.main(['qc', str(kept_model / 'model'), '--pairs', str(kept_model / 'low'), str(tmp_path / 'h2')])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and 'has shape (48, 48)' in err[0] and '(40, 48)' in err[0]
