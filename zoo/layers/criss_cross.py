"""CCNet's criss-cross attention."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ._nn import dense, neg_inf
from .base import check_input, register


@register
class CrissCrossAttention(keras.layers.Layer):
    """Criss-cross attention (Huang et al., "CCNet: Criss-Cross Attention for Semantic
    Segmentation", ICCV 2019): every position attends to the positions of its row and its
    column (the position itself counted once), `gamma * out + x`.

    Input (batch, height, width, in_dim); output the same shape.

    Args: in_dim. Sublayers `query_conv`, `key_conv` (in_dim -> in_dim // 8), `value_conv`
    (1x1 convs, held as Dense); weight `gamma` (1,), zero at start as in CCNet.
    """

    def __init__(self, in_dim, **kwargs):
        super().__init__(**kwargs)
        self.in_dim = in_dim
        dt = self.dtype_policy
        self.query_conv = dense(max(1, in_dim // 8), "query_conv", dt)
        self.key_conv = dense(max(1, in_dim // 8), "key_conv", dt)
        self.value_conv = dense(in_dim, "value_conv", dt)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.in_dim)
        for l in (self.query_conv, self.key_conv, self.value_conv):
            l.build(shape)
        self.gamma = self.add_weight(name="gamma", shape=(1,), initializer="zeros")

    def call(self, x):
        h = x.shape[1]
        q, k, v = self.query_conv(x), self.key_conv(x), self.value_conv(x)
        # column energies (B, W, H, H'), the diagonal (the position itself) excluded
        qc, kc, vc = (ops.transpose(t, (0, 2, 1, 3)) for t in (q, k, v))
        e_h = ops.matmul(qc, ops.transpose(kc, (0, 1, 3, 2)))
        e_h = ops.where(np.eye(h, dtype=bool), ops.cast(neg_inf(e_h.dtype), e_h.dtype), e_h)
        e_h = ops.transpose(e_h, (0, 2, 1, 3))                                # (B, H, W, H')
        e_w = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))                   # (B, H, W, W')
        att = ops.softmax(ops.concatenate([e_h, e_w], axis=-1), axis=-1)
        a_h = ops.transpose(att[..., :h], (0, 2, 1, 3))                       # (B, W, H, H')
        out_h = ops.transpose(ops.matmul(a_h, vc), (0, 2, 1, 3))              # (B, H, W, C)
        out_w = ops.matmul(att[..., h:], v)                                   # (B, H, W, C)
        return self.gamma * (out_h + out_w) + x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "in_dim": self.in_dim}
