"""Token attention modules: multi-head self-attention and its variants.

Inputs are token sequences (batch, tokens, d_model). The layers that take `(queries, keys,
values)` in the reference take them here too (`layer(q, k, v)`); `layer(x)` is self-attention.
"""
from __future__ import annotations

import math

import keras
from keras import ops

from ._blocks import attention
from ._nn import DepthwiseConv1d, DepthwiseConv2d, dense, layer_norm, merge_heads, split_heads
from .base import check_input, register


def _check_tokens(layer, shape, d_model):
    return check_input(layer, shape, rank=3, channels=d_model)


def _masked_attention(q, k, v, d_k, dropout, attention_mask=None, attention_weights=None):
    """The External-Attention call convention on the shared core: `attention_mask` True where
    attention is forbidden, `attention_weights` multiplying the scaled logits."""
    scale = 1 / math.sqrt(d_k)
    if attention_weights is not None:
        scale = ops.cast(attention_weights, q.dtype) * scale
    mask = None if attention_mask is None else ops.logical_not(ops.cast(attention_mask, "bool"))
    return attention(q, k, v, scale=scale, mask=mask, dropout=dropout)


def _mask_after_softmax(att, attention_mask, attention_weights):
    """EMSA's order (the reference's): the weights and the -inf mask act on the normalised map."""
    if attention_weights is not None:
        att = att * ops.cast(attention_weights, att.dtype)
    if attention_mask is not None:  # True means "masked", as in the reference
        att = ops.where(ops.cast(attention_mask, "bool"), ops.cast(float("-inf"), att.dtype), att)
    return att


class _QKVAttention(keras.layers.Layer):
    """Shared constructor/config of the (d_model, d_k, d_v, h) attention family."""

    def __init__(self, d_model, d_k=None, d_v=None, h=8, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        d_k = d_model // h if d_k is None else d_k
        d_v = d_model // h if d_v is None else d_v
        self.d_model, self.d_k, self.d_v, self.h, self.dropout_rate = d_model, d_k, d_v, h, float(dropout)
        dt = self.dtype_policy
        self.fc_q = dense(h * d_k, "fc_q", dt)
        self.fc_k = dense(h * d_k, "fc_k", dt)
        self.fc_v = dense(h * d_v, "fc_v", dt)
        self.fc_o = dense(d_model, "fc_o", dt)
        self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout", dtype=dt)

    def build(self, input_shape):
        shape = _check_tokens(self, input_shape, self.d_model)
        for fc in (self.fc_q, self.fc_k, self.fc_v):
            fc.build((shape[0], None, self.d_model))
        self.fc_o.build((shape[0], None, self.h * self.d_v))

    def _qkv(self, queries, keys, values):
        keys = queries if keys is None else keys
        values = keys if values is None else values
        q = split_heads(self.fc_q(queries), self.h)        # (B, h, nq, d_k)
        k = split_heads(self.fc_k(keys), self.h)           # (B, h, nk, d_k)
        v = split_heads(self.fc_v(values), self.h)         # (B, h, nk, d_v)
        return q, k, v, values

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "d_k": self.d_k, "d_v": self.d_v,
                "h": self.h, "dropout": self.dropout_rate}


@register
class ScaledDotProductAttention(_QKVAttention):
    """Multi-head scaled dot-product attention (Vaswani et al., "Attention Is All You Need",
    NeurIPS 2017): `softmax(Q K^T / sqrt(d_k)) V` per head, then `fc_o`.

    Input: tokens (batch, nq, d_model); call as `layer(queries[, keys, values,
    attention_mask, attention_weights])`, keys/values defaulting to the queries. `attention_mask`
    (batch, h, nq, nk) is True where attention is forbidden; `attention_weights` multiplies the
    logits. Output (batch, nq, d_model). Masked logits get a finite large negative number (the
    shared core, `zoo.layers._blocks.attention`), so a fully masked row attends uniformly where
    the reference's -inf gives NaN.

    Args: d_model, d_k, d_v (per head; default d_model // h), h (heads), dropout (on the
    attention map). Sublayers `fc_q`, `fc_k`, `fc_v`, `fc_o`.
    """

    def call(self, queries, keys=None, values=None, attention_mask=None, attention_weights=None):
        q, k, v, _ = self._qkv(queries, keys, values)
        out = _masked_attention(q, k, v, self.d_k, self.dropout, attention_mask, attention_weights)
        return self.fc_o(merge_heads(out))


