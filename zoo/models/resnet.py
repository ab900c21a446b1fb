"""ResNet / ResNeXt with a channel-attention module in every block: SE-ResNet(X)t, SENet-154, ECA-ResNet.

Weight-compatible with timm's `resnet.py` (torchvision-style ResNet v1.5: stride on the 3x3
conv; 'd'/'t' variants with a deep 3x3 stem and average-pool shortcuts; 'aa' variants with
average-pool anti-aliasing). The attention module sits after the last BN of each block,
before the residual add, under the name `se` (timm's name for every kind).

`build_resnet(..., attn_layer=...)` takes any channel-attention layer of `zoo.layers`: a key
of ATTN_LAYERS or a callable `f(channels, name) -> keras layer`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import keras

from ..layers import GAM, CBAMBlock, CoordAtt, ECAAttention, SEAttention, SimAM, TripletAttention
from ..layers.drop_path import DropPath
from ..errors import InvalidArgumentError
from ..registry import Variant, register_family
from ._common import (Feature, ModelParts, act, avg_pool_ceil, batch_norm, classifier_head, conv2d, drop_path_rates,
                      image_input, max_pool)

ATTN_LAYERS = {
    # timm's SEModule: hidden = make_divisible(C / 16, 8)
    "se": lambda c, name: SEAttention(channel=c, reduction=16, rd_divisor=8, name=name),
    # timm's EcaModule: kernel size from the channel count
    "eca": lambda c, name: ECAAttention(channel=c, name=name),
    # the other channel/spatial attention modules of zoo.layers (no published ResNet weights)
    "cbam": lambda c, name: CBAMBlock(channel=c, reduction=16, kernel_size=7, name=name),
    "coord": lambda c, name: CoordAtt(c, c, reduction=32, name=name),
    "gam": lambda c, name: GAM(c, rate=4, name=name),
    "simam": lambda c, name: SimAM(channels=c, name=name),
    "triplet": lambda c, name: TripletAttention(name=name),
}

@dataclass(frozen=True)
class BlockType:
    """A residual block body: `body(x, planes, stride, *, cardinality, base_width, reduce_first, aa,
    name, **block_args) -> x` before attention, residual add and the last ReLU."""
    expansion: int
    body: Callable


def _attn(attn_layer, channels, name):
    if attn_layer is None:
        return None
    if isinstance(attn_layer, str):
        try:
            factory = ATTN_LAYERS[attn_layer]
        except KeyError:
            raise InvalidArgumentError(
                f"unknown attn_layer {attn_layer!r}: pass one of {', '.join(sorted(ATTN_LAYERS))}, None, or a "
                f"callable f(channels, name) -> keras layer") from None
        return factory(channels, name)
    return attn_layer(channels, name)


def _downsample(x, out_chs, stride, kernel_size, avg_down, name):
    if avg_down:
        if stride > 1:
            x = avg_pool_ceil(x, stride, name=f"{name}.0")
        x = conv2d(x, out_chs, 1, name=f"{name}.1")
        return batch_norm(x, f"{name}.2")
    k = 1 if stride == 1 else kernel_size
    x = conv2d(x, out_chs, k, stride=stride, name=f"{name}.0")
    return batch_norm(x, f"{name}.1")


def _aa(x, stride, name):
    """Anti-aliased downsampling (timm aa_layer=nn.AvgPool2d): the conv keeps stride 1, a 2x2 mean follows."""
    return keras.layers.AveragePooling2D(stride, name=name)(x)


def _basic(x, planes, stride, *, cardinality, base_width, reduce_first, aa, name):
    if cardinality != 1 or base_width != 64:
        raise InvalidArgumentError("the basic block takes no cardinality/base_width: use a bottleneck arch")
    x = conv2d(x, planes // reduce_first, 3, stride=1 if aa else stride, name=f"{name}.conv1")
    x = act(batch_norm(x, f"{name}.bn1"), "relu", f"{name}.act1")
    if aa and stride > 1:
        x = _aa(x, stride, f"{name}.aa")
    return batch_norm(conv2d(x, planes, 3, name=f"{name}.conv2"), f"{name}.bn2")


def _bottleneck(x, planes, stride, *, cardinality, base_width, reduce_first, aa, name):
    width = int(math.floor(planes * (base_width / 64)) * cardinality)
    x = conv2d(x, width // reduce_first, 1, name=f"{name}.conv1")
    x = act(batch_norm(x, f"{name}.bn1"), "relu", f"{name}.act1")
    x = conv2d(x, width, 3, stride=1 if aa else stride, groups=cardinality, name=f"{name}.conv2")
    x = act(batch_norm(x, f"{name}.bn2"), "relu", f"{name}.act2")
    if aa and stride > 1:
        x = _aa(x, stride, f"{name}.aa")
    return batch_norm(conv2d(x, planes * 4, 1, name=f"{name}.conv3"), f"{name}.bn3")


BLOCKS = {"basic": BlockType(1, _basic), "bottleneck": BlockType(4, _bottleneck)}


def _residual_block(x, block: BlockType, planes, stride, *, attn_layer, downsample, down_kernel_size, avg_down,
                    drop_path, name, **body_args):
    """timm's block wrapper: body -> attention (`se`) -> drop path -> + shortcut -> ReLU."""
    shortcut = x
    out_chs = planes * block.expansion
    x = block.body(x, planes, stride, name=name, **body_args)
    attn = _attn(attn_layer, out_chs, f"{name}.se")
    if attn is not None:
        x = attn(x)
    if drop_path:
        x = DropPath(drop_path, name=f"{name}.drop_path")(x)
    if downsample:
        shortcut = _downsample(shortcut, out_chs, stride, down_kernel_size, avg_down, f"{name}.downsample")
    x = keras.layers.Add(name=f"{name}.add")([x, shortcut])
    return act(x, "relu", f"{name}.act")


