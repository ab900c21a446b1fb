"""DANet's dual attention: position attention + channel attention."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import Conv2d
from .attention import ScaledDotProductAttention, SimplifiedScaledDotProductAttention
from .base import check_input, register


class _PositionAttention(keras.layers.Layer):
    def __init__(self, d_model, kernel_size, **kwargs):
        super().__init__(**kwargs)
        self.cnn = Conv2d(d_model, kernel_size, padding=(kernel_size - 1) // 2, name="cnn", dtype=self.dtype_policy)
        self.pa = ScaledDotProductAttention(d_model, d_k=d_model, d_v=d_model, h=1, name="pa", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.cnn.build(input_shape)
        self.pa.build((input_shape[0], None, input_shape[-1]))

    def call(self, x):
        b, h, w, c = x.shape
        y = ops.reshape(self.cnn(x), (-1, h * w, c))          # (B, HW, C): positions attend to positions
        return ops.reshape(self.pa(y, y, y), (-1, h, w, c))


class _ChannelAttention(keras.layers.Layer):
    def __init__(self, d_model, kernel_size, H, W, **kwargs):
        super().__init__(**kwargs)
        self.cnn = Conv2d(d_model, kernel_size, padding=(kernel_size - 1) // 2, name="cnn", dtype=self.dtype_policy)
        self.pa = SimplifiedScaledDotProductAttention(H * W, h=1, name="pa", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.cnn.build(input_shape)
        self.pa.build((input_shape[0], None, input_shape[1] * input_shape[2]))

    def call(self, x):
        b, h, w, c = x.shape
        y = ops.transpose(ops.reshape(self.cnn(x), (-1, h * w, c)), (0, 2, 1))   # (B, C, HW)
        y = self.pa(y, y, y)                                                   # channels attend to channels
        return ops.reshape(ops.transpose(y, (0, 2, 1)), (-1, h, w, c))


@register
class DAModule(keras.layers.Layer):
    """Dual attention (Fu et al., "Dual Attention Network for Scene Segmentation", CVPR 2019):
    the sum of a position attention module (self-attention between the H*W positions) and a
    channel attention module (self-attention between the channels), each after a conv.

    Input (batch, H, W, d_model) with the H, W given; output the same shape.

    Args: d_model (channels), kernel_size (of the convs), H, W (the channel module's
    projection acts on H*W). Sublayers `position_attention_module.cnn`,
    `position_attention_module.pa.fc_q/k/v/o`, `channel_attention_module.cnn`,
    `channel_attention_module.pa.fc_o`. Unlike the reference (which ignores its arguments and
    builds a 512-channel 7x7 module), the arguments are honoured.
    """

    def __init__(self, d_model=512, kernel_size=3, H=7, W=7, **kwargs):
        super().__init__(**kwargs)
        self.d_model, self.kernel_size, self.H, self.W = d_model, kernel_size, H, W
        self.position_attention_module = _PositionAttention(d_model, kernel_size, name="position_attention_module",
                                                            dtype=self.dtype_policy)
        self.channel_attention_module = _ChannelAttention(d_model, kernel_size, H, W, name="channel_attention_module",
                                                          dtype=self.dtype_policy)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.d_model)
        if tuple(shape[1:3]) != (self.H, self.W):
            raise ValueError(f"DAModule '{self.name}' expects input of shape (batch, {self.H}, {self.W}, "
                             f"{self.d_model}), got {shape}.")
        self.position_attention_module.build(shape)
        self.channel_attention_module.build(shape)

    def call(self, x):
        return self.position_attention_module(x) + self.channel_attention_module(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "kernel_size": self.kernel_size,
                "H": self.H, "W": self.W}
