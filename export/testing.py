"""Stand-in weights for testing exports without pretrained checkpoints.

A randomly initialised network gives near-constant logits (every photo gets the same class),
which makes top-1 agreement meaningless and leaves int8 calibration ranges degenerate. With no
network access to published weights, tests and the export matrix use `data_init`: random
BatchNorm affine parameters, and BatchNorm statistics re-estimated on real photos (each BN then
normalizes the activations it actually sees, as in a trained network). This is a test fixture,
not a trained model: its predictions mean nothing, only their agreement across runtimes does.
"""
from __future__ import annotations

import zlib

import keras
import numpy as np

SEED = 20261124
_SMALL_TABLES = ("complex_weight", "relative_position", "pos_embed", "rel_pos", "cls_token")


def synth_tensor(key: str, shape, seed: int = SEED, layout: str = "torch") -> np.ndarray:
    """A synthetic checkpoint tensor (the recipe of the reference checkpoints' README): random
    values seeded by (seed, crc32(key)), shaped by what the tensor is: BN variances in [0.5, 1.5),
    means and biases in [-0.1, 0.1), 1-D weights in [0.9, 1.1), position tables small, other
    weights uniform with std 1/sqrt(fan_in).
    layout: where the fan-in axes are, "torch" (O, I, kh, kw) / (O, I) or "keras" (kh, kw, I, O)."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape)) if shape else 1
    u = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))]).random(n, dtype=np.float64)
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "running_var":
        x = 0.5 + u
    elif leaf in ("running_mean", "bias"):
        x = 0.2 * (u - 0.5)
    elif len(shape) <= 1:
        x = 1.0 + 0.2 * (u - 0.5)
    elif any(t in key for t in _SMALL_TABLES):
        x = 0.04 * (u - 0.5) * np.sqrt(3)
    else:
        a = np.sqrt(3.0 / int(np.prod(shape[1:] if layout == "torch" else shape[:-1])))
        x = a * (2 * u - 1)
    return x.astype(np.float32).reshape(shape)


def residual_branch_norms(model: keras.Model) -> list:
    """The last BatchNorm of each residual branch: for every `Add`, walk back from each input
    through single-input layers (attention, activation) to the first BatchNorm, and keep it when
    it belongs to the Add's own block and is not the shortcut's (`downsample`)."""
    found = []
    for add in (l for l in model.layers if isinstance(l, keras.layers.Add)):
        block = add.name.rsplit(".", 1)[0] + "."
        for t in add._inbound_nodes[0].input_tensors:
            op = t._keras_history.operation
            while not isinstance(op, keras.layers.BatchNormalization):
                inputs = op._inbound_nodes[0].input_tensors if op._inbound_nodes else []
                if len(inputs) != 1:
                    op = None
                    break
                op = inputs[0]._keras_history.operation
            if op is not None and op.name.startswith(block) and "downsample" not in op.name:
                found.append(op)
    return found


def data_init(model: keras.Model, images=None, seed: int = 0, gain: float = 3.0,
              residual_gamma: float = 1.0) -> keras.Model:
    """Randomize BN gamma/beta and set BN moving statistics to batch statistics on `images`
    (default: 32 calibration photos, preprocessed); scale the classifier so logits span a few
    units. Modifies and returns `model`. Every BatchNormalization reachable through sublayers is
    set (those inside composite layers too: momentum 0 for the estimate, restored after).

    `residual_gamma` multiplies the gamma of the last BN of every residual branch (before the
    statistics are estimated). With the default 1.0 every branch adds as much as the shortcut
    carries, and deep stand-ins amplify small perturbations such as fp16 rounding; a trained
    ResNet's branches are weaker (timm even starts them at 0, `zero_init_last`), which a value
    like 0.2 imitates. benchmarks/fp16_drift.py measures the difference."""
    from . import photos
    from ._cfg import serving_cfg

    rng = np.random.default_rng(seed)
    if images is None:
        cfg = serving_cfg(model)
        images = photos.normalize(photos.to_pixels(photos.calibration_photos(32, seed=seed + 11), cfg), cfg)
    # every BN in model.layers' order, each composite layer's own (CoT, SK, Chains) after it
    bns = list({id(l): l for top in model.layers for l in top._flatten_layers()
                if isinstance(l, keras.layers.BatchNormalization)}.values())
    momenta = []
    residual = {id(bn) for bn in residual_branch_norms(model)} if residual_gamma != 1.0 else set()
    for bn in bns:
        n = bn.gamma.shape[0]
        g = rng.uniform(0.5, 1.5, n) * (residual_gamma if id(bn) in residual else 1.0)
        bn.gamma.assign(g.astype(np.float32))
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
