"""Checks on the real paired images of ``../shared/data`` (never committed; skipped where the folder is absent)."""
from pathlib import Path

import numpy as np
import pytest

from c2gan_tf import Config, losses
from c2gan_tf.data import normalize_images
from c2gan_tf.domains import auto_saliency

W2S = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'w2s' / 'w2s_train_fov001-080_u8.npz'


@pytest.fixture(scope='module')
def w2s():
    if not W2S.exists():
        pytest.skip('W2S data not found at %s' % W2S)
    with np.load(W2S) as f:
        return {k: f[k] for k in ('avg1', 'avg400', 'fov', 'channel')}


def patches(images, size=128, per_image=4, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for img in normalize_images([i[..., None].astype(np.float32) for i in images]):
        for y, x in rng.integers(0, img.shape[0] - size, (per_image, 2)):
            out.append(img[y:y + size, x:x + size])
    return np.stack(out)


def structural_losses(w2s, saliency_settings):
    """Structural loss of G = registered ground truth (with F its inverse) and of G = F = identity, per test pair.

    The benchmark's protocol: one model for the three stains, thresholds set automatically from unpaired training
    images (A: single frames of fields 1-30, B: averages of fields 31-60), the registered pairs of fields 61-80.
    """
    fov = w2s['fov']
    sal = {'A': auto_saliency(patches(w2s['avg1'][fov <= 30]), **saliency_settings),
           'B': auto_saliency(patches(w2s['avg400'][(fov > 30) & (fov <= 60)]), **saliency_settings)}
    x = np.stack(normalize_images([i[..., None].astype(np.float32) for i in w2s['avg1'][fov > 60]]))
    y = np.stack(normalize_images([i[..., None].astype(np.float32) for i in w2s['avg400'][fov > 60]]))

    def per_pair(img_a, gen_b, img_b, gen_a):
        masks = [np.asarray(losses.saliency_mask(v, **sal[d])) for v, d in
                 ((img_a, 'A'), (gen_b, 'B'), (img_b, 'B'), (gen_a, 'A'))]
        return np.abs(masks[0] - masks[1]).mean(axis=(1, 2)) + np.abs(masks[2] - masks[3]).mean(axis=(1, 2))
    return per_pair(x, y, y, x), per_pair(x, x, y, y)


def test_structural_loss_prefers_the_true_restoration_to_the_identity_on_w2s(w2s):
    """Failure mode 2: per-pixel masks of noisy images made the identity score better than the ground truth."""
    default = {k: v for k, v in Config('YX').saliency('A').items() if k not in ('threshold', 'polarity')}
    truth, identity = structural_losses(w2s, default)
    assert truth.mean() < 0.85 * identity.mean() and np.mean(truth < identity) > 0.6
    # the masks of earlier versions (per pixel, steepness 20) rewarded keeping the noise on every test pair
    truth, identity = structural_losses(w2s, dict(steepness=20.0, sigma=0.0))
    assert truth.mean() > 3 * identity.mean() and np.all(truth > identity)
