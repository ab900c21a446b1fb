"""Triplet attention: three rotated branches of a Z-pool + conv gate."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import Chain, Conv2d, BN_EPS
from .base import check_input, register


def _gate(name, dtype):
    # BasicConv(2, 1, 7, padding=3, relu=False): conv without bias, BN (momentum 0.01 in PyTorch)
    return Chain([Conv2d(1, 7, padding=3, use_bias=False, name="conv", dtype=dtype),
                  keras.layers.BatchNormalization(epsilon=BN_EPS, momentum=0.99, name="bn", dtype=dtype)],
                 name=name, dtype=dtype)


class _AttentionGate(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = _gate("conv", self.dtype_policy)

    def build(self, input_shape):  # the (rows, cols) plane the gate convolves, 2 pooled maps
        self.conv.build((None, None, None, 2))

    def call(self, planes):
        """planes: (B, rows, cols, pooled-over axis) -> gate (B, rows, cols)."""
        z = ops.stack([ops.max(planes, axis=-1), ops.mean(planes, axis=-1)], axis=-1)
        return ops.sigmoid(self.conv(z))[..., 0]


@register
class TripletAttention(keras.layers.Layer):
    """Triplet attention (Misra et al., "Rotate to Attend: Convolutional Triplet Attention
    Module", WACV 2021).

    Three gates, each `sigmoid(BN(conv7x7([max; mean])))` over one plane of the tensor:
    (C, W) pooled over H (`cw`), (H, C) pooled over W (`hc`), (H, W) pooled over C (`hw`);
    the output is the mean of the three gated inputs. Input (batch, height, width, channel);
    output the same shape.

    Args:
        no_spatial: drop the (H, W) branch (average of the other two).

    Sublayers: `cw.conv.conv`/`cw.conv.bn`, `hc.*`, `hw.*`, as in the reference code.
    """

    def __init__(self, no_spatial=False, **kwargs):
        super().__init__(**kwargs)
        self.no_spatial = no_spatial
        self.cw = _AttentionGate(name="cw", dtype=self.dtype_policy)
        self.hc = _AttentionGate(name="hc", dtype=self.dtype_policy)
        self.hw = None if no_spatial else _AttentionGate(name="hw", dtype=self.dtype_policy)

    def build(self, input_shape):
        check_input(self, input_shape, rank=4)
        for gate in (self.cw, self.hc, self.hw):
            if gate is not None:
                gate.build(input_shape)

    def call(self, x):
        # (C, W) plane: rows = channels, cols = width, pooled over height
        g_cw = self.cw(ops.transpose(x, (0, 3, 2, 1)))                       # (B, C, W)
        out = x * ops.expand_dims(ops.transpose(g_cw, (0, 2, 1)), 1)          # (B, 1, W, C)
        # (H, C) plane: rows = height, cols = channels, pooled over width
        g_hc = self.hc(ops.transpose(x, (0, 1, 3, 2)))                       # (B, H, C)
        out = out + x * ops.expand_dims(g_hc, 2)
        if self.hw is None:
            return out / 2
        g_hw = self.hw(x)                                                    # (B, H, W)
        return (out + x * ops.expand_dims(g_hw, -1)) / 3

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "no_spatial": self.no_spatial}
