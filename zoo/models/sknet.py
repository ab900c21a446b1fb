"""Selective Kernel ResNets (Li et al., "Selective Kernel Networks", CVPR 2019): timm's `sknet.py`.

The ResNet of resnet.py with one conv of each block replaced by a selective-kernel conv:
parallel 3x3 paths (the 5x5 one as a dilated 3x3), each conv-BN-ReLU, fused by a softmax
attention over the paths computed from their pooled sum (`SelectiveKernelAttn`). timm's
variant splits the input channels across the paths (`split_input`) for skresnet18/34/50.
"""
from __future__ import annotations

import math

import keras
from keras import ops

from ..layers._util import make_divisible
from ..layers.base import check_input, register
from ..registry import register_model
from ._common import BN_EPS, BN_MOMENTUM, act, batch_norm, conv2d
from .resnet import BlockType, build_resnet


@register
class SelectiveKernelAttn(keras.layers.Layer):
    """Attention over the paths of a selective-kernel conv, and their fusion.

    Takes the list of path outputs (each (batch, height, width, channels)) and returns
    `sum_p softmax_p(fc_select(relu(bn(fc_reduce(mean_hw(sum_p x_p)))))) * x_p`.
    Sublayers `fc_reduce`, `bn`, `fc_select` match timm's SelectiveKernelAttn.
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
        x = ops.stack(paths, axis=1)                                   # (B, P, H, W, C)
        s = ops.mean(ops.sum(x, axis=1), axis=(1, 2))                  # (B, C)
        s = ops.relu(self.bn(self.fc_reduce(s), training=training))
        a = ops.reshape(self.fc_select(s), (-1, self.num_paths, self.channels))
        a = ops.softmax(a, axis=1)                                     # over the paths
        return ops.sum(x * a[:, :, None, None, :], axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "num_paths": self.num_paths,
                "attn_channels": self.attn_channels}


def _conv_norm_act(x, filters, k, *, stride=1, dilation=1, groups=1, apply_act=True, name):
    """timm ConvNormAct: symmetric padding, BN, ReLU. Keras convs cannot stride and dilate at
    once, so a dilated strided conv runs dense and is subsampled (the same outputs)."""
    if stride > 1 and dilation > 1:
        pad = ((stride - 1) + dilation * (k - 1)) // 2
        x = conv2d(x, filters, k, dilation=dilation, groups=groups, padding=pad, name=f"{name}.conv")
        x = keras.layers.MaxPooling2D(1, strides=stride, name=f"{name}.subsample")(x)
    else:
        x = conv2d(x, filters, k, stride=stride, dilation=dilation, groups=groups, name=f"{name}.conv")
    x = batch_norm(x, f"{name}.bn")
    return act(x, "relu", f"{name}.act") if apply_act else x


def _selective_kernel(x, out_chs, *, stride, groups=1, rd_ratio=1 / 16, rd_divisor=8, split_input=True,
                      kernel_sizes=(3, 5), name):
    """timm SelectiveKernel with keep_3x3: every path a 3x3 conv, larger kernels become dilations."""
    dilations = [(k - 1) // 2 for k in kernel_sizes]
    in_chs = x.shape[-1]
    n = len(kernel_sizes)
    if split_input:
        if in_chs % n:
            raise ValueError(f"{name}: {in_chs} input channels do not split across {n} paths")
        step = in_chs // n
        inputs = [x[..., i * step:(i + 1) * step] for i in range(n)]
    else:
        inputs = [x] * n
    groups = min(out_chs, groups)
    paths = [_conv_norm_act(xi, out_chs, 3, stride=stride, dilation=d, groups=groups, name=f"{name}.paths.{i}")
             for i, (xi, d) in enumerate(zip(inputs, dilations))]
    attn_chs = make_divisible(out_chs * rd_ratio, divisor=rd_divisor)
    return SelectiveKernelAttn(out_chs, n, attn_chs, name=f"{name}.attn")(paths)


def _sk_basic(x, planes, stride, *, cardinality, base_width, reduce_first, aa, name, sk_kwargs):
    if cardinality != 1 or base_width != 64 or aa:
        raise ValueError("the selective-kernel basic block takes no cardinality, base_width or aa")
    x = _selective_kernel(x, planes // reduce_first, stride=stride, name=f"{name}.conv1", **sk_kwargs)
    return _conv_norm_act(x, planes, 3, apply_act=False, name=f"{name}.conv2")


def _sk_bottleneck(x, planes, stride, *, cardinality, base_width, reduce_first, aa, name, sk_kwargs):
    if aa:
        raise ValueError("the selective-kernel bottleneck takes no aa")
    width = int(math.floor(planes * (base_width / 64)) * cardinality)
    x = _conv_norm_act(x, width // reduce_first, 1, name=f"{name}.conv1")
    x = _selective_kernel(x, width, stride=stride, groups=cardinality, name=f"{name}.conv2", **sk_kwargs)
    return _conv_norm_act(x, planes * 4, 1, apply_act=False, name=f"{name}.conv3")


SK_BASIC = BlockType(1, _sk_basic)
SK_BOTTLENECK = BlockType(4, _sk_bottleneck)

SKNETS = {
    "skresnet18": dict(block=SK_BASIC, layers=(2, 2, 2, 2),
                       block_args=dict(sk_kwargs=dict(rd_ratio=1 / 8, rd_divisor=16, split_input=True))),
    "skresnet34": dict(block=SK_BASIC, layers=(3, 4, 6, 3),
                       block_args=dict(sk_kwargs=dict(rd_ratio=1 / 8, rd_divisor=16, split_input=True))),
    "skresnet50": dict(block=SK_BOTTLENECK, layers=(3, 4, 6, 3), block_args=dict(sk_kwargs=dict(split_input=True))),
    "skresnet50d": dict(block=SK_BOTTLENECK, layers=(3, 4, 6, 3), stem_width=32, stem_type="deep", avg_down=True,
                        block_args=dict(sk_kwargs=dict(split_input=True))),
    "skresnext50_32x4d": dict(block=SK_BOTTLENECK, layers=(3, 4, 6, 3), cardinality=32, base_width=4,
                              block_args=dict(sk_kwargs=dict(rd_ratio=1 / 16, rd_divisor=32, split_input=False))),
}


def _register(name, args):
    def builder(**kwargs):
        return build_resnet(attn_layer=None, **args, **kwargs, name=name)

    builder.__name__ = name
    register_model(name, family="skresnet", first_conv="conv1.0" if "stem_type" in args else "conv1",
                   classifier="fc", paper="https://arxiv.org/abs/1903.06586")(builder)


for _name, _args in SKNETS.items():
    _register(_name, _args)
