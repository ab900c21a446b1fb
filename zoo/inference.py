"""The inference form of a zoo model: the same function in fewer, fused ops.

`inference_model(model)` returns a functional copy of `model` in which
- every BatchNormalization whose input is a convolution used by nothing else is folded into that
  convolution (kernel scaled, bias added) and becomes `Folded`, an identity that keeps its name;
- every layer with a `fuse()` form (re-parameterised blocks: `zoo.layers.rep`, `RepMLPBlock`) is
  that form: one conv where training has several branches.

What remains is conv + bias + activation, which TensorFlow's graph optimizer (oneDNN on x86) runs
as one fused kernel; batch norm otherwise costs two extra passes over every activation. At 224 px
with 2 threads this makes seresnet50 ~10% faster at batch 1 and ~20% at batch 8 under
`tf.function` (`benchmarks/bench.py`). The copy is proven to give the original's outputs (inference
mode, within 1e-5 of their scale) before it is returned. It is for inference only: its batch norms
are gone, so it cannot be fine-tuned; `zoo bench` and the TF Serving SavedModel
(`export.to_saved_model`) use it. `inference_function(model)` freezes it into one TensorFlow graph
with its weights as constants, which TensorFlow runs faster still (`zoo predict` uses that).
"""
from __future__ import annotations

import keras
import numpy as np

from .errors import ZooError
from .factory import pretrained_cfg
from .layers._nn import fuse_conv_bn
from .layers.base import register

# a fused copy computes the same function in another order: fp32 rounding only
FUSED_RTOL = 1e-5


@register
class Folded(keras.layers.Layer):
    """Where a batch norm was before it was folded into the preceding convolution: identity."""

    def call(self, x, mask=None, training=None):
        return x

    def compute_output_shape(self, input_shape):
        return input_shape


def _producer(layer):
    """The layer whose output is `layer`'s single input (None when not exactly one)."""
    if len(layer._inbound_nodes) != 1:
        return None
    parents = layer._inbound_nodes[0].parent_nodes
    return parents[0].operation if len(parents) == 1 else None


def _conv_bn_pairs(model) -> dict[int, tuple]:
    """{id(conv): (conv, bn)} for each conv -> BN edge that can be folded exactly."""
    outputs = {id(t) for t in model.outputs}
    pairs = {}
    for bn in model.layers:
        if type(bn) is not keras.layers.BatchNormalization or bn.axis not in (-1, 3) or bn.scale is False:
            continue
        conv = _producer(bn)
        if (not isinstance(conv, keras.layers.Conv2D | keras.layers.DepthwiseConv2D)
                or len(conv._inbound_nodes) != 1 or len(conv._outbound_nodes) != 1
                or id(conv.output) in outputs or conv.data_format != "channels_last"):
            continue
        pairs[id(conv)] = (conv, bn)
    return pairs


def _folded_conv(conv, bn):
    """A copy of `conv` with `bn` folded in (same class, config and name, with a bias)."""
    cfg = {**conv.get_config(), "use_bias": True}
    new = type(conv).from_config(cfg)
    new.build(conv.input.shape)
    kernel = np.asarray(conv.kernel.numpy() if hasattr(conv, "kernel") else conv.depthwise_kernel.numpy())
    bias = conv.bias.numpy() if conv.use_bias else None
    if isinstance(conv, keras.layers.DepthwiseConv2D):   # (kh, kw, C, m): output channel c*m + j
        kh, kw, c, m = kernel.shape
        k, b = fuse_conv_bn(kernel.reshape(kh, kw, c * m), bias, bn)
        k = k.reshape(kh, kw, c, m)
    else:
        k, b = fuse_conv_bn(kernel, bias, bn)
    new.set_weights([k.astype(np.float32), b.astype(np.float32)])
    return new


def is_functional(model) -> bool:
    """Whether `model` is a functional keras.Model (a graph of layers: what can be rewritten)."""
    from keras.src.models.functional import Functional
    return isinstance(model, Functional)


