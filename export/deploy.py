"""Deploy forms: swap layers for export-friendly equivalents and prove the outputs unchanged.

A layer with an export-friendly form implements `to_deploy(self) -> keras.layers.Layer`
(re-parameterised blocks fused to one conv, an FFT filter written as DFT matmuls), returning a
new layer, weights set, that computes the same function. `deploy_model` rebuilds the
functional graph with `keras.models.clone_model`, calling `to_deploy()` for every such layer and
reusing every other layer as it is (its weights are shared, not copied), then checks that the
new model gives the same outputs as the original on the inputs it is given.

Nested layers (`swap_layers`, hence `deploy_model` and the ONNX grouped-conv rewrite, reach them):
a layer that `replace` does not swap itself but whose sublayers (at any depth, found through the
Keras tracker: attributes, lists, tuples, dicts) it swaps is rebuilt around the substitutes:
- a functional sub-model through `swap_layers` itself;
- a `zoo.layers._nn.Chain` (or a `keras.Sequential`) as a new one of the same children, the
  swapped ones replaced;
- any other composite from its config (`from_config(get_config())`, `build_from_config`, its
  weights copied: what loading a `.keras` file does), then each swapped child is replaced in that
  copy where the copy holds it (same constructor, same child order).
The contract for a composite layer is therefore: `get_config()` rebuilds it, or it implements
`to_deploy()` itself (its own to_deploy() always wins and is not looked into). The original
model is never modified.
"""
from __future__ import annotations

from typing import Callable

import keras
import numpy as np
from keras.src.models.functional import Functional

from zoo.errors import ExportError
from zoo.factory import pretrained_cfg

# deploy forms compute the same function in another order: fp32 rounding, nothing more
DEPLOY_RTOL = 1e-5


def swap_layers(model: keras.Model, replace: Callable) -> tuple[keras.Model, list[str]]:
    """A functional copy of `model` where `replace(layer)` returns a substitute layer or None
    (keep the layer itself); sublayers of composite layers are offered to `replace` too (see the
    module docstring). Returns (new model, names of the replaced layers, `outer/inner` for nested
    ones); the model itself, not cloned, when nothing is replaced."""
    subs, swapped = {}, []
    for layer in model.layers:
        new, names = _substitute(layer, replace)
        if new is not None:
            subs[id(layer)] = new
            swapped += names
    if not subs:
        return model, []
    # reuse every other layer (same weights); input layers are recreated by clone_model
    clone = keras.models.clone_model(model, clone_function=lambda layer: subs.get(id(layer), layer))
    clone.pretrained_cfg = pretrained_cfg(model)
    return clone, swapped


def _substitute(layer, replace, prefix=""):
    """(substitute for `layer` or None, names swapped in it)."""
    new = replace(layer)
    if new is not None:
        if not isinstance(new, keras.layers.Layer):
            raise ExportError(f"{layer.name}: the replacement is a {type(new).__name__}, not a keras Layer")
        return new, [prefix + layer.name]
    if isinstance(layer, Functional):   # a functional sub-model: its graph, like the model's
        sub, names = swap_layers(layer, replace)
        return (sub, [f"{prefix}{layer.name}/{n}" for n in names]) if names else (None, [])
    found, names = {}, []
    for child in layer._layers:   # direct sublayers, in the order the layer created them
        sub, n = _substitute(child, replace, f"{prefix}{layer.name}/")
        if sub is not None:
            found[id(child)] = sub
            names += n
    if not found:
        return None, []
    from zoo.layers._nn import Chain
    if type(layer) is Chain:   # its children are its constructor's argument: share the others
        return Chain([found.get(id(c), c) for c in layer.children_], name=layer.name,
                     dtype=layer.dtype_policy), names
    if type(layer) is keras.Sequential:
        return keras.Sequential([found.get(id(c), c) for c in layer.layers], name=layer.name), names
    copy = _rebuilt(layer, names)
    for old, twin in zip(layer._layers, copy._layers):
        if type(old) is not type(twin) or old.name != twin.name:
            raise ExportError(f"{layer.name}: its copy from config holds {twin.name} where the layer holds "
                              f"{old.name}; give {type(layer).__name__} a to_deploy()")
        if id(old) in found:
            _put(copy, twin, found[id(old)])
    return copy, names


def _rebuilt(layer, names):
    """A new `layer` from its config, built, with its weights."""
    try:
        copy = type(layer).from_config(layer.get_config())
        copy.build_from_config(layer.get_build_config())
        copy.set_weights(layer.get_weights())
    except Exception as e:  # noqa: BLE001 - one actionable error
        raise ExportError(
            f"{layer.name} ({type(layer).__name__}) holds layers to swap ({', '.join(names)}) but cannot be "
            f"rebuilt from its config ({type(e).__name__}: {' '.join(str(e).split())[:200]}); give "
            f"{type(layer).__name__} a to_deploy() that returns its deploy form") from None
    return copy


def _put(parent, old, new):
    """Make `parent` hold `new` wherever it holds `old` (attributes, lists, tuples, dicts)."""
    parent._tracker.replace_tracked_value("layers", old, new)   # same place in parent.weights

    def swap(v):
        if v is old:
            return new, True
        if isinstance(v, list):
            hit = False
            for i, e in enumerate(v):
                e2, h = swap(e)
                if h:
                    list.__setitem__(v, i, e2)
                    hit = True
            return v, hit
        if isinstance(v, tuple) and not hasattr(v, "_fields"):
            items = [swap(e) for e in v]
            return (type(v)(e for e, _ in items), True) if any(h for _, h in items) else (v, False)
        if isinstance(v, dict):
            hit = False
            for k, e in list(v.items()):
                e2, h = swap(e)
                if h:
                    v[k] = e2
                    hit = True
            return v, hit
        return v, False

    hits = 0
    for name, value in list(vars(parent).items()):
        if name in ("_layers", "_tracker") or name.startswith("_self_"):
            continue
        value2, hit = swap(value)
        if hit:
            hits += 1
            if value2 is not value:
                setattr(parent, name, value2)
    if not hits:
        raise ExportError(f"{parent.name}: cannot find where it holds {old.name}; give "
                          f"{type(parent).__name__} a to_deploy()")


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
