"""Omni-dimensional dynamic convolution."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ._nn import batch_norm, dense, unfold
from .base import check_input, register


class _ODAttention(keras.layers.Layer):
    """ODConv's `attention`: GAP, fc-BN-ReLU, then the four heads (channel, filter, spatial,
    kernel); heads that would be trivial are skipped, as in the official code."""

    def __init__(self, in_planes, out_planes, kernel_size, groups, reduction, kernel_num, min_channel=16,
                 temperature=1.0, **kwargs):
        super().__init__(**kwargs)
        att = max(int(in_planes * reduction), min_channel)
        self.kernel_size, self.kernel_num, self.temperature = kernel_size, kernel_num, float(temperature)
        dt = self.dtype_policy
        self.fc = dense(att, "fc", dt, use_bias=False)
        self.bn = batch_norm("bn", dt)
        self.channel_fc = dense(in_planes, "channel_fc", dt)
        self.filter_fc = None if (in_planes == groups and in_planes == out_planes) else dense(out_planes, "filter_fc", dt)
        self.spatial_fc = None if kernel_size == 1 else dense(kernel_size * kernel_size, "spatial_fc", dt)
        self.kernel_fc = None if kernel_num == 1 else dense(kernel_num, "kernel_fc", dt)
        self.att = att

    def build(self, input_shape):
        self.fc.build((None, input_shape[-1]))
        self.bn.build((None, self.att))
        for l in (self.channel_fc, self.filter_fc, self.spatial_fc, self.kernel_fc):
            if l is not None:
                l.build((None, self.att))

    def call(self, x):
        z = ops.relu(self.bn(self.fc(ops.mean(x, axis=(1, 2)))))               # (B, att)
        t = self.temperature
        channel = ops.sigmoid(self.channel_fc(z) / t)
        filt = None if self.filter_fc is None else ops.sigmoid(self.filter_fc(z) / t)
        spatial = None if self.spatial_fc is None else ops.sigmoid(self.spatial_fc(z) / t)
        kernel = None if self.kernel_fc is None else ops.softmax(self.kernel_fc(z) / t, axis=-1)
        return channel, filt, spatial, kernel


@register
class ODConv2d(keras.layers.Layer):
    """ODConv (Li et al., "Omni-Dimensional Dynamic Convolution", ICLR 2022): a convolution
    whose kernel is, per sample, `sum_n a_kernel[n] * (a_spatial * W_n)`, applied to
    `x * a_channel`, the result scaled by `a_filter`; the four attentions come from the
    globally pooled input.

    Input (batch, height, width, in_planes); output (batch, H', W', out_planes) as a
    `Conv2d(in_planes, out_planes, kernel_size, stride, padding)`. Computed as patches times a
    per-sample kernel (a batched matmul), so any batch size and every runtime work.

    Args (official names): in_planes, out_planes, kernel_size, stride, padding, dilation (1
    only), groups (1 only), reduction, kernel_num, temperature.
    Weight `weight` (kernel_num, k, k, in, out) (PyTorch (kernel_num, out, in, k, k); mapped
    by `torch_to_keras`); sublayer `attention.fc/bn/channel_fc/filter_fc/spatial_fc/kernel_fc`.
    """

    def __init__(self, in_planes, out_planes, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 reduction=0.0625, kernel_num=4, temperature=1.0, **kwargs):
        super().__init__(**kwargs)
        if groups != 1 or dilation != 1:
            raise ValueError("ODConv2d: only groups=1 and dilation=1 are implemented")
        self.in_planes, self.out_planes, self.kernel_size = in_planes, out_planes, kernel_size
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.reduction, self.kernel_num, self.temperature = float(reduction), kernel_num, float(temperature)
        self.attention = _ODAttention(in_planes, out_planes, kernel_size, groups, reduction, kernel_num,
                                      temperature=temperature, name="attention", dtype=self.dtype_policy)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.in_planes)
        if None in shape[1:3]:
            raise ValueError(f"ODConv2d '{self.name}' needs a static input size, got {shape}.")
        k = self.kernel_size
        self.attention.build(shape)
        self.weight = self.add_weight(name="weight", shape=(self.kernel_num, k, k, self.in_planes, self.out_planes),
                                      initializer=keras.initializers.HeNormal())

    def torch_to_keras(self, name, array):
        if name == "weight":   # (n, O, I, kh, kw) -> (n, kh, kw, I, O)
            return np.transpose(array, (0, 3, 4, 2, 1))
        return None

    def call(self, x):
        channel, filt, spatial, kernel = self.attention(x)
        k, n, ci, co = self.kernel_size, self.kernel_num, self.in_planes, self.out_planes
        patches = unfold(x * channel[:, None, None, :], k, self.stride, self.padding)    # (B, h, w, k, k, Ci)
        h, w = patches.shape[1], patches.shape[2]
        patches = ops.reshape(patches, (-1, h * w, k * k * ci))
        wflat = ops.reshape(self.weight, (n, k * k * ci * co))
        if kernel is None:
            agg = ops.broadcast_to(wflat, (ops.shape(x)[0], k * k * ci * co))
        else:
            agg = ops.matmul(kernel, wflat)                                         # (B, k*k*Ci*Co)
        agg = ops.reshape(agg, (-1, k * k, ci * co))
        if spatial is not None:
            agg = agg * spatial[:, :, None]
        out = ops.matmul(patches, ops.reshape(agg, (-1, k * k * ci, co)))           # (B, hw, Co)
        out = ops.reshape(out, (-1, h, w, co))
        return out if filt is None else out * filt[:, None, None, :]

    def compute_output_shape(self, input_shape):
        out = [None if v is None else (v + 2 * self.padding - self.kernel_size) // self.stride + 1
               for v in input_shape[1:3]]
        return (input_shape[0], out[0], out[1], self.out_planes)

    def get_config(self):
        return {**super().get_config(), "in_planes": self.in_planes, "out_planes": self.out_planes,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "dilation": self.dilation, "groups": self.groups, "reduction": self.reduction,
                "kernel_num": self.kernel_num, "temperature": self.temperature}
