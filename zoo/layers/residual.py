"""Residual attention (class-specific) pooling head."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import dense
from .base import check_input, register


@register
class ResidualAttention(keras.layers.Layer):
    """Class-specific residual attention (Zhu & Wu, "Residual Attention: A Simple but
    Effective Method for Multi-Label Recognition", ICCV 2021): per-class scores from a 1x1
    conv at every position, `score = mean_hw + la * max_hw`.

    Input (batch, height, width, channel); output logits (batch, num_class).

    Args: channel, num_class, la (the lambda weight of the max pooled term).
    Sublayer `fc` (a 1x1 conv without bias, held as Dense).
    """

    def __init__(self, channel=512, num_class=1000, la=0.2, **kwargs):
        super().__init__(**kwargs)
        self.channel, self.num_class, self.la = channel, num_class, float(la)
        self.fc = dense(num_class, "fc", self.dtype_policy, use_bias=False)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.channel)
        self.fc.build((shape[0], None, None, self.channel))

    def call(self, x):
        y = self.fc(x)
        return ops.mean(y, axis=(1, 2)) + self.la * ops.max(y, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_class)

    def get_config(self):
        return {**super().get_config(), "channel": self.channel, "num_class": self.num_class, "la": self.la}
