"""Building blocks with PyTorch numerics, used inside the attention layers.

They exist so that a layer reads like its reference implementation: `Conv2d` pads the way
`torch.nn.Conv2d` does, `batch_norm` has PyTorch's epsilon and momentum, `Chain` is an
`nn.Sequential` whose children keep their names (`rbr_dense.conv`, `rbr_dense.bn`) so that
`zoo.convert` can map a checkpoint onto them by name.

The unfold/fold helpers replace `tf.image.extract_patches` (not a TFLite builtin) with
gathers, pads and adds that every runtime has.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from .base import register

BN_EPS = 1e-5      # PyTorch's default (Keras' is 1e-3)
BN_MOMENTUM = 0.9  # PyTorch momentum 0.1 for the running statistics


def pair(v) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def torch_padding(kernel_size, stride=1, padding=0, dilation=1) -> tuple[str, tuple[int, int]]:
    """PyTorch's symmetric zero padding for a Keras conv: (Keras padding mode, explicit (ph, pw)).

    Keras' "same" pads 0 before / 1 after on a stride-2 conv over an even size where PyTorch pads
    1 / 1, so "same" is used only where both agree (stride 1, 2 * padding == dilation * (k - 1)
    on both axes): ("same", (0, 0)). Otherwise ("valid", (ph, pw)): pad (ph, pw) explicitly first.
    """
    k, s, p, d = pair(kernel_size), pair(stride), pair(padding), pair(dilation)
    if s == (1, 1) and all(2 * p[i] == d[i] * (k[i] - 1) for i in range(2)):
        return "same", (0, 0)
    return "valid", p


def pad_hw(x, pad):
    """Zero-pad the H and W axes of an NHWC tensor symmetrically by pad = (ph, pw)."""
    ph, pw = pad
    if not (ph or pw):
        return x
    return ops.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]])


def padded_shape(shape, pad):
    """The NHWC shape after `pad_hw(x, pad)`."""
    b, h, w, c = shape
    ph, pw = pad
    return b, None if h is None else h + 2 * ph, None if w is None else w + 2 * pw, c


_GROUPED_PATH = None


def grouped_conv_path() -> str:
    """How float32 grouped convolutions run here, decided once by a probe:
    - "direct": TensorFlow's own Conv2D with the grouped kernel, where its kernels compute it and
      its gradients (oneDNN on x86 CPUs, cuDNN on GPUs): on CPU 2.2-2.7x faster than one conv per
      group on a 3x3 32-group layer at 28x28-56x56, 1.3x at 7x7 (benchmarks/grouped_conv.py);
    - "per-group": one conv per group (split -> convs -> concat), where the probe fails (CPU
      builds without oneDNN, e.g. TF_ENABLE_ONEDNN_OPTS=0).
    Keras' own path (the op inside a jit-compiled function, for every backend's sake) is slower
    than both on CPU, so it only remains for other dtypes on accelerators."""
    global _GROUPED_PATH
    if _GROUPED_PATH is None:
        import tensorflow as tf
        with tf.init_scope():   # eager, also when first asked while a tf.function traces
            _GROUPED_PATH = "direct" if _direct_grouped_works() else "per-group"
    return _GROUPED_PATH


def per_group_convs() -> bool:
    """Whether grouped convolutions run as one conv per group (`grouped_conv_path`)."""
    return grouped_conv_path() == "per-group"


def _direct_grouped_works() -> bool:
    """TensorFlow's Conv2D with a grouped kernel and both its backprops (the ops its gradient
    calls, run directly: the probe runs under `tf.init_scope`, where gradient tapes do not record)
    equal to one conv per group."""
    import tensorflow as tf
    rng = np.random.default_rng(0)
    x, k, dy = (tf.constant(rng.standard_normal(s), tf.float32) for s in ((1, 5, 5, 4), (3, 3, 2, 6), (1, 5, 5, 6)))
    ones = [1, 1, 1, 1]

    def run(x, k, dy):
        return (tf.nn.conv2d(x, k, ones, "SAME"),
                tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=k, out_backprop=dy, strides=ones,
                                               padding="SAME"),
                tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(k), out_backprop=dy, strides=ones,
                                                padding="SAME"))
    try:
        got = run(x, k, dy)
    except (tf.errors.OpError, ValueError, TypeError, NotImplementedError):
        return False
    halves = [run(*parts) for parts in zip(tf.split(x, 2, -1), tf.split(k, 2, -1), tf.split(dy, 2, -1))]
    want = [tf.concat([h[i] for h in halves], -1) for i in range(3)]   # y, dx, dk: per group on the channel axis
    return all(np.allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-5) for g, w in zip(got, want))


def grouped_conv(inputs, kernel, groups: int, *, strides, padding, dilation_rate, data_format="channels_last",
                 per_group: bool | None = None):
    """`ops.conv` with a grouped kernel (kh, kw, C/groups, O). per_group None: float32 the way
    `grouped_conv_path()` says, other dtypes one conv per group; True: one conv per group (plain
    ops, which tf2onnx and TFLite also convert); False: Keras' own `ops.conv`."""
    if groups == 1 or data_format != "channels_last":
        return ops.conv(inputs, kernel, strides=strides, padding=padding, dilation_rate=dilation_rate,
                        data_format=data_format)
    if per_group is None:
        path = grouped_conv_path() if inputs.dtype == "float32" else "per-group"
    else:
        path = "per-group" if per_group else "keras"
    if path == "direct":
        import tensorflow as tf
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), dilations=dilation_rate)
    if path == "per-group":
        outs = [ops.conv(x, k, strides=strides, padding=padding, dilation_rate=dilation_rate, data_format=data_format)
                for x, k in zip(ops.split(inputs, groups, axis=-1), ops.split(kernel, groups, axis=-1))]
        return ops.concatenate(outs, axis=-1)
    return ops.conv(inputs, kernel, strides=strides, padding=padding, dilation_rate=dilation_rate,
                    data_format=data_format)


