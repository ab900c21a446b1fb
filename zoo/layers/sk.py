"""Selective Kernel attention."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import Chain, Conv2d, batch_norm, dense
from .base import check_input, register


@register
class SKAttention(keras.layers.Layer):
    """SK (Li et al., "Selective Kernel Networks", CVPR 2019).

    Split: one conv-BN-ReLU branch per kernel size; fuse: `z = fc(mean_hw(sum of branches))`;
    select: a softmax across the branches of `fcs[i](z)` weights each branch per channel.
    Input (batch, height, width, channel); output the same shape.

    Args:
        channel: input (and output) channels.
        kernels: kernel sizes of the branches (External-Attention: [1, 3, 5, 7]).
        reduction, L: the fuse width is `max(L, channel // reduction)`.
        group: groups of the branch convs.

    Sublayers: `convs.{i}.conv`, `convs.{i}.bn`, `fc`, `fcs.{i}`.
    """

    def __init__(self, channel=512, kernels=(1, 3, 5, 7), reduction=16, group=1, L=32, **kwargs):
        super().__init__(**kwargs)
        self.channel, self.kernels, self.reduction, self.group, self.L = channel, tuple(kernels), reduction, group, L
        self.d = max(L, channel // reduction)
        dt = self.dtype_policy
        self.convs = [Chain([Conv2d(channel, k, padding=k // 2, groups=group, name="conv", dtype=dt),
                             batch_norm("bn", dt), keras.activations.relu], name=f"convs.{i}", dtype=dt)
                      for i, k in enumerate(self.kernels)]
        self.fc = dense(self.d, "fc", dt)
        self.fcs = [dense(channel, f"fcs.{i}", dt) for i in range(len(self.kernels))]

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.channel)
        for conv in self.convs:
            conv.build(shape)
        self.fc.build((shape[0], self.channel))
        for fc in self.fcs:
            fc.build((shape[0], self.d))

    def call(self, x):
        feats = [conv(x) for conv in self.convs]
        u = feats[0]
        for f in feats[1:]:
            u = u + f
        z = self.fc(ops.mean(u, axis=(1, 2)))                                   # (B, d)
        logits = ops.stack([fc(z) for fc in self.fcs], axis=0)                  # (K, B, C)
        weights = ops.softmax(logits, axis=0)
        out = None
        for i, f in enumerate(feats):
            term = f * ops.expand_dims(ops.expand_dims(weights[i], 1), 1)
            out = term if out is None else out + term
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channel": self.channel, "kernels": list(self.kernels),
                "reduction": self.reduction, "group": self.group, "L": self.L}
