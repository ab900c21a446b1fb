"""Contextual Transformer attention."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import Chain, Conv2d, batch_norm, dense
from .base import check_input, register


@register
class CoTAttention(keras.layers.Layer):
    """CoT block (Li et al., "Contextual Transformer Networks for Visual Recognition", TPAMI
    2022), in the External-Attention form.

    Static context `k1 = ReLU(BN(grouped kxk conv(x)))`; values `v = BN(1x1 conv(x))`;
    an attention map from `[k1, x]` through two 1x1 convs, averaged over its k*k taps,
    softmax over the positions per channel; output `k1 + softmax(att) * v`.
    Input (batch, height, width, dim); output the same shape.

    Args: dim (divisible by 4, the groups of the key conv), kernel_size.
    Sublayers `key_embed.0`/`.1`, `value_embed.0`/`.1`, `attention_embed.0`/`.1`/`.3`.
    """

    def __init__(self, dim=512, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        if dim % 4:
            raise ValueError(f"CoTAttention: dim must be divisible by 4 (the key conv's groups), got {dim}")
        self.dim, self.kernel_size = dim, kernel_size
        dt = self.dtype_policy
        self.key_embed = Chain([Conv2d(dim, kernel_size, padding=kernel_size // 2, groups=4, use_bias=False,
                                       name="0", dtype=dt), batch_norm("1", dt), keras.activations.relu],
                               name="key_embed", dtype=dt)
        self.value_embed = Chain([dense(dim, "0", dt, use_bias=False), batch_norm("1", dt)],
                                 name="value_embed", dtype=dt)
        factor = 4
        self.attention_embed = Chain([dense(2 * dim // factor, "0", dt, use_bias=False), batch_norm("1", dt),
                                      keras.activations.relu, dense(kernel_size * kernel_size * dim, "3", dt)],
                                     name="attention_embed", dtype=dt)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.dim)
        self.key_embed.build(shape)
        self.value_embed.build(shape)
        self.attention_embed.build(tuple(shape[:3]) + (2 * self.dim,))

    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        k1 = self.key_embed(x)
        v = self.value_embed(x)
        att = self.attention_embed(ops.concatenate([k1, x], axis=-1))        # (B, H, W, C*k*k)
        att = ops.mean(ops.reshape(att, (-1, h, w, c, self.kernel_size ** 2)), axis=-1)
        att = ops.reshape(ops.softmax(ops.reshape(att, (-1, h * w, c)), axis=1), (-1, h, w, c))
        return k1 + att * v

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "kernel_size": self.kernel_size}
