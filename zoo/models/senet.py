"""The original SENets (Hu et al., CVPR 2018) as ported by Cadene: timm's `legacy_se*` models.

Weight-compatible with timm's `senet.py`. Differences from `resnet.py` that the weights
depend on: the stem is `layer0.*` with a ceil-mode 3x3 max pool (`pool0`, no padding),
SE-ResNet bottlenecks put the stride on the first 1x1 conv (Caffe style), the SE module is
`se_module` with `channels // 16` hidden units, and the classifier is `last_linear`.
"""
from __future__ import annotations

import math

import keras

from ..layers import SEAttention
from ..errors import InvalidArgumentError
from ..registry import Variant, register_family
from ._common import Feature, ModelParts, act, batch_norm, classifier_head, conv2d, image_input, max_pool

EXPANSION = {"basic": 1, "resnet": 4, "resnext": 4, "senet": 4}


def _block(x, kind, inplanes, planes, groups, stride, downsample, down_kernel_size, down_padding, name):
    shortcut = x
    out_chs = planes * EXPANSION[kind]
    if kind == "basic":         # SEResNetBlock
        x = act(batch_norm(conv2d(x, planes, 3, stride=stride, name=f"{name}.conv1"), f"{name}.bn1"),
                "relu", f"{name}.relu1")
        # the Cadene port applies ReLU after bn2 here, before the SE module (its Bottleneck does not)
        x = act(batch_norm(conv2d(x, planes, 3, groups=groups, name=f"{name}.conv2"), f"{name}.bn2"),
                "relu", f"{name}.relu2")
    else:
        if kind == "resnet":      # SEResNetBottleneck: stride on the 1x1
            c1, c2, s1, s2 = planes, planes, stride, 1
        elif kind == "resnext":   # SEResNeXtBottleneck
            width = math.floor(planes * (4 / 64)) * groups
            c1, c2, s1, s2 = width, width, 1, stride
        else:                     # SEBottleneck (SENet-154)
            c1, c2, s1, s2 = planes * 2, planes * 4, 1, stride
        x = act(batch_norm(conv2d(x, c1, 1, stride=s1, name=f"{name}.conv1"), f"{name}.bn1"), "relu", f"{name}.relu1")
        x = act(batch_norm(conv2d(x, c2, 3, stride=s2, groups=groups, name=f"{name}.conv2"), f"{name}.bn2"),
                "relu", f"{name}.relu2")
        x = batch_norm(conv2d(x, out_chs, 1, name=f"{name}.conv3"), f"{name}.bn3")
    x = SEAttention(channel=out_chs, reduction=16, name=f"{name}.se_module")(x)
    if downsample:
        shortcut = conv2d(shortcut, out_chs, down_kernel_size, stride=stride, padding=down_padding,
                          name=f"{name}.downsample.0")
        shortcut = batch_norm(shortcut, f"{name}.downsample.1")
    x = keras.layers.Add(name=f"{name}.add")([x, shortcut])
    return act(x, "relu", f"{name}.relu")


def build_senet(*, block, layers, groups, inplanes=64, input_3x3=False, downsample_kernel_size=1,
                downsample_padding=0, num_classes=1000, in_chans=3, img_size=(224, 224), drop_rate=0.0,
                drop_path_rate=0.0, name="senet") -> ModelParts:
    if drop_path_rate:
        raise InvalidArgumentError(
            f"{name} has no stochastic depth (the Cadene SENets have none): use drop_path_rate=0, or "
            f"seresnet18/seresnet50 (timm's ResNet blocks) for drop_path_rate")
    inputs, image = image_input(img_size, in_chans, name)
    if input_3x3:
        x = act(batch_norm(conv2d(image, 64, 3, stride=2, name="layer0.conv1"), "layer0.bn1"), "relu", "layer0.relu1")
        x = act(batch_norm(conv2d(x, 64, 3, name="layer0.conv2"), "layer0.bn2"), "relu", "layer0.relu2")
        x = act(batch_norm(conv2d(x, inplanes, 3, name="layer0.conv3"), "layer0.bn3"), "relu", "layer0.relu3")
    else:
        x = act(batch_norm(conv2d(image, inplanes, 7, stride=2, name="layer0.conv1"), "layer0.bn1"),
                "relu", "layer0.relu1")
    features = [Feature(x, inplanes, 2, "layer0")]
    x = max_pool(x, 3, 2, padding=0, ceil_mode=True, name="pool0")
    for stage, (planes, depth) in enumerate(zip((64, 128, 256, 512), layers)):
        stride = 1 if stage == 0 else 2
        out_chs = planes * EXPANSION[block]
        dk, dp = (1, 0) if stage == 0 else (downsample_kernel_size, downsample_padding)
        for i in range(depth):
            s = stride if i == 0 else 1
            x = _block(x, block, inplanes, planes, groups, s, i == 0 and (s != 1 or inplanes != out_chs),
                       dk, dp, f"layer{stage + 1}.{i}")
            inplanes = out_chs
        features.append(Feature(x, out_chs, 4 * 2 ** stage, f"layer{stage + 1}"))
    outputs = classifier_head(x, num_classes, drop_rate, fc_name="last_linear")
    return ModelParts(inputs, outputs, features)


LEGACY = {
    "legacy_seresnet18": dict(block="basic", layers=(2, 2, 2, 2), groups=1),
    "legacy_seresnet34": dict(block="basic", layers=(3, 4, 6, 3), groups=1),
    "legacy_seresnet50": dict(block="resnet", layers=(3, 4, 6, 3), groups=1),
    "legacy_seresnet101": dict(block="resnet", layers=(3, 4, 23, 3), groups=1),
    "legacy_seresnet152": dict(block="resnet", layers=(3, 8, 36, 3), groups=1),
    "legacy_senet154": dict(block="senet", layers=(3, 8, 36, 3), groups=64, downsample_kernel_size=3,
                            downsample_padding=1, inplanes=128, input_3x3=True),
    "legacy_seresnext26_32x4d": dict(block="resnext", layers=(2, 2, 2, 2), groups=32),
    "legacy_seresnext50_32x4d": dict(block="resnext", layers=(3, 4, 6, 3), groups=32),
    "legacy_seresnext101_32x4d": dict(block="resnext", layers=(3, 4, 23, 3), groups=32),
}


register_family("legacy_senet", build_senet, {name: Variant(args) for name, args in LEGACY.items()},
                first_conv="layer0.conv1", classifier="last_linear", cfg=dict(interpolation="bilinear"),
                paper="https://arxiv.org/abs/1709.01507",
                group_matcher={"stem": r"^(layer0|pool0)\b", "stages": r"^layer([1-9])\.", "first_stage": 1,
                               "head": r"^(last_linear|global_pool|head_drop)\b"})
