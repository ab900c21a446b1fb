"""Non-local block (embedded Gaussian)."""
from __future__ import annotations

import keras
from keras import ops

from ._blocks import attention
from ._nn import Chain, dense
from .base import check_input, register


@register
class NonLocalBlock(keras.layers.Layer):
    """Non-local block, embedded Gaussian version (Wang et al., "Non-local Neural Networks",
    CVPR 2018): `z = W(softmax(theta(x) phi(x)^T) g(x)) + x` over all H*W positions.

    Input (batch, height, width, in_channels); output the same shape.

    Args: in_channels, inter_channels (None: in_channels // 2), sub_sample (2x2 max-pool on
    phi and g), bn_layer (BN after W; its scale starts at 0, so the block starts as identity).
    Sublayers `g`, `theta`, `phi` (1x1 convs; `g.0`/`phi.0` with sub_sample), `W.0`, `W.1`
    (conv, BN), as in the common PyTorch implementation.
    """

    def __init__(self, in_channels, inter_channels=None, sub_sample=False, bn_layer=True, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.sub_sample, self.bn_layer = in_channels, sub_sample, bn_layer
        self.inter_channels = inter_channels or max(1, in_channels // 2)
        dt, ci = self.dtype_policy, self.inter_channels
        self.theta = dense(ci, "theta", dt)
        if sub_sample:
            self.g = Chain([dense(ci, "0", dt), keras.layers.MaxPooling2D(2, name="1", dtype=dt)], name="g", dtype=dt)
            self.phi = Chain([dense(ci, "0", dt), keras.layers.MaxPooling2D(2, name="1", dtype=dt)], name="phi", dtype=dt)
        else:
            self.g, self.phi = dense(ci, "g", dt), dense(ci, "phi", dt)
        if bn_layer:
            self.W = Chain([dense(in_channels, "0", dt),
                            keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, gamma_initializer="zeros",
                                                            name="1", dtype=dt)], name="W", dtype=dt)
        else:
            self.W = dense(in_channels, "W", dt)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.in_channels)
        for l in (self.theta, self.g, self.phi):
            l.build(shape)
        self.W.build(tuple(shape[:3]) + (self.inter_channels,))

    def call(self, x):
        h, w, ci = x.shape[1], x.shape[2], self.inter_channels
        theta = ops.reshape(self.theta(x), (-1, h * w, ci))
        phi, g = self.phi(x), self.g(x)
        n = phi.shape[1] * phi.shape[2]
        phi, g = ops.reshape(phi, (-1, n, ci)), ops.reshape(g, (-1, n, ci))
        y = ops.reshape(attention(theta, phi, g, scale=1.0), (-1, h, w, ci))    # embedded Gaussian: no scale
        return self.W(y) + x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels, "inter_channels": self.inter_channels,
                "sub_sample": self.sub_sample, "bn_layer": self.bn_layer}
