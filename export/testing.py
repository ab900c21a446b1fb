"""Stand-in weights for testing exports without pretrained checkpoints.

A randomly initialised network gives near-constant logits (every photo gets the same class),
which makes top-1 agreement meaningless and leaves int8 calibration ranges degenerate. With no
network access to published weights, tests and the export matrix use `data_init`: random
BatchNorm affine parameters, and BatchNorm statistics re-estimated on real photos (each BN then
normalizes the activations it actually sees, as in a trained network). This is a test fixture,
not a trained model: its predictions mean nothing, only their agreement across runtimes does.
"""
from __future__ import annotations

import keras
import numpy as np


def data_init(model: keras.Model, images=None, seed: int = 0, gain: float = 3.0) -> keras.Model:
    """Randomize BN gamma/beta and set BN moving statistics to batch statistics on `images`
    (default: 32 calibration photos, preprocessed); scale the classifier so logits span a few
    units. Modifies and returns `model`."""
    from . import photos
    from ._cfg import serving_cfg

    rng = np.random.default_rng(seed)
    if images is None:
        cfg = serving_cfg(model)
        images = photos.normalize(photos.to_pixels(photos.calibration_photos(32, seed=seed + 11), cfg), cfg)
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    momenta = []
    for bn in bns:
        n = bn.gamma.shape[0]
        bn.gamma.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
        bn.beta.assign(rng.uniform(-0.3, 0.3, n).astype(np.float32))
        momenta.append(bn.momentum)
        bn.momentum = 0.0
    try:
        model(np.asarray(images, np.float32), training=True)
    finally:
        for bn, m in zip(bns, momenta):
            bn.momentum = m
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    if dense:
        k = dense[-1].kernel
        k.assign(keras.ops.convert_to_numpy(k) * gain)
    return model
