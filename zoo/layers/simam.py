"""SimAM: parameter-free attention from an energy function."""
from __future__ import annotations

import keras
from keras import ops

from .base import check_input, register


@register
class SimAM(keras.layers.Layer):
    """SimAM (Yang et al., "SimAM: A Simple, Parameter-Free Attention Module", ICML 2021).

    With `d = (x - mean_hw x)^2` and `n = H*W - 1`:
    `x * sigmoid(d / (4 * (sum_hw d / n + e_lambda)) + 0.5)`.
    Input (batch, height, width, channel); output the same shape. No weights.

    Args:
        channels: accepted for compatibility with the reference; unused (checked if given).
        e_lambda: the regulariser lambda (paper: 1e-4).
    """

    def __init__(self, channels=None, e_lambda=1e-4, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.e_lambda = channels, float(e_lambda)

    def build(self, input_shape):
        check_input(self, input_shape, rank=4, channels=self.channels)

    def call(self, x):
        n = x.shape[1] * x.shape[2] - 1 if x.shape[1] and x.shape[2] else \
            ops.cast(ops.shape(x)[1] * ops.shape(x)[2] - 1, x.dtype)
        d = ops.square(x - ops.mean(x, axis=(1, 2), keepdims=True))
        y = d / (4 * (ops.sum(d, axis=(1, 2), keepdims=True) / n + self.e_lambda)) + 0.5
        return x * ops.sigmoid(y)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "e_lambda": self.e_lambda}
