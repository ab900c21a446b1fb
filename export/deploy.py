"""Deploy forms: swap layers for export-friendly equivalents and prove the outputs unchanged.

A layer with an export-friendly form implements `to_deploy(self) -> keras.layers.Layer`
(re-parameterised blocks fused to one conv, an FFT filter written as DFT matmuls), returning a
new layer, weights set, that computes the same function. `deploy_model` rebuilds the
functional graph with `keras.models.clone_model`, calling `to_deploy()` for every such layer and
reusing every other layer as it is (its weights are shared, not copied), then checks that the
new model gives the same outputs as the original on the inputs it is given.
"""
from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from zoo.errors import ExportError

# deploy forms compute the same function in another order: fp32 rounding, nothing more
DEPLOY_RTOL = 1e-5


def swap_layers(model: keras.Model, replace: Callable) -> tuple[keras.Model, list[str]]:
    """A functional copy of `model` where `replace(layer)` returns a substitute layer or None
    (keep the layer itself). Returns (new model, names of the replaced layers); the model itself,
    not cloned, when nothing is replaced."""
    subs = {}
    for layer in model.layers:
        new = replace(layer)
        if new is None:
            continue
        if not isinstance(new, keras.layers.Layer):
            raise ExportError(f"{layer.name}: the replacement is a {type(new).__name__}, not a keras Layer")
        subs[id(layer)] = new
    if not subs:
        return model, []
    swapped = [l.name for l in model.layers if id(l) in subs]
    # reuse every other layer (same weights); input layers are recreated by clone_model
    clone = keras.models.clone_model(model, clone_function=lambda layer: subs.get(id(layer), layer))
    clone.pretrained_cfg = getattr(model, "pretrained_cfg", None)
    return clone, swapped


def _to_deploy(layer):
    fn = getattr(layer, "to_deploy", None)
    if not callable(fn):
        return None
    new = fn()
    if new is layer:
        return None
    return new


def max_rel_diff(ref, out) -> float:
    """max |out - ref| / max |ref| (the logits' scale), for comparing artifacts and deploy forms."""
    ref = np.asarray(ref, np.float64)
    out = np.asarray(out, np.float64)
    return float(np.max(np.abs(out - ref)) / max(float(np.max(np.abs(ref))), 1e-12))


def prove_equal(original, candidate, inputs, *, rtol: float = DEPLOY_RTOL, what: str = "deploy form"):
    """Raise ExportError unless `candidate` gives `original`'s outputs on `inputs` within
    rtol x max|outputs|. Returns the relative difference."""
    x = np.asarray(inputs, np.float32)
    ref = original(x, training=False)
    out = candidate(x, training=False)
    d = max_rel_diff(keras.ops.convert_to_numpy(ref), keras.ops.convert_to_numpy(out))
    if not np.isfinite(d) or d > rtol:
        raise ExportError(
            f"the {what} of {original.name} changes its outputs: max |diff| is {d:.3g} x max|output| "
            f"(allowed {rtol:g}). A layer's to_deploy() (or the rewrite) is wrong; export the model without it.")
    return d


def deploy_model(model: keras.Model, check_inputs=None, *, rtol: float = DEPLOY_RTOL):
    """`model` with every layer that has `to_deploy()` swapped for its deploy form.

    check_inputs: NHWC float32 inputs on which the swapped model must equal the original
    (within rtol of the outputs' scale); required when anything is swapped.
    Returns (model, swapped layer names, relative difference or None).
    """
    new, swapped = swap_layers(model, _to_deploy)
    if not swapped:
        return model, [], None
    if check_inputs is None:
        raise ExportError("deploy_model swapped layers but was given no inputs to prove the outputs unchanged")
    return new, swapped, prove_equal(model, new, check_inputs, rtol=rtol)
