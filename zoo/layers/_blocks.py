"""The pieces the attention layers and the model families share, one copy each: timm's `Mlp`,
`LayerScale` and the scaled-dot-product attention core (`attention`, with `split_qkv` for fused
projections).
"""
from __future__ import annotations

import numbers

import keras
from keras import ops

from ._nn import dense, get_activation, neg_inf
from .base import register


@register
class Mlp(keras.layers.Layer):
    """timm's `Mlp`: `fc1 -> act -> drop1 -> fc2 -> drop2` over the last axis.

    Input (..., in_features); output (..., out_features).

    Args (timm's names): hidden_features, out_features (None: the input's channels),
    act (activation name or callable; default "gelu", the exact GELU), bias (of fc1 and fc2),
    drop (dropout rate after the activation and after fc2; a pair sets them apart, as in timm).
    Sublayers `fc1`, `fc2` (timm's names, so `<block>.mlp.fc1.weight` maps by name).
    """

    def __init__(self, hidden_features=None, out_features=None, act="gelu", bias=True, drop=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_features, self.out_features, self.bias = hidden_features, out_features, bool(bias)
        self.act_name = act if isinstance(act, str) else keras.activations.serialize(act)
        self.act = get_activation(act)
        d1, d2 = drop if isinstance(drop, (tuple, list)) else (drop, drop)
        self.drop_rates = (float(d1), float(d2))
        self.drop1 = keras.layers.Dropout(self.drop_rates[0], name="drop1", dtype=self.dtype_policy)
        self.drop2 = keras.layers.Dropout(self.drop_rates[1], name="drop2", dtype=self.dtype_policy)
        self.fc1 = self.fc2 = None

    def _widths(self, in_features):
        hidden = self.hidden_features or in_features
        return hidden, self.out_features or in_features

    def build(self, input_shape):
        hidden, out = self._widths(input_shape[-1])
        dt = self.dtype_policy
        # the activation runs inside fc1, where the 2-D matmul, bias and activation fuse (`_nn.Dense`)
        self.fc1 = dense(hidden, "fc1", dt, use_bias=self.bias, activation=self.act)
        self.fc2 = dense(out, "fc2", dt, use_bias=self.bias)
        self.fc1.build(input_shape)
        self.fc2.build(tuple(input_shape[:-1]) + (self._fc2_features(hidden),))

    def _fc2_features(self, hidden):
        """What fc2 takes: fc1's width here; a gated MLP (gMLP) halves it."""
        return hidden

    def call(self, x, training=None):
        x = self.drop1(self.fc1(x), training=training)
        return self.drop2(self.fc2(x), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self._widths(input_shape[-1])[1],)

    def get_config(self):
        d1, d2 = self.drop_rates
        return {**super().get_config(), "hidden_features": self.hidden_features, "out_features": self.out_features,
                "act": self.act_name, "bias": self.bias, "drop": d1 if d1 == d2 else [d1, d2]}


@register
class LayerScale(keras.layers.Layer):
    """`x * gamma` over the last axis: timm's `LayerScale`, its `LayerScale2d` on NHWC (CoAtNet's
    ConvNeXt blocks) and GFNet's `BlockLayerScale.gamma`. Weight `gamma` (dim,)."""

    def __init__(self, dim, init_values=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.init_values = int(dim), float(init_values)

    def build(self, input_shape):
        if input_shape[-1] != self.dim:
            raise ValueError(f"{self.name}: expects {self.dim} channels on the last axis, got {input_shape}")
        self.gamma = self.add_weight(name="gamma", shape=(self.dim,),
                                     initializer=keras.initializers.Constant(self.init_values))

    def call(self, x):
        return x * ops.cast(self.gamma, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "init_values": self.init_values}


def attention(q, k, v, *, scale, bias=None, mask=None, dropout=None, training=None):
    """Scaled dot-product attention over the last two axes: `softmax(q k^T * scale + bias)`,
    masked, through `dropout`, times `v`.

    q (..., Nq, d), k (..., Nk, d), v (..., Nk, dv), any leading axes (batch, heads) -> (..., Nq, dv).

    scale: a number (multiplies q before the product, as timm does: Nq*d products instead of
        Nq*Nk) or a tensor broadcastable to the logits (..., Nq, Nk), which it multiplies.
    bias: added to the logits (relative position biases), broadcastable to them; cast to their dtype.
    mask: bool, broadcastable to the logits, True where a query may attend (the convention of
        `keras.ops.dot_product_attention`). Masked logits get `neg_inf(dtype)`, a finite large
        negative number (-inf would turn a fully masked row into NaN and has no float16 room
        for the margin the softmax needs); a fully masked row attends uniformly.
    dropout: a Keras `Dropout` layer for the attention weights (None: none), called with `training`.

    Why the explicit formula and not `keras.ops.dot_product_attention` (TF backend: two einsums
    on (B, N, heads, d), softmax in float32): it is no more exact and it is slower, and it has
    no dropout. benchmarks/attention_core.py, from a fused qkv projection to the merged heads as
    the layers use them, tf.function, float32, median of 150 interleaved calls in one process
    (TF 2.21 / Keras 3.15, 2 shared CPU cores):

        shape (B, N, heads, d)              explicit   keras    keras/explicit  max|x - float64|
        CoAtNet stage 3  (1, 196, 8, 32)     1.10 ms   1.15 ms      1.04x       5.2e-7 / 4.9e-7
        CoAtNet stage 3  (8, 196, 8, 32)     4.77 ms   5.55 ms      1.16x       7.1e-7 / 6.9e-7
        MobileViT-S st.3 (4, 256, 4, 36)     2.23 ms   2.52 ms      1.13x       6.0e-7 / 4.3e-7
        MobileViT-S st.3 (32, 256, 4, 36)   13.34 ms  17.64 ms      1.32x       8.2e-7 / 7.2e-7
        MobileViT-S st.5 (32, 16, 4, 60)     0.90 ms   1.00 ms      1.11x       7.5e-7 / 7.2e-7

    Three more runs gave 1.04-1.40x, and under XLA (`--jit`) 1.03-1.20x; the two forms differ by
    at most 1.1e-6. Both export: `dot_product_attention` becomes builtin TFLite ops (BATCH_MATMUL,
    SOFTMAX, TRANSPOSE; 4e-8 of Keras) and converts to ONNX (1.6e-7), so speed alone decides.
    """
    if isinstance(scale, numbers.Number):
        logits = ops.matmul(q if scale == 1 else q * scale, ops.swapaxes(k, -1, -2))
    else:
        logits = ops.matmul(q, ops.swapaxes(k, -1, -2)) * ops.cast(scale, q.dtype)
    if bias is not None:
        logits = logits + ops.cast(bias, logits.dtype)
    if mask is not None:
        logits = ops.where(mask, logits, ops.cast(neg_inf(logits.dtype), logits.dtype))
    weights = ops.softmax(logits, axis=-1)
    if dropout is not None:
        weights = dropout(weights, training=training)
    return ops.matmul(weights, v)


def split_qkv(qkv, num_heads: int, *, head_first: bool = False):
    """A fused projection (B, N, 3*heads*d) -> q, k, v, each (B, heads, N, d).

    head_first: channels laid out (heads, 3, d) (timm's CoAtNet `Attention2d`) instead of
    (3, heads, d) (timm's ViT `Attention`, the "rw" CoAtNets).

    Written as an even split of the channel axis (TFLite SPLIT), a reshape and a transpose per
    tensor, not as a transpose to (3, B, heads, N, d) and three indexings: an indexing is a
    STRIDED_SLICE that drops an axis, which LiteRT's XNNPACK delegate does not take, so each one
    cut the delegated graph in two (coatnet_0_rw_224 and mobilevit_xxs ran in 10 pieces).
    """
    n, c = qkv.shape[1], qkv.shape[2]
    d = c // (3 * num_heads)
    if head_first:
        parts = ops.split(ops.reshape(qkv, (-1, n, num_heads, 3 * d)), 3, axis=-1)     # (B, N, heads, d)
    else:
        parts = [ops.reshape(t, (-1, n, num_heads, d)) for t in ops.split(qkv, 3, axis=-1)]
    return tuple(ops.transpose(t, (0, 2, 1, 3)) for t in parts)
