"""Selective Kernel ResNets (Li et al., "Selective Kernel Networks", CVPR 2019): timm's `sknet.py`.

The ResNet of resnet.py with one conv of each block replaced by a selective-kernel conv:
parallel 3x3 paths (the 5x5 one as a dilated 3x3), each conv-BN-ReLU, fused by a softmax
attention over the paths computed from their pooled sum (`SelectiveKernelAttn`). timm's
variant splits the input channels across the paths (`split_input`) for skresnet18/34/50.
"""
from __future__ import annotations

import math

import keras

from ..errors import InvalidArgumentError
from ..layers._util import make_divisible
from ..layers.sk import SelectiveKernelAttn
from ..registry import Variant, register_family
from ._common import act, batch_norm, conv2d
from .resnet import RESNET_GROUPS, BlockType, build_resnet


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
            raise InvalidArgumentError(f"{name}: {in_chs} input channels do not split across {n} paths")
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
        raise InvalidArgumentError("the selective-kernel basic block takes no cardinality, base_width or aa")
    x = _selective_kernel(x, planes // reduce_first, stride=stride, name=f"{name}.conv1", **sk_kwargs)
    return _conv_norm_act(x, planes, 3, apply_act=False, name=f"{name}.conv2")


def _sk_bottleneck(x, planes, stride, *, cardinality, base_width, reduce_first, aa, name, sk_kwargs):
    if aa:
        raise InvalidArgumentError("the selective-kernel bottleneck takes no aa")
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


def _build(**kwargs):
    return build_resnet(attn_layer=None, **kwargs)


register_family("skresnet", _build,
                {name: Variant(args, first_conv="conv1.0" if "stem_type" in args else None)
                 for name, args in SKNETS.items()},
                first_conv="conv1", classifier="fc", paper="https://arxiv.org/abs/1903.06586",
                group_matcher=RESNET_GROUPS)