def inference_model(model: keras.Model, *, check: bool = True) -> keras.Model:
    """`model`'s inference form (see the module docstring); the model itself when nothing fuses.

    check: prove the copy equal to `model` on a seeded random batch (one forward pass of each).
    """
    if not is_functional(model):
        raise ZooError(f"inference_model takes a functional keras.Model (zoo.create's); got {type(model).__name__}")
    pairs = _conv_bn_pairs(model)
    folded_bns = {id(bn) for _, bn in pairs.values()}

    def fusable(layer):
        return callable(getattr(layer, "fuse", None)) and not getattr(layer, "deploy", False)

    def swap(layer):
        if id(layer) in pairs:
            return _folded_conv(*pairs[id(layer)])
        if id(layer) in folded_bns:
            return Folded(name=layer.name, dtype=layer.dtype_policy)
        return layer.fuse() if fusable(layer) else layer

    if not pairs and not any(fusable(layer) for layer in model.layers):
        return model
    new = keras.models.clone_model(model, clone_function=swap)
    new.pretrained_cfg = pretrained_cfg(model)
    if check:
        _prove_equal(model, new)
    return new


def _prove_equal(model, new):
    shape = [1 if d is None else d for d in model.inputs[0].shape]
    if any(d is None for d in model.inputs[0].shape[1:]):
        shape[1:3] = (pretrained_cfg(model) or {}).get("input_size", (224, 224, 3))[:2]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ref = [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(model(x, training=False))]
    out = [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(new(x, training=False))]
    for a, b in zip(ref, out):
        scale = max(float(np.max(np.abs(a))), 1e-12)
        d = float(np.max(np.abs(a.astype(np.float64) - b))) / scale
        if not np.isfinite(d) or d > FUSED_RTOL:
            raise ZooError(f"the inference form of {model.name} changes its outputs (max |diff| {d:.3g} x "
                           f"max|output|, allowed {FUSED_RTOL:g}); use the model as it is")


def inference_function(model: keras.Model, *, batch_size: int | None = None, fuse: bool = True):
    """`model`'s forward pass in inference mode as a TensorFlow function whose weights are
    constants of its graph (a frozen graph), for running many batches: grappler folds what
    depends on weights alone and oneDNN prepares each constant filter once instead of re-reading
    a variable on every call. Measured 2026-12-06 (2-core Intel Xeon, 2 threads, against the same
    inference form under `tf.function`, in the same run; docs/benchmarks.json): batch 1, the CNNs
    take 0.84-0.89x the time (seresnet50 0.89, seresnext50_32x4d 0.84, parnet_s 0.87), the hybrids
    gain nothing (coatnet_0_rw_224, mobilevit*, gfnet_xs 0.99-1.02); batch 8, seresnet50 0.87.
    (`zoo bench NAME --targets keras:fused keras:frozen`.)

    fuse: freeze `inference_model(model)` (batch norms folded, blocks fused; proven equal), not
    `model` itself. batch_size: fix the batch dimension (None: any). Returns a callable taking a
    float NHWC batch (array or tensor) and returning the model's outputs (tensors, same nesting);
    it holds its own copies of the weights, so later changes to `model` do not reach it. Memory:
    TensorFlow keeps several copies of a graph's constants (graph, optimized graph, kernels' own):
    seresnet50 (112 MB of weights) +2.0 GB resident after the first call, mobilevit_xxs +0.14 GB.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    if len(model.inputs) != 1:
        raise ZooError(f"inference_function takes a model with one input; {model.name} has {len(model.inputs)}")
    if batch_size is not None and int(batch_size) < 1:
        raise ZooError(f"batch_size must be a positive integer or None; got {batch_size!r}")
    run = inference_model(model) if fuse and is_functional(model) else model
    spec = tf.TensorSpec((batch_size, *model.inputs[0].shape[1:]), model.inputs[0].dtype)
    traced = tf.function(lambda x: run(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(traced)
    structure = traced.structured_outputs
    dtype = spec.dtype

    def forward(x):
        return tf.nest.pack_sequence_as(structure, frozen(tf.convert_to_tensor(x, dtype)))
    return forward
