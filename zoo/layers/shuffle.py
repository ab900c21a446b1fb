"""Shuffle attention and spatial group-wise enhance: grouped, nearly parameter-free gates."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import channel_shuffle
from .base import check_input, register


def _flat(name, array):  # (1, n, 1, 1) PyTorch parameters are kept as (n,)
    return array.reshape(-1)


class _PerChannelNorm(keras.layers.Layer):
    """GroupNorm(n, n): each channel normalised over H, W with its own affine (`gn`)."""

    def __init__(self, eps=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.eps = eps

    def build(self, input_shape):
        n = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(n,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(n,), initializer="zeros")

    def call(self, x):  # x (B, H, W, ..., n): statistics over H, W
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        var = ops.mean(ops.square(x - mean), axis=(1, 2), keepdims=True)
        return (x - mean) / ops.sqrt(var + self.eps) * self.gamma + self.beta


@register
class ShuffleAttention(keras.layers.Layer):
    """Shuffle attention (Zhang & Yang, "SA-Net: Shuffle Attention for Deep Convolutional
    Neural Networks", ICASSP 2021).

    The channels form G groups, each split in two halves: a channel gate
    `sigmoid(cweight * mean_hw + cbias)` on one, a spatial gate `sigmoid(sweight * GN(x) +
    sbias)` on the other; then a channel shuffle with 2 groups.
    Input (batch, height, width, channel); output the same shape.

    Args: channel, reduction (unused, kept from the reference's signature), G (groups).
    Weights `cweight`, `cbias`, `sweight`, `sbias` (PyTorch (1, n, 1, 1), kept as (n,)), `gn`.
    """

    def __init__(self, channel=512, reduction=16, G=8, **kwargs):
        super().__init__(**kwargs)
        if channel % (2 * G):
            raise ValueError(f"ShuffleAttention: channel ({channel}) must be divisible by 2*G ({2 * G})")
        self.channel, self.reduction, self.G = channel, reduction, G
        self.gn = _PerChannelNorm(name="gn", dtype=self.dtype_policy)

    def build(self, input_shape):
        check_input(self, input_shape, rank=4, channels=self.channel)
        n = self.channel // (2 * self.G)
        self.cweight = self.add_weight(name="cweight", shape=(n,), initializer="zeros")
        self.cbias = self.add_weight(name="cbias", shape=(n,), initializer="ones")
        self.sweight = self.add_weight(name="sweight", shape=(n,), initializer="zeros")
        self.sbias = self.add_weight(name="sbias", shape=(n,), initializer="ones")
        self.gn.build((None, None, None, None, n))

    torch_to_keras = staticmethod(_flat)

    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        n = c // (2 * self.G)
        x = ops.reshape(x, (-1, h, w, self.G, 2 * n))
        x0, x1 = x[..., :n], x[..., n:]
        xc = x0 * ops.sigmoid(self.cweight * ops.mean(x0, axis=(1, 2), keepdims=True) + self.cbias)
        xs = x1 * ops.sigmoid(self.sweight * self.gn(x1) + self.sbias)
        out = ops.reshape(ops.concatenate([xc, xs], axis=-1), (-1, h, w, c))
        return channel_shuffle(out, 2)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channel": self.channel, "reduction": self.reduction, "G": self.G}


@register
class SpatialGroupEnhance(keras.layers.Layer):
    """SGE (Li et al., "Spatial Group-wise Enhance: Improving Semantic Feature Learning in
    Convolutional Networks", 2019).

    Per channel group: the similarity `sum_c x * mean_hw(x)` at every position, standardised
    over the positions (unbiased std + 1e-5), scaled by `weight`, shifted by `bias`, is the
    sigmoid gate of the group. Input (batch, height, width, channel); output the same shape.

    Args: groups. Weights `weight`, `bias` (PyTorch (1, groups, 1, 1), kept as (groups,)).
    """

    def __init__(self, groups=8, **kwargs):
        super().__init__(**kwargs)
        self.groups = groups

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4)
        if shape[-1] is not None and shape[-1] % self.groups:
            raise ValueError(f"SpatialGroupEnhance '{self.name}' expects (batch, height, width, channels) with "
                             f"channels divisible by groups={self.groups}, got {shape}.")
        self.weight = self.add_weight(name="weight", shape=(self.groups,), initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(self.groups,), initializer="zeros")

    torch_to_keras = staticmethod(_flat)

    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        xg = ops.reshape(x, (-1, h, w, self.groups, c // self.groups))
        t = ops.sum(xg * ops.mean(xg, axis=(1, 2), keepdims=True), axis=-1)     # (B, H, W, G)
        t = t - ops.mean(t, axis=(1, 2), keepdims=True)
        std = ops.sqrt(ops.sum(ops.square(t), axis=(1, 2), keepdims=True) / (h * w - 1)) + 1e-5
        t = t / std * self.weight + self.bias
        return ops.reshape(xg * ops.expand_dims(ops.sigmoid(t), -1), (-1, h, w, c))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}