@register
class SimplifiedScaledDotProductAttention(keras.layers.Layer):
    """Simplified self-attention: multi-head scaled dot-product attention without the q/k/v
    projections (the inputs are split into heads as they are), then `fc_o`.

    Input tokens (batch, nq, d_model); `layer(queries[, keys, values, attention_mask,
    attention_weights])`. Output (batch, nq, d_model).

    Args: d_model, h (heads; d_model must divide), dropout. Sublayer `fc_o`.
    """

    def __init__(self, d_model, h=8, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        if d_model % h:
            raise ValueError(f"SimplifiedScaledDotProductAttention: h ({h}) must divide d_model ({d_model})")
        self.d_model, self.h, self.dropout_rate = d_model, h, float(dropout)
        self.d_k = d_model // h
        self.fc_o = dense(d_model, "fc_o", self.dtype_policy)
        self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout", dtype=self.dtype_policy)

    def build(self, input_shape):
        shape = _check_tokens(self, input_shape, self.d_model)
        self.fc_o.build((shape[0], None, self.d_model))

    def call(self, queries, keys=None, values=None, attention_mask=None, attention_weights=None):
        keys = queries if keys is None else keys
        values = keys if values is None else values
        q, k, v = (split_heads(t, self.h) for t in (queries, keys, values))
        out = _masked_attention(q, k, v, self.d_k, self.dropout, attention_mask, attention_weights)
        return self.fc_o(merge_heads(out))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "h": self.h, "dropout": self.dropout_rate}


class _DepthPointwiseConv1d(keras.layers.Layer):
    def __init__(self, out_ch, k, **kwargs):
        super().__init__(**kwargs)
        self.k = k
        self.depth_conv = None if k == 1 else DepthwiseConv1d(k, name="depth_conv", dtype=self.dtype_policy)
        self.pointwise_conv = keras.layers.Conv1D(out_ch, 1, name="pointwise_conv", dtype=self.dtype_policy)

    def build(self, input_shape):
        if self.depth_conv is not None:
            self.depth_conv.build(input_shape)
        self.pointwise_conv.build(input_shape)

    def call(self, x):
        return self.pointwise_conv(x if self.depth_conv is None else self.depth_conv(x))


@register
class MUSEAttention(_QKVAttention):
    """MUSE (Zhao et al., "MUSE: Parallel Multi-Scale Attention for Sequence to Sequence
    Learning", 2019): multi-head self-attention plus a parallel convolution branch over the
    values, `sum_i softmax(dy_paras)_i * conv_i(V)` with depthwise-separable 1-D convs of
    kernel 1, 3, 5.

    Input tokens (batch, n, d_model); `layer(queries[, keys, values, ...])`; output
    (batch, nq, d_model) (the conv branch needs nq == nk).

    Args: d_model, d_k, d_v, h, dropout. Sublayers `fc_q/k/v/o`, `conv1.pointwise_conv`,
    `conv3.depth_conv`, `conv3.pointwise_conv`, `conv5.*`; weight `dy_paras` (3,).
    The reference overwrites `dy_paras` with its softmax on every call; here the softmax is
    taken on every call and the parameter is left alone.
    """

    def __init__(self, d_model, d_k=None, d_v=None, h=8, dropout=0.1, **kwargs):
        super().__init__(d_model, d_k, d_v, h, dropout, **kwargs)
        self.convs = [_DepthPointwiseConv1d(d_model, k, name=f"conv{k}", dtype=self.dtype_policy) for k in (1, 3, 5)]
        self.conv1, self.conv3, self.conv5 = self.convs

    def build(self, input_shape):
        super().build(input_shape)
        for conv in self.convs:
            conv.build((input_shape[0], None, self.h * self.d_v))
        self.dy_paras = self.add_weight(name="dy_paras", shape=(3,), initializer="ones")

    def call(self, queries, keys=None, values=None, attention_mask=None, attention_weights=None):
        q, k, v, values = self._qkv(queries, keys, values)
        out = self.fc_o(merge_heads(_masked_attention(q, k, v, self.d_k, self.dropout, attention_mask,
                                                      attention_weights)))
        v2 = merge_heads(v)                                    # (B, nk, h*d_v), channels (head, d)
        w = ops.softmax(self.dy_paras)
        return out + w[0] * self.conv1(v2) + w[1] * self.conv3(v2) + w[2] * self.conv5(v2)


