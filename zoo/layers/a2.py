"""A^2 double attention."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import dense
from .base import check_input, register


@register
class DoubleAttention(keras.layers.Layer):
    """A^2 block (Chen et al., "A^2-Nets: Double Attention Networks", NeurIPS 2018).

    Gather: `G = A softmax_hw(B)^T` (c_m x c_n global descriptors); distribute:
    `Z_i = G softmax_cn(V_i)` at every position i; optionally a 1x1 conv back to in_channels.
    Input (batch, height, width, in_channels); output (batch, height, width, in_channels) with
    `reconstruct`, else c_m channels.

    Args: in_channels, c_m, c_n, reconstruct. Sublayers `convA`, `convB`, `convV`,
    `conv_reconstruct` (1x1 convs, held as Dense). The softmaxes follow the paper (over
    positions for B, over c_n for V); the External-Attention code calls F.softmax without a
    dim, which on its 3-D tensors means the batch axis.
    """

    def __init__(self, in_channels, c_m, c_n, reconstruct=True, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.c_m, self.c_n, self.reconstruct = in_channels, c_m, c_n, reconstruct
        dt = self.dtype_policy
        self.convA = dense(c_m, "convA", dt)
        self.convB = dense(c_n, "convB", dt)
        self.convV = dense(c_n, "convV", dt)
        self.conv_reconstruct = dense(in_channels, "conv_reconstruct", dt) if reconstruct else None

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.in_channels)
        for conv in (self.convA, self.convB, self.convV):
            conv.build((shape[0], None, self.in_channels))
        if self.conv_reconstruct is not None:
            self.conv_reconstruct.build((shape[0], None, self.c_m))

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        t = ops.reshape(x, (-1, h * w, self.in_channels))
        a = self.convA(t)                                        # (B, N, c_m)
        maps = ops.softmax(self.convB(t), axis=1)                # (B, N, c_n), over positions
        vectors = ops.softmax(self.convV(t), axis=2)             # (B, N, c_n), over c_n
        g = ops.matmul(ops.transpose(a, (0, 2, 1)), maps)        # (B, c_m, c_n)
        z = ops.matmul(vectors, ops.transpose(g, (0, 2, 1)))     # (B, N, c_m)
        if self.conv_reconstruct is not None:
            z = self.conv_reconstruct(z)
        return ops.reshape(z, (-1, h, w, z.shape[-1]))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + ((self.in_channels if self.reconstruct else self.c_m),)

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels, "c_m": self.c_m, "c_n": self.c_n,
                "reconstruct": self.reconstruct}
