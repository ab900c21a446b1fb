"""CBAM and BAM: channel and spatial attention maps."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import Chain, Conv2d, batch_norm, dense
from .base import check_input, register


class _CBAMChannel(keras.layers.Layer):
    """`ca` of CBAM: a shared MLP (`se.0`, `se.2`) over the max- and average-pooled descriptors."""

    def __init__(self, channel, hidden, **kwargs):
        super().__init__(**kwargs)
        self.se = Chain([dense(hidden, "0", self.dtype_policy, use_bias=False), keras.activations.relu,
                         dense(channel, "2", self.dtype_policy, use_bias=False)],
                        name="se", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.se.build((input_shape[0], input_shape[-1]))

    def call(self, x):
        return ops.sigmoid(self.se(ops.max(x, axis=(1, 2))) + self.se(ops.mean(x, axis=(1, 2))))


class _CBAMSpatial(keras.layers.Layer):
    """`sa` of CBAM: a k x k conv over the channel-wise [max, mean] maps."""

    def __init__(self, kernel_size, **kwargs):
        super().__init__(**kwargs)
        self.conv = Conv2d(1, kernel_size, padding=kernel_size // 2, name="conv", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.conv.build(tuple(input_shape[:-1]) + (2,))

    def call(self, x):
        pooled = ops.concatenate([ops.max(x, axis=-1, keepdims=True), ops.mean(x, axis=-1, keepdims=True)], -1)
        return ops.sigmoid(self.conv(pooled))


@register
class CBAMBlock(keras.layers.Layer):
    """CBAM (Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018).

    `F' = Mc(F) * F`, `F'' = Ms(F') * F'` with `Mc = sigmoid(MLP(maxpool F) + MLP(avgpool F))`
    and `Ms = sigmoid(conv_kxk([max_c F'; mean_c F']))`.
    Input (batch, height, width, channel); output the same shape.

    Args:
        channel: input channels.
        reduction: hidden width of the channel MLP is `channel // reduction`.
        kernel_size: odd size of the spatial-attention conv (paper: 7).
        residual: add the input to the result, as the External-Attention code does
            (`out + x`); the paper's module (default) has no residual of its own.

    Sublayers: `ca.se.0`, `ca.se.2` (the MLP, 1x1 convs without bias), `sa.conv`.
    """

    def __init__(self, channel=512, reduction=16, kernel_size=7, residual=False, **kwargs):
        super().__init__(**kwargs)
        if kernel_size % 2 != 1:
            raise ValueError(f"CBAMBlock: kernel_size must be odd, got {kernel_size}")
        self.channel, self.reduction, self.kernel_size, self.residual = channel, reduction, kernel_size, residual
        self.ca = _CBAMChannel(channel, max(1, channel // reduction), name="ca", dtype=self.dtype_policy)
        self.sa = _CBAMSpatial(kernel_size, name="sa", dtype=self.dtype_policy)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.channel)
        self.ca.build(shape)
        self.sa.build(shape)

    def call(self, x):
        out = x * ops.expand_dims(ops.expand_dims(self.ca(x), 1), 1)
        out = out * self.sa(out)
        return out + x if self.residual else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channel": self.channel, "reduction": self.reduction,
                "kernel_size": self.kernel_size, "residual": self.residual}


class _BAMChannel(keras.layers.Layer):
    def __init__(self, channel, hidden, num_layers, **kwargs):
        super().__init__(**kwargs)
        children = []
        for i in range(num_layers):
            children += [dense(hidden, f"fc{i}", self.dtype_policy), batch_norm(f"bn{i}", self.dtype_policy),
                         keras.activations.relu]
        children.append(dense(channel, "last_fc", self.dtype_policy))
        self.ca = Chain(children, name="ca", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.ca.build((input_shape[0], input_shape[-1]))

    def call(self, x):
        return self.ca(ops.mean(x, axis=(1, 2)))


class _BAMSpatial(keras.layers.Layer):
    def __init__(self, hidden, num_layers, dilation, **kwargs):
        super().__init__(**kwargs)
        dt = self.dtype_policy
        children = [Conv2d(hidden, 1, name="conv_reduce1", dtype=dt), batch_norm("bn_reduce1", dt),
                    keras.activations.relu]
        for i in range(num_layers):
            children += [Conv2d(hidden, 3, padding=dilation, dilation=dilation, name=f"conv_{i}", dtype=dt),
                         batch_norm(f"bn_{i}", dt), keras.activations.relu]
        children.append(Conv2d(1, 1, name="last_conv", dtype=dt))
        self.sa = Chain(children, name="sa", dtype=dt)

    def build(self, input_shape):
        self.sa.build(input_shape)

    def call(self, x):
        return self.sa(x)


@register
class BAMBlock(keras.layers.Layer):
    """BAM (Park et al., "BAM: Bottleneck Attention Module", BMVC 2018).

    `x * (1 + sigmoid(Mc(x) + Ms(x)))`: a channel MLP on the pooled descriptor (with BN) and a
    dilated-conv spatial branch, broadcast-added. Input (batch, height, width, channel); output
    the same shape.

    Args:
        channel: input channels.
        reduction: hidden width `channel // reduction` of both branches (paper: 16).
        dia_val: dilation of the spatial 3x3 convs (paper: 4; padding keeps the size, as in
            the official code).
        num_layers: hidden layers of each branch (External-Attention: 3 and 3).

    Sublayers: `ca.ca.fc{i}`/`bn{i}`/`last_fc`, `sa.sa.conv_reduce1`/`bn_reduce1`/`conv_{i}`/
    `bn_{i}`/`last_conv`, as in the External-Attention code.
    """

    def __init__(self, channel=512, reduction=16, dia_val=2, num_layers=3, **kwargs):
        super().__init__(**kwargs)
        self.channel, self.reduction, self.dia_val, self.num_layers = channel, reduction, dia_val, num_layers
        hidden = max(1, channel // reduction)
        self.ca = _BAMChannel(channel, hidden, num_layers, name="ca", dtype=self.dtype_policy)
        self.sa = _BAMSpatial(hidden, num_layers, dia_val, name="sa", dtype=self.dtype_policy)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.channel)
        self.ca.build(shape)
        self.sa.build(shape)

    def call(self, x):
        ca = ops.expand_dims(ops.expand_dims(self.ca(x), 1), 1)   # (B, 1, 1, C)
        weight = ops.sigmoid(self.sa(x) + ca)                     # (B, H, W, C)
        return (1 + weight) * x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channel": self.channel, "reduction": self.reduction,
                "dia_val": self.dia_val, "num_layers": self.num_layers}