@register
class UFOAttention(_QKVAttention):
    """UFO-ViT attention (Song, "UFO-ViT: High Performance Linear Vision Transformer without
    Softmax", 2021): `XNorm(Q) @ XNorm(K^T V)` with `XNorm(x) = gamma * x / ||x||_2` over the
    last axis; linear in the number of tokens.

    Input tokens (batch, n, d_model); `layer(queries[, keys, values])`; output (batch, nq, d_model).

    Args: d_model, d_k, d_v, h, dropout (kept for the reference's signature; unused, as there).
    Sublayers `fc_q/k/v/o`; weight `gamma` (1, h, 1, 1).
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.gamma = self.add_weight(name="gamma", shape=(1, self.h, 1, 1),
                                     initializer=keras.initializers.RandomNormal(stddev=1.0))

    def call(self, queries, keys=None, values=None):
        q, k, v, _ = self._qkv(queries, keys, values)
        kv = ops.matmul(ops.transpose(k, (0, 1, 3, 2)), v)          # (B, h, d_k, d_v)

        def xnorm(t):
            return t * self.gamma / ops.sqrt(ops.sum(ops.square(t), axis=-1, keepdims=True))

        return self.fc_o(merge_heads(ops.matmul(xnorm(q), xnorm(kv))))


@register
class EMSA(_QKVAttention):
    """Efficient multi-head self-attention of ResT (Zhang & Yang, "ResT: An Efficient
    Transformer for Visual Recognition", NeurIPS 2021).

    Keys and values come from the tokens reshaped to (H, W), reduced by a depthwise conv of
    stride `ratio` and a LayerNorm; with `apply_transform` the attention logits go through a
    1x1 conv across heads, softmax and instance norm.

    Input tokens (batch, H*W, d_model); `layer(queries[, keys, values])` (with ratio > 1 the
    keys and values are computed from the queries, as in the reference); output
    (batch, H*W, d_model).

    Args: d_model, d_k, d_v, h, dropout, H, W (token grid), ratio (spatial reduction),
    apply_transform. Sublayers `fc_q/k/v/o`, `sr_conv`, `sr_ln`, `transform.conv`.
    """

    def __init__(self, d_model, d_k=None, d_v=None, h=8, dropout=0.1, H=7, W=7, ratio=3,
                 apply_transform=True, **kwargs):
        super().__init__(d_model, d_k, d_v, h, dropout, **kwargs)
        self.H, self.W, self.ratio = H, W, ratio
        self.apply_transform_arg = apply_transform
        self.apply_transform = apply_transform and h > 1
        dt = self.dtype_policy
        if ratio > 1:
            self.sr_conv = DepthwiseConv2d(ratio + 1, stride=ratio, padding=ratio // 2, name="sr_conv", dtype=dt)
            self.sr_ln = layer_norm("sr_ln", dt)
        if self.apply_transform:
            self.transform = _HeadTransform(h, name="transform", dtype=dt)

    def build(self, input_shape):
        shape = _check_tokens(self, input_shape, self.d_model)
        if shape[1] is not None and shape[1] != self.H * self.W:
            raise ValueError(f"EMSA '{self.name}' expects (batch, H*W={self.H * self.W}, {self.d_model}) tokens, "
                             f"got {shape}.")
        super().build(input_shape)
        if self.ratio > 1:
            self.sr_conv.build((shape[0], self.H, self.W, self.d_model))
            self.sr_ln.build((shape[0], None, self.d_model))
        if self.apply_transform:
            self.transform.build(None)

    def call(self, queries, keys=None, values=None, attention_mask=None, attention_weights=None):
        keys = queries if keys is None else keys
        values = keys if values is None else values
        q = split_heads(self.fc_q(queries), self.h)
        if self.ratio > 1:
            x = ops.reshape(queries, (-1, self.H, self.W, self.d_model))
            x = self.sr_conv(x)
            x = self.sr_ln(ops.reshape(x, (-1, x.shape[1] * x.shape[2], self.d_model)))
            keys = values = x
        k = split_heads(self.fc_k(keys), self.h)
        v = split_heads(self.fc_v(values), self.h)
        # not the shared core: the transform replaces the softmax, and the mask comes after it
        att = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.d_k)
        att = self.transform(att) if self.apply_transform else ops.softmax(att, axis=-1)
        att = self.dropout(_mask_after_softmax(att, attention_mask, attention_weights))
        return self.fc_o(merge_heads(ops.matmul(att, v)))

    def get_config(self):
        return {**super().get_config(), "H": self.H, "W": self.W, "ratio": self.ratio,
                "apply_transform": self.apply_transform_arg}


class _HeadTransform(keras.layers.Layer):
    """EMSA's `transform`: 1x1 conv across heads, softmax over keys, InstanceNorm2d(h)
    (no affine, eps 1e-5) over each head's (nq, nk) map."""

    def __init__(self, h, **kwargs):
        super().__init__(**kwargs)
        self.conv = dense(h, "conv", self.dtype_policy)
        self.h = h

    def build(self, input_shape):
        self.conv.build((None, None, None, self.h))

    def call(self, att):                                        # (B, h, nq, nk)
        att = ops.transpose(self.conv(ops.transpose(att, (0, 2, 3, 1))), (0, 3, 1, 2))
        att = ops.softmax(att, axis=-1)
        mean = ops.mean(att, axis=(2, 3), keepdims=True)
        var = ops.mean(ops.square(att - mean), axis=(2, 3), keepdims=True)
        return (att - mean) / ops.sqrt(var + 1e-5)


@register
class ExternalAttention(keras.layers.Layer):
    """External attention (Guo et al., "Beyond Self-attention: External Attention using Two
    Linear Layers for Visual Tasks", 2021): two learned memories `mk`, `mv` (linear layers)
    with double normalisation (softmax over tokens, then l1 over the memory slots).

    Input tokens (batch, n, d_model); output the same shape.

    Args: d_model, S (memory size, default 64). Sublayers `mk`, `mv` (no bias).
    """

    def __init__(self, d_model, S=64, **kwargs):
        super().__init__(**kwargs)
        self.d_model, self.S = d_model, S
        self.mk = dense(S, "mk", self.dtype_policy, use_bias=False)
        self.mv = dense(d_model, "mv", self.dtype_policy, use_bias=False)

    def build(self, input_shape):
        shape = _check_tokens(self, input_shape, self.d_model)
        self.mk.build((shape[0], None, self.d_model))
        self.mv.build((shape[0], None, self.S))

    def call(self, queries):
        attn = ops.softmax(self.mk(queries), axis=1)                # over the tokens
        attn = attn / ops.sum(attn, axis=2, keepdims=True)          # over the memory slots
        return self.mv(attn)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "S": self.S}


