"""Efficient Channel Attention."""
from __future__ import annotations

import math

import keras
from keras import ops

from .base import check_input, register


def eca_kernel_size(channel: int, gamma: float = 2, beta: float = 1) -> int:
    """The paper's adaptive kernel size: |log2(C) + b| / gamma, made odd, at least 3."""
    t = int(abs(math.log(channel, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


@register
class ECAAttention(keras.layers.Layer):
    """ECA (Wang et al., "ECA-Net: Efficient Channel Attention", CVPR 2020).

    A 1-D convolution across the channels of the pooled descriptor, then a sigmoid gate:
    `x * sigmoid(conv1d(mean_hw(x)))`. Input (batch, height, width, channel); output same shape.

    Args:
        kernel_size: odd kernel size of the channel convolution (used when `channel` is None).
        channel: when given, the kernel size is chosen from it as the paper (and timm) do.
        gamma, beta: the paper's kernel-size mapping.
        use_bias: bias in the 1-D convolution (the paper and timm have none).
    """

    def __init__(self, kernel_size=3, channel=None, gamma=2, beta=1, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.channel = channel
        self.gamma = gamma
        self.beta = beta
        self.kernel_size = eca_kernel_size(channel, gamma, beta) if channel else kernel_size
        if self.kernel_size % 2 != 1:
            raise ValueError(f"ECAAttention: kernel_size must be odd, got {self.kernel_size}")
        self.use_bias = use_bias
        self.conv = keras.layers.Conv1D(1, self.kernel_size, padding="same", use_bias=use_bias,
                                        name="conv", dtype=self.dtype_policy)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.channel)
        self.conv.build((shape[0], shape[-1], 1))

    def call(self, x):
        s = ops.expand_dims(ops.mean(x, axis=(1, 2)), -1)      # (B, C, 1): channels as a sequence
        s = ops.sigmoid(ops.squeeze(self.conv(s), -1))          # (B, C)
        return x * ops.expand_dims(ops.expand_dims(s, 1), 1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        # kernel_size is stored resolved; channel is kept so the check on input channels survives
        return {**super().get_config(), "kernel_size": self.kernel_size, "channel": None,
                "gamma": self.gamma, "beta": self.beta, "use_bias": self.use_bias}
