"""Selective Kernel attention."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import BN_EPS, BN_MOMENTUM, Chain, Conv2d, batch_norm, dense
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


@register
class SelectiveKernelAttn(keras.layers.Layer):
    """Attention over the paths of a selective-kernel conv, and their fusion.

    Takes the list of path outputs (each (batch, height, width, channels)) and returns
    `sum_p softmax_p(fc_select(relu(bn(fc_reduce(mean_hw(sum_p x_p)))))) * x_p`.
    Sublayers `fc_reduce`, `bn`, `fc_select` match timm's SelectiveKernelAttn; the convolution
    paths around it are built by the network (zoo/models/sknet.py), as timm's SelectiveKernel does.
    """

    def __init__(self, channels, num_paths=2, attn_channels=32, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.num_paths = num_paths
        self.attn_channels = attn_channels
        self.fc_reduce = keras.layers.Dense(attn_channels, use_bias=False, name="fc_reduce", dtype=self.dtype_policy)
        self.bn = keras.layers.BatchNormalization(epsilon=BN_EPS, momentum=BN_MOMENTUM, name="bn",
                                                  dtype=self.dtype_policy)
        self.fc_select = keras.layers.Dense(channels * num_paths, use_bias=False, name="fc_select",
                                            dtype=self.dtype_policy)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != self.num_paths:
            raise ValueError(f"SelectiveKernelAttn '{self.name}' takes a list of {self.num_paths} path outputs")
        for shape in input_shape:
            check_input(self, shape, rank=4, channels=self.channels)
        batch = input_shape[0][0]
        self.fc_reduce.build((batch, self.channels))
        self.bn.build((batch, self.attn_channels))
        self.fc_select.build((batch, self.attn_channels))

    def call(self, paths, training=None):
        # path by path, not stacked to (B, P, H, W, C): a stack is a TFLite PACK, which XNNPACK
        # does not run, and each one cut the delegated graph (8 in skresnet18)
        u = paths[0]
        for p in paths[1:]:
            u = u + p
        s = ops.mean(u, axis=(1, 2))                                   # (B, C)
        s = ops.relu(self.bn(self.fc_reduce(s), training=training))
        a = ops.reshape(self.fc_select(s), (-1, self.num_paths, self.channels))
        a = ops.softmax(a, axis=1)                                     # over the paths
        weights = ops.split(a, self.num_paths, axis=1)                 # each (B, 1, C)
        out = None
        for p, w in zip(paths, weights):
            term = p * ops.reshape(w, (-1, 1, 1, self.channels))
            out = term if out is None else out + term
        return out

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "num_paths": self.num_paths,
                "attn_channels": self.attn_channels}