@register
class GroupedConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` (same config, weights and outputs) whose grouped convolution runs
    through `grouped_conv`: TensorFlow's grouped Conv2D where it computes it, else per group."""

    def convolution_op(self, inputs, kernel):
        return grouped_conv(inputs, kernel, self.groups, strides=self.strides, padding=self.padding,
                            dilation_rate=self.dilation_rate, data_format=self.data_format)


class _TorchPadded:
    """call / compute_output_shape of a Keras conv preceded by PyTorch's explicit padding
    (`self.torch_padding`, from `torch_padding`)."""

    def call(self, x):
        return super().call(pad_hw(x, self.torch_padding))

    def compute_output_shape(self, input_shape):
        return super().compute_output_shape(padded_shape(input_shape, self.torch_padding))


class Conv2d(_TorchPadded, GroupedConv2D):
    """`torch.nn.Conv2d` semantics on NHWC: explicit symmetric zero padding (`torch_padding`);
    grouped convolutions as `GroupedConv2D`."""

    def __init__(self, filters, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 use_bias=True, **kwargs):
        mode, self.torch_padding = torch_padding(kernel_size, stride, padding, dilation)
        super().__init__(filters, pair(kernel_size), strides=pair(stride), padding=mode,
                         dilation_rate=pair(dilation), groups=groups, use_bias=use_bias, **kwargs)


class DepthwiseConv2d(_TorchPadded, keras.layers.DepthwiseConv2D):
    """Depthwise `torch.nn.Conv2d(C, C*m, k, groups=C)` with PyTorch's explicit padding."""

    def __init__(self, kernel_size, stride=1, padding=0, dilation=1, depth_multiplier=1, use_bias=True,
                 **kwargs):
        mode, self.torch_padding = torch_padding(kernel_size, stride, padding, dilation)
        super().__init__(pair(kernel_size), strides=pair(stride), padding=mode, dilation_rate=pair(dilation),
                         depth_multiplier=depth_multiplier, use_bias=use_bias, **kwargs)


class DepthwiseConv1d(keras.layers.DepthwiseConv1D):
    """Depthwise `torch.nn.Conv1d(C, C, k, groups=C, padding=k//2)` over (B, N, C) tokens.

    `torch_to_keras` maps the PyTorch weight (C, 1, k) to Keras' (k, C, 1).
    """

    def __init__(self, kernel_size, use_bias=True, **kwargs):
        if kernel_size % 2 != 1:
            raise ValueError(f"DepthwiseConv1d: kernel_size must be odd, got {kernel_size}")
        super().__init__(kernel_size, padding="same", use_bias=use_bias, **kwargs)

    def torch_to_keras(self, name, array):
        if name == "kernel" and array.ndim == 3:
            return np.transpose(array, (2, 0, 1))
        return None


def batch_norm(name, dtype=None, eps=BN_EPS):
    return keras.layers.BatchNormalization(epsilon=eps, momentum=BN_MOMENTUM, name=name, dtype=dtype)


@register
class LayerNorm(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` over the last axis (PyTorch's `nn.LayerNorm(C)`), computed
    as PyTorch does: `d = x - mean`, `d * (rsqrt(mean(d * d) + eps) * gamma) + beta`. The same
    function as Keras' `x * inv + (beta - mean * inv)`, in fewer ops and without a NEG:
    - TensorFlow on CPU runs it faster: at a transformer's sizes a norm costs its ops' count more
      than its passes over the data. Whole models, the zoo's norm against Keras' and nothing else
      changed (`benchmarks/fused_activations.py --forms layernorm`, 2-core Xeon, 2026-12-06, batch 1,
      two runs): mobilevit_xxs 0.94-0.97x the time, gfnet_xs 0.95, coatnet_0_rw_224 0.96-0.97;
    - int8 TFLite quantizes SUB, MUL, MEAN, RSQRT and ADD, but a NEG stays a float island between
      a dequantize and a quantize.
    Half-precision inputs are normalised in float32, as Keras does. Weights `gamma`/`beta`
    (`weight`/`bias` in checkpoints), config and results are Keras'."""

    def __init__(self, epsilon=1e-5, **kwargs):
        axis = kwargs.pop("axis", -1)
        if axis not in (-1, [-1], (-1,)):
            raise ValueError(f"{type(self).__name__} normalises the last axis; got axis={axis!r}")
        super().__init__(axis=-1, epsilon=epsilon, **kwargs)

    def call(self, x):
        if self.rms_scaling:
            return super().call(x)
        dtype = x.dtype
        x = ops.cast(x, "float32") if str(dtype) in ("float16", "bfloat16") else x
        d = x - ops.mean(x, axis=-1, keepdims=True)
        inv = ops.rsqrt(ops.mean(d * d, axis=-1, keepdims=True) + self.epsilon)
        if self.gamma is not None:
            inv = inv * ops.cast(self.gamma, x.dtype)
        y = d * inv
        if self.beta is not None:
            y = y + ops.cast(self.beta, x.dtype)
        return ops.cast(y, self.compute_dtype)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("axis", None)
        return cfg


def layer_norm(name, dtype=None, eps=1e-5):
    return LayerNorm(epsilon=eps, name=name, dtype=dtype)


@register
class Dense(keras.layers.Dense):
    """`keras.layers.Dense` that runs an input of rank 3 or more, (..., C), as one 2-D matmul over
    its (rows, C) view, then the bias and the activation, then the reshape back.

    Keras' own rank>2 path (tensordot: reshape, MatMul, reshape) leaves the bias add and the
    activation after the last reshape, where TensorFlow's graph optimizer cannot fuse them: on x86
    (oneDNN) MatMul + bias (+ GELU) here become one kernel instead of two or three passes over the
    activations. Same weights, names and results as `keras.layers.Dense`.
    """

    def call(self, inputs, training=None):
        if len(inputs.shape) <= 2 or self.lora_enabled or self.quantization_mode is not None:
            return super().call(inputs, training=training)
        x = ops.matmul(ops.reshape(inputs, (-1, inputs.shape[-1])), self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return ops.reshape(x, (*leading_shape(inputs), self.units))


def leading_shape(x) -> tuple:
    """`x`'s shape but its last axis, to give a 2-D (rows, N) result of x's (rows, C) view back
    its leading axes: -1 and the static sizes where every axis but the first is known (a constant
    reshape: no shape arithmetic in the graph, none of the Shape/Gather/Concat/Cast chains that
    tf2onnx writes for a dynamic one: 630 of gfnet_xs's 1821 ONNX nodes), else the dynamic shape."""
    inner = tuple(x.shape[1:-1])
    return (-1, *inner) if None not in inner else tuple(ops.shape(x)[:-1])


def matmul_last(x, w):
    """`x (..., K) @ w (K, N)` as one 2-D matmul over x's (rows, K) view (`leading_shape`)."""
    if len(x.shape) <= 2:
        return ops.matmul(x, w)
    return ops.reshape(ops.matmul(ops.reshape(x, (-1, x.shape[-1])), w), (*leading_shape(x), w.shape[-1]))


def dense(units, name, dtype=None, use_bias=True, activation=None):
    return Dense(units, use_bias=use_bias, activation=activation, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="zoo")
def gelu(x):
    """Exact (erf) GELU, PyTorch's nn.GELU default."""
    return keras.activations.gelu(x, approximate=False)


@keras.saving.register_keras_serializable(package="zoo")
def silu(x):
    """SiLU (swish), `x * sigmoid(x)`, written out. What Keras' "silu" runs, `tf.nn.silu`, is a
    custom-gradient function whose graph wraps the product in an IdentityN, and that keeps
    TensorFlow's graph optimizer from fusing it into the convolution before it (oneDNN's
    conv + bias + swish kernel): written out it fuses, one pass over the activations fewer."""
    return x * ops.sigmoid(x)


def get_activation(act):
    """An activation by name or callable: "gelu" is the exact GELU (`gelu`, PyTorch's default),
    "silu" / "swish" the written-out `silu`; any other goes through `keras.activations.get`."""
    if isinstance(act, str) and act in _ACTIVATIONS:
        return _ACTIVATIONS[act]
    return keras.activations.get(act)


_ACTIVATIONS = {"gelu": gelu, "silu": silu, "swish": silu}


class Chain(keras.layers.Layer):
    """`nn.Sequential`: children are called in order and keep their own names.

    Children may be Keras layers or plain callables (activations); only layers hold weights.
    Internal to the attention layers (their config rebuilds it), hence not serializable alone.
    """

    def __init__(self, children, **kwargs):
        super().__init__(**kwargs)
        self.children_ = list(children)

    def build(self, input_shape):
        shape = input_shape
        for child in self.children_:
            if isinstance(child, keras.layers.Layer):
                if not child.built:
                    child.build(shape)
                shape = child.compute_output_shape(shape)

    def call(self, x):
        for child in self.children_:
            x = child(x)
        return x

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for child in self.children_:
            if isinstance(child, keras.layers.Layer):
                shape = child.compute_output_shape(shape)
        return shape


def conv_bn(filters, kernel_size, name, *, stride=1, padding=None, groups=1, dilation=1, dtype=None,
            conv_bias=False, activation=None, bn_name="bn", conv_name="conv"):
    """`nn.Sequential(conv=Conv2d(bias=False), bn=BatchNorm2d[, act])`, the conv-BN pair of
    RepVGG / ACNet / MobileViT blocks."""
    k = pair(kernel_size)
    if padding is None:
        padding = (dilation * (k[0] - 1) // 2, dilation * (k[1] - 1) // 2)
    children = [Conv2d(filters, k, stride=stride, padding=padding, groups=groups, dilation=dilation,
                       use_bias=conv_bias, name=conv_name, dtype=dtype),
                batch_norm(bn_name, dtype)]
    if activation is not None:
        children.append(get_activation(activation))
    return Chain(children, name=name, dtype=dtype)


def fuse_conv_bn(kernel, bias, bn) -> tuple[np.ndarray, np.ndarray]:
    """Fold an inference-mode BatchNormalization into the preceding conv's (Keras-layout) kernel."""
    gamma, beta, mean, var = (np.asarray(v, dtype=np.float64) for v in
                              (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
    scale = gamma / np.sqrt(var + bn.epsilon)
    k = np.asarray(kernel, dtype=np.float64) * scale          # the last axis is the output channel
    b = (np.zeros_like(scale) if bias is None else np.asarray(bias, np.float64)) * scale + beta - mean * scale
    return k, b


def window_indices(size: int, kernel: int, stride: int) -> np.ndarray:
    """Rows of every window of an unfold along one axis (over an already padded axis)."""
    n = (size - kernel) // stride + 1
    return (np.arange(n)[:, None] * stride + np.arange(kernel)[None, :]).astype(np.int32)


def unfold(x, kernel_size, stride=1, padding=0):
    """`F.unfold` on NHWC: (B, H, W, C) -> (B, h, w, kh, kw, C), h/w the number of windows.

    Two constant-index gathers (TFLite GATHER, ONNX Gather) instead of extract_patches.
    Needs static H and W.
    """
    kh, kw = pair(kernel_size)
    sh, sw = pair(stride)
    x = pad_hw(x, pair(padding))
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    rows, cols = window_indices(H, kh, sh), window_indices(W, kw, sw)
    h, w = rows.shape[0], cols.shape[0]
    x = ops.take(x, rows.reshape(-1), axis=1)                       # (B, h*kh, W, C)
    x = ops.take(x, cols.reshape(-1), axis=2)                       # (B, h*kh, w*kw, C)
    x = ops.reshape(x, (-1, h, kh, w, kw, C))
    return ops.transpose(x, (0, 1, 3, 2, 4, 5))


def fold(patches, output_size, kernel_size, stride=1, padding=0):
    """`F.fold` on NHWC, the adjoint of `unfold`: (B, h, w, kh, kw, C) -> (B, H, W, C),
    overlapping contributions summed. Written as kh*kw zero-interleaves, pads and adds.
    """
    kh, kw = pair(kernel_size)
    sh, sw = pair(stride)
    ph, pw = pair(padding)
    H, W = pair(output_size)
    h, w, C = patches.shape[1], patches.shape[2], patches.shape[5]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    out = None
    for i in range(kh):
        for j in range(kw):
            p = patches[:, :, :, i, j, :]                             # (B, h, w, C)
            if sh > 1 or sw > 1:  # place window (a, b) at row a*sh, column b*sw
                p = ops.reshape(p, (-1, h, 1, w, 1, C))
                p = ops.pad(p, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]])
                p = ops.reshape(p, (-1, h * sh, w * sw, C))
            top, left = i, j
            bottom = Hp - top - p.shape[1]
            right = Wp - left - p.shape[2]
            if bottom < 0:
                p, bottom = p[:, :p.shape[1] + bottom], 0
            if right < 0:
                p, right = p[:, :, :p.shape[2] + right], 0
            p = ops.pad(p, [[0, 0], [top, bottom], [left, right], [0, 0]])
            out = p if out is None else out + p
    return out[:, ph:ph + H, pw:pw + W, :]


def channel_shuffle(x, groups: int):
    """ShuffleNet channel shuffle on NHWC (the order PyTorch's NCHW shuffle gives)."""
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    x = ops.reshape(x, (-1, h, w, groups, c // groups))
    x = ops.transpose(x, (0, 1, 2, 4, 3))
    return ops.reshape(x, (-1, h, w, c))


def neg_inf(dtype) -> float:
    """A large negative logit that is finite in `dtype` (float16 has no room for -1e9)."""
    return -6.0e4 if str(dtype) in ("float16", "bfloat16") else -1.0e9


def split_heads(x, heads: int):
    """(B, N, heads*d) -> (B, heads, N, d)."""
    n, c = x.shape[1], x.shape[2]
    x = ops.reshape(x, (-1, n, heads, c // heads))
    return ops.transpose(x, (0, 2, 1, 3))


def merge_heads(x):
    """(B, heads, N, d) -> (B, N, heads*d)."""
    h, n, d = x.shape[1], x.shape[2], x.shape[3]
    return ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (-1, n, h * d))


def static_dim(layer, shape, axis: int, what: str) -> int:
    v = shape[axis]
    if v is None:
        raise ValueError(f"{type(layer).__name__} '{layer.name}' needs a static {what} "
                         f"(got input shape {tuple(shape)}).")
    return int(v)


def isqrt_exact(n: int) -> int | None:
    r = int(math.isqrt(n))
    return r if r * r == n else None