@register
class AFT_FULL(keras.layers.Layer):  # noqa: N801 (the reference's name)
    """AFT-full (Zhai et al., "An Attention Free Transformer", 2021):
    `Y_t = sigmoid(Q_t) * sum_t' exp(K_t' + w_tt') V_t' / sum_t' exp(K_t' + w_tt')`,
    computed stably (both sums shifted by their maxima) as two matrix products.

    Input tokens (batch, n, d_model) with n fixed; output the same shape.

    Args: d_model, n (number of tokens), simple (no position biases: AFT-simple).
    Sublayers `fc_q`, `fc_k`, `fc_v`; weight `position_biases` (n, n).
    """

    def __init__(self, d_model, n=49, simple=False, **kwargs):
        super().__init__(**kwargs)
        self.d_model, self.n, self.simple = d_model, n, simple
        dt = self.dtype_policy
        self.fc_q, self.fc_k, self.fc_v = (dense(d_model, f"fc_{c}", dt) for c in "qkv")

    def build(self, input_shape):
        shape = _check_tokens(self, input_shape, self.d_model)
        if shape[1] is not None and shape[1] != self.n:
            raise ValueError(f"AFT_FULL '{self.name}' expects (batch, n={self.n}, {self.d_model}) tokens, got {shape}.")
        for fc in (self.fc_q, self.fc_k, self.fc_v):
            fc.build((shape[0], None, self.d_model))
        self.position_biases = None if self.simple else self.add_weight(
            name="position_biases", shape=(self.n, self.n), initializer="ones")

    def call(self, x):
        q, k, v = self.fc_q(x), self.fc_k(x), self.fc_v(x)
        ek = ops.exp(k - ops.max(k, axis=1, keepdims=True))                 # (B, n, d)
        if self.position_biases is None:
            num = ops.sum(ek * v, axis=1, keepdims=True)
            den = ops.sum(ek, axis=1, keepdims=True)
            return ops.sigmoid(q) * num / den
        w = self.position_biases
        ew_t = ops.transpose(ops.exp(w - ops.max(w, axis=1, keepdims=True)))  # (t', t)
        num = ops.matmul(ops.transpose(ek * v, (0, 2, 1)), ew_t)             # (B, d, t)
        den = ops.matmul(ops.transpose(ek, (0, 2, 1)), ew_t)
        return ops.sigmoid(q) * ops.transpose(num / den, (0, 2, 1))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "n": self.n, "simple": self.simple}
