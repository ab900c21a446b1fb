"""Pyramid split attention (EPSANet)."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import Chain, Conv2d, dense
from .base import check_input, register


@register
class PSA(keras.layers.Layer):
    """PSA (Zhang et al., "EPSANet: An Efficient Pyramid Squeeze Attention Block on
    Convolutional Neural Network", 2021).

    The channels are split into S groups; group i goes through a conv of kernel 2(i+1)+1
    (SPC), an SE gate per group, a softmax of the gates across the S groups, and is
    reweighted. Input (batch, height, width, channel); output the same shape.

    Args: channel, reduction (of the SE gates, relative to channel // S), S (groups).
    Sublayers `convs.{i}`, `se_blocks.{i}.1`, `se_blocks.{i}.3` (1x1 convs without bias).
    """

    def __init__(self, channel=512, reduction=4, S=4, **kwargs):
        super().__init__(**kwargs)
        if channel % S:
            raise ValueError(f"PSA: S ({S}) must divide channel ({channel})")
        self.channel, self.reduction, self.S = channel, reduction, S
        cg = channel // S
        hidden = max(1, channel // (S * reduction))
        dt = self.dtype_policy
        self.convs = [Conv2d(cg, 2 * (i + 1) + 1, padding=i + 1, name=f"convs.{i}", dtype=dt) for i in range(S)]
        self.se_blocks = [Chain([dense(hidden, "1", dt, use_bias=False), keras.activations.relu,
                                 dense(cg, "3", dt, use_bias=False)], name=f"se_blocks.{i}", dtype=dt)
                          for i in range(S)]

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.channel)
        cg = self.channel // self.S
        for conv, se in zip(self.convs, self.se_blocks):
            conv.build(tuple(shape[:3]) + (cg,))
            se.build((shape[0], cg))

    def call(self, x):
        cg = self.channel // self.S
        spc = [conv(x[..., i * cg:(i + 1) * cg]) for i, conv in enumerate(self.convs)]
        gates = ops.stack([ops.sigmoid(se(ops.mean(s, axis=(1, 2)))) for s, se in zip(spc, self.se_blocks)], 1)
        weights = ops.softmax(gates, axis=1)                                   # (B, S, cg)
        out = [s * weights[:, None, None, i, :] for i, s in enumerate(spc)]
        return ops.concatenate(out, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channel": self.channel, "reduction": self.reduction, "S": self.S}
