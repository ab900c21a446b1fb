"""Coordinate attention."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import batch_norm, dense
from .base import check_input, register


def hard_swish(x):
    return x * ops.relu6(x + 3) / 6


@register
class CoordAtt(keras.layers.Layer):
    """Coordinate attention (Hou et al., "Coordinate Attention for Efficient Mobile Network
    Design", CVPR 2021).

    Pools along W and along H, encodes the two strips jointly (1x1 conv, BN, h-swish), then
    `x * sigmoid(conv_h(.)) * sigmoid(conv_w(.))`. Input (batch, height, width, inp); output
    the same shape.

    Args:
        inp: input channels; oup: output channels of the attention maps (must equal `inp`).
        reduction: hidden width `max(8, inp // reduction)`.

    Sublayers: `conv1`, `bn1`, `conv_h`, `conv_w` (1x1 convs, held as Dense).
    """

    def __init__(self, inp, oup=None, reduction=32, **kwargs):
        super().__init__(**kwargs)
        oup = inp if oup is None else oup
        if oup != inp:
            raise ValueError(f"CoordAtt: oup ({oup}) must equal inp ({inp}): the maps gate the input")
        self.inp, self.oup, self.reduction = inp, oup, reduction
        self.mip = max(8, inp // reduction)
        dt = self.dtype_policy
        self.conv1 = dense(self.mip, "conv1", dt)
        self.bn1 = batch_norm("bn1", dt)
        self.conv_h = dense(oup, "conv_h", dt)
        self.conv_w = dense(oup, "conv_w", dt)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.inp)
        self.conv1.build((shape[0], None, self.inp))
        self.bn1.build((shape[0], None, self.mip))
        self.conv_h.build((shape[0], None, self.mip))
        self.conv_w.build((shape[0], None, self.mip))

    def call(self, x):
        h = x.shape[1]
        x_h = ops.mean(x, axis=2)                                     # (B, H, C)
        x_w = ops.mean(x, axis=1)                                     # (B, W, C)
        y = hard_swish(self.bn1(self.conv1(ops.concatenate([x_h, x_w], axis=1))))
        a_h = ops.sigmoid(self.conv_h(y[:, :h]))                      # (B, H, C)
        a_w = ops.sigmoid(self.conv_w(y[:, h:]))                      # (B, W, C)
        return x * ops.expand_dims(a_w, 1) * ops.expand_dims(a_h, 2)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "inp": self.inp, "oup": self.oup, "reduction": self.reduction}
