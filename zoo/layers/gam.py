"""Global Attention Mechanism."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import Chain, Conv2d, batch_norm, dense
from .base import check_input, register


@register
class GAM(keras.layers.Layer):
    """GAM (Liu et al., "Global Attention Mechanism: Retain Information to Enhance
    Channel-Spatial Interactions", 2021).

    Channel submodule: a 2-layer MLP on every position's channel vector (C -> C/rate -> C),
    `x = x * sigmoid(.)`; spatial submodule: 7x7 conv-BN-ReLU (C -> C/rate), 7x7 conv-BN
    (-> C), `x * sigmoid(.)`. No pooling, so no information is discarded.
    Input (batch, height, width, in_channels); output the same shape.

    Args:
        in_channels: input channels; out_channels: must equal in_channels (None: same).
        rate: reduction ratio of both submodules (paper: 4).

    Sublayers: `channel_attention.0`/`.2`, `spatial_attention.0`/`.1`/`.3`/`.4`, as in the
    common reference implementation (`GAM_Attention`).
    """

    def __init__(self, in_channels, out_channels=None, rate=4, **kwargs):
        super().__init__(**kwargs)
        out_channels = in_channels if out_channels is None else out_channels
        if out_channels != in_channels:
            raise ValueError(f"GAM: out_channels ({out_channels}) must equal in_channels ({in_channels})")
        self.in_channels, self.out_channels, self.rate = in_channels, out_channels, rate
        hidden = max(1, in_channels // rate)
        dt = self.dtype_policy
        self.channel_attention = Chain([dense(hidden, "0", dt), keras.activations.relu,
                                        dense(in_channels, "2", dt)], name="channel_attention", dtype=dt)
        self.spatial_attention = Chain([Conv2d(hidden, 7, padding=3, name="0", dtype=dt), batch_norm("1", dt),
                                        keras.activations.relu, Conv2d(out_channels, 7, padding=3, name="3", dtype=dt),
                                        batch_norm("4", dt)], name="spatial_attention", dtype=dt)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.in_channels)
        self.channel_attention.build(shape)
        self.spatial_attention.build(shape)

    def call(self, x):
        x = x * ops.sigmoid(self.channel_attention(x))
        return x * ops.sigmoid(self.spatial_attention(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels, "out_channels": self.out_channels,
                "rate": self.rate}