def build_resnet(*, block="bottleneck", layers=(3, 4, 6, 3), cardinality=1, base_width=64, stem_width=64,
                 stem_type="", avg_down=False, down_kernel_size=1, block_reduce_first=1, aa=False,
                 attn_layer="se", block_args=None, channels=(64, 128, 256, 512), num_classes=1000, in_chans=3,
                 img_size=(224, 224), drop_rate=0.0, drop_path_rate=0.0, name="resnet") -> ModelParts:
    """The timm ResNet graph.

    block: "basic" | "bottleneck" | a BlockType (e.g. the selective-kernel blocks of sknet.py),
    block_args: extra keyword arguments for its body. stem_type: '' (7x7 conv), 'deep' (three
    3x3 convs), 'deep_tiered' (the same with 3/4-width first conv). attn_layer: see ATTN_LAYERS.
    """
    block = BLOCKS[block] if isinstance(block, str) else block
    inputs, image = image_input(img_size, in_chans, name)
    deep = "deep" in stem_type
    inplanes = stem_width * 2 if deep else 64
    if deep:
        s0, s1 = (3 * (stem_width // 4), stem_width) if "tiered" in stem_type else (stem_width, stem_width)
        x = conv2d(image, s0, 3, stride=2, name="conv1.0")
        x = act(batch_norm(x, "conv1.1"), "relu", "conv1.2")
        x = conv2d(x, s1, 3, name="conv1.3")
        x = act(batch_norm(x, "conv1.4"), "relu", "conv1.5")
        x = conv2d(x, inplanes, 3, name="conv1.6")
    else:
        x = conv2d(image, inplanes, 7, stride=2, name="conv1")
    x = act(batch_norm(x, "bn1"), "relu", "act1")
    features = [Feature(x, inplanes, 2, "act1")]
    if aa:
        x = _aa(x, 2, "maxpool")
    else:
        x = max_pool(x, 3, 2, padding=1, name="maxpool")

    dprs = drop_path_rates(drop_path_rate, sum(layers))
    block_idx, net_stride = 0, 4
    for stage, (planes, depth) in enumerate(zip(channels, layers)):
        stride = 1 if stage == 0 else 2
        net_stride *= stride
        out_chs = planes * block.expansion
        for i in range(depth):
            s = stride if i == 0 else 1
            x = _residual_block(x, block, planes, s, cardinality=cardinality, base_width=base_width,
                                reduce_first=block_reduce_first, attn_layer=attn_layer, aa=aa,
                                downsample=i == 0 and (s != 1 or inplanes != out_chs),
                                down_kernel_size=down_kernel_size, avg_down=avg_down,
                                drop_path=dprs[block_idx], name=f"layer{stage + 1}.{i}", **(block_args or {}))
            inplanes = out_chs
            block_idx += 1
        features.append(Feature(x, out_chs, net_stride, f"layer{stage + 1}"))
    outputs = classifier_head(x, num_classes, drop_rate)
    return ModelParts(inputs, outputs, features)


# ---------------------------------------------------------------------------------------------
# Registrations: timm's architecture arguments; the weights' cfgs live in weights_manifest.json.
# `cfg` here is the arch's default for archs without published weights.

_D = dict(stem_width=32, stem_type="deep", avg_down=True)
_T = dict(stem_width=32, stem_type="deep_tiered", avg_down=True)
_X32x4 = dict(cardinality=32, base_width=4)
_X32x8 = dict(cardinality=32, base_width=8)
_CFG_288 = dict(test_input_size=(288, 288, 3))
_CFG_256 = dict(input_size=(256, 256, 3), test_input_size=(288, 288, 3))

_SE = "https://arxiv.org/abs/1709.01507"
_ECA = "https://arxiv.org/abs/1910.03151"

RESNETS = {
    # name: (arch args, default cfg for archs without weights, paper)
    "seresnet18": (dict(block="basic", layers=(2, 2, 2, 2)), _CFG_288, _SE),
    "seresnet34": (dict(block="basic", layers=(3, 4, 6, 3)), _CFG_288, _SE),
    "seresnet50": (dict(layers=(3, 4, 6, 3)), _CFG_288, _SE),
    "seresnet50t": (dict(layers=(3, 4, 6, 3), **_T), _CFG_288, _SE),
    "seresnet101": (dict(layers=(3, 4, 23, 3)), _CFG_288, _SE),
    "seresnet152": (dict(layers=(3, 8, 36, 3)), _CFG_288, _SE),
    # timm registers no seresnet50d (nor weights for it): it is timm's resnet50d with SE blocks
    "seresnet50d": (dict(layers=(3, 4, 6, 3), **_D), _CFG_288, _SE),
    "seresnet152d": (dict(layers=(3, 8, 36, 3), **_D), _CFG_256, _SE),
    "seresnet200d": (dict(layers=(3, 24, 36, 3), **_D), _CFG_256, _SE),
    "seresnet269d": (dict(layers=(3, 30, 48, 8), **_D), _CFG_256, _SE),
    "seresnetaa50d": (dict(layers=(3, 4, 6, 3), aa=True, **_D), _CFG_288, _SE),
    "seresnext26d_32x4d": (dict(layers=(2, 2, 2, 2), **_X32x4, **_D), _CFG_288, _SE),
    "seresnext26t_32x4d": (dict(layers=(2, 2, 2, 2), **_X32x4, **_T), _CFG_288, _SE),
    "seresnext50_32x4d": (dict(layers=(3, 4, 6, 3), **_X32x4), _CFG_288, _SE),
    "seresnext101_32x4d": (dict(layers=(3, 4, 23, 3), **_X32x4), {}, _SE),
    "seresnext101_32x8d": (dict(layers=(3, 4, 23, 3), **_X32x8), _CFG_288, _SE),
    "seresnext101d_32x8d": (dict(layers=(3, 4, 23, 3), **_X32x8, **_D), _CFG_288, _SE),
    "seresnext101_64x4d": (dict(layers=(3, 4, 23, 3), cardinality=64, base_width=4), {}, _SE),
    "seresnextaa101d_32x8d": (dict(layers=(3, 4, 23, 3), aa=True, **_X32x8, **_D), _CFG_288, _SE),
    "seresnextaa201d_32x8d": (dict(layers=(3, 24, 36, 4), aa=True, **_X32x8, stem_width=64, stem_type="deep",
                                   avg_down=True), _CFG_288, _SE),
    "senet154": (dict(layers=(3, 8, 36, 3), cardinality=64, base_width=4, stem_type="deep", down_kernel_size=3,
                      block_reduce_first=2), {}, _SE),
    "ecaresnet26t": (dict(layers=(2, 2, 2, 2), attn_layer="eca", **_T), _CFG_288, _ECA),
    "ecaresnet50d": (dict(layers=(3, 4, 6, 3), attn_layer="eca", **_D), _CFG_288, _ECA),
    "ecaresnet50t": (dict(layers=(3, 4, 6, 3), attn_layer="eca", **_T), _CFG_288, _ECA),
    "ecaresnetlight": (dict(layers=(1, 1, 11, 3), attn_layer="eca", stem_width=32, avg_down=True), _CFG_288, _ECA),
    "ecaresnet101d": (dict(layers=(3, 4, 23, 3), attn_layer="eca", **_D), _CFG_288, _ECA),
    "ecaresnet200d": (dict(layers=(3, 24, 36, 3), attn_layer="eca", **_D), dict(_CFG_256, crop_pct=0.95), _ECA),
    "ecaresnet269d": (dict(layers=(3, 30, 48, 8), attn_layer="eca", **_D),
                      dict(input_size=(320, 320, 3), test_input_size=(352, 352, 3), crop_pct=0.95), _ECA),
    "ecaresnext26t_32x4d": (dict(layers=(2, 2, 2, 2), attn_layer="eca", **_X32x4, **_T), {}, _ECA),
    "ecaresnext50t_32x4d": (dict(layers=(3, 4, 6, 3), attn_layer="eca", **_X32x4, **_T), {}, _ECA),
}


def _variant(args, cfg, paper):
    return Variant(args=args, cfg=cfg, paper=paper, first_conv="conv1.0" if "deep" in args.get("stem_type", "") else None,
                   family="ecaresnet" if args.get("attn_layer") == "eca" else None)


# timm's group_matcher for ResNets: the stem, the four stages (layer1..layer4), the classifier
RESNET_GROUPS = {"stem": r"^(conv1|bn1|act1|maxpool)\b", "stages": r"^layer(\d+)\.", "first_stage": 1,
                 "head": r"^(fc|global_pool|head_drop)\b"}

register_family("seresnet", build_resnet, {name: _variant(*v) for name, v in RESNETS.items()},
                first_conv="conv1", classifier="fc", family_kwargs=("attn_layer",), group_matcher=RESNET_GROUPS)
