"""MobileViT (v1) and MobileViTv2: mobile convolution-transformer hybrids.

Papers: Mehta & Rastegari, "MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision
Transformer" (ICLR 2022, https://arxiv.org/abs/2110.02178) and "Separable Self-attention for Mobile
Vision Transformers" (2022, https://arxiv.org/abs/2206.02680).

Weight-compatible with timm 1.0.31 `mobilevit.py` (model_cfgs, MobileVitBlock, MobileVitV2Block,
LinearTransformerBlock) as built by `byobnet.py` (ByobNet: a 3x3 stride-2 stem `stem.conv/bn`, five
stages `stages.{i}.{j}`, `final_conv` (v1 only), `head.fc`). The checkpoint facts the port depends on:

- Inverted residuals are byobnet `BottleneckBlock(bottle_in=True, linear_out=True, gs=1)`:
  `conv1_1x1` (conv-BN-SiLU to make_divisible(in * br)), `conv2_kxk` (depthwise 3x3, stride, BN,
  SiLU), `conv3_1x1` (conv-BN, no activation); an identity shortcut only when in == out and
  stride 1 (downsample='' gives no shortcut otherwise), no activation after the add.
- v1 blocks are `zoo.layers.MobileViTAttention` (timm `MobileVitBlock`: LayerNorm eps 1e-5
  transformer with `attn.qkv` Linear, 4 heads, MLP ratio 2, SiLU; fusion conv). A map whose side is
  not a multiple of the patch is resized up and back (bilinear, align_corners=False).
- v2 blocks: `conv_kxk` depthwise 3x3 conv-BN-SiLU, `conv_1x1`, unfold into 2x2 patches
  (reshape/transpose only: (B, H, W, C) -> (B, P, N, C), timm's (B, C, P, N) channels-last),
  `LinearTransformerBlock`s (GroupNorm(1, C) eps 1e-5, `zoo.layers.MobileViTv2Attention` with
  `qkv_proj` 1 + 2d outputs, 1x1-conv MLP `mlp.fc1/fc2` with SiLU), `norm`, fold, `conv_proj`
  conv-BN without activation. A map whose side is not a multiple of the patch is resized up with
  align_corners=True *before* the block and not back: mobilevitv2_050 at 224 ends on 8x8.
- v2's 1x1 convs (`qkv_proj`, `out_proj`, `mlp.fc1/fc2`) are Conv2d weights (O, I, 1, 1); they
  load into Dense layers (the generic converter's 1x1-conv rule). No family hook is needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from ..errors import InvalidArgumentError
from ..layers import MobileViTAttention, MobileViTv2Attention
from ..layers._blocks import Mlp
from ..layers._nn import torch_padding
from ..layers._util import make_divisible
from ..layers.drop_path import DropPath
from ..layers.mobilevit import GroupNorm1, ResizeAlignCorners
from ..registry import Variant, register_family
from ._common import Feature, ModelParts, act, batch_norm, classifier_head, conv2d, drop_path_rates, image_input


@dataclass(frozen=True)
class MobileViTCfg:
    """timm's `model_cfgs` entry: per stage (5) the width, the inverted-residual repeats and their
    bottleneck ratio; for the three transformer stages (2, 3, 4) the depth (and v1's width)."""
    version: int                                  # 1: MobileViT, 2: MobileViTv2
    stem_chs: int
    chs: tuple[int, int, int, int, int]
    depths: tuple[int, int, int, int, int] = (1, 3, 1, 1, 1)   # inverted residuals per stage
    bottle_ratio: float = 4.0                     # of every inverted residual
    transformer_depths: tuple[int, int, int] = (2, 4, 3)
    transformer_dims: tuple[int, int, int] | None = None       # v1; v2: make_divisible(c * transformer_br)
    transformer_br: float = 0.5                   # v2
    patch_size: int = 2
    num_heads: int = 4                            # v1
    mlp_ratio: float = 2.0
    num_features: int = 0                         # v1's final_conv width; 0: none (v2)


def _v2(multiplier: float) -> MobileViTCfg:
    chs = (64, 128, 256, 384, 512)
    if multiplier != 1.0:
        chs = tuple(int(c * multiplier) for c in chs)
    return MobileViTCfg(version=2, stem_chs=int(32 * multiplier), chs=chs, depths=(1, 2, 1, 1, 1), bottle_ratio=2.0)


MODEL_CFGS = {
    "mobilevit_xxs": MobileViTCfg(1, 16, (16, 24, 48, 64, 80), bottle_ratio=2.0, transformer_dims=(64, 80, 96),
                                  num_features=320),
    "mobilevit_xs": MobileViTCfg(1, 16, (32, 48, 64, 80, 96), transformer_dims=(96, 120, 144), num_features=384),
    "mobilevit_s": MobileViTCfg(1, 16, (32, 64, 96, 128, 160), transformer_dims=(144, 192, 240), num_features=640),
    "mobilevitv2_050": _v2(0.50),
    "mobilevitv2_075": _v2(0.75),
    "mobilevitv2_100": _v2(1.0),
    "mobilevitv2_125": _v2(1.25),
    "mobilevitv2_150": _v2(1.5),
    "mobilevitv2_175": _v2(1.75),
    "mobilevitv2_200": _v2(2.0),
}


# ---------------------------------------------------------------------------------------------
# Blocks

def _conv_bn_act(x, out_chs, kernel_size, *, stride=1, depthwise=False, apply_act=True, name):
    """timm ConvNormAct (`<name>.conv`, `<name>.bn`, SiLU), PyTorch padding."""
    if depthwise:  # PyTorch's symmetric padding, explicit where Keras' "same" differs (stride 2)
        mode, pad = torch_padding(kernel_size, stride, (kernel_size - 1) // 2)
        if any(pad):
            x = keras.layers.ZeroPadding2D(pad, name=f"{name}.conv.pad")(x)
        x = keras.layers.DepthwiseConv2D(kernel_size, strides=stride, padding=mode, use_bias=False,
                                         name=f"{name}.conv")(x)
    else:
        x = conv2d(x, out_chs, kernel_size, stride=stride, name=f"{name}.conv")
    x = batch_norm(x, f"{name}.bn")
    return act(x, "silu", f"{name}.act") if apply_act else x


def _inverted_residual(x, out_chs, stride, bottle_ratio, drop_path, name):
    """byobnet BottleneckBlock(bottle_in=True, linear_out=True, gs=1)."""
    in_chs = x.shape[-1]
    shortcut = x if (in_chs == out_chs and stride == 1) else None
    mid = make_divisible(in_chs * bottle_ratio)
    x = _conv_bn_act(x, mid, 1, name=f"{name}.conv1_1x1")
    x = _conv_bn_act(x, mid, 3, stride=stride, depthwise=True, name=f"{name}.conv2_kxk")
    x = _conv_bn_act(x, out_chs, 1, apply_act=False, name=f"{name}.conv3_1x1")
    if drop_path:  # timm applies it to the branch whether or not a shortcut follows
        x = DropPath(drop_path, name=f"{name}.drop_path")(x)
    if shortcut is not None:
        x = keras.layers.Add(name=f"{name}.add")([x, shortcut])
    return x


def _linear_transformer_block(x, mlp_ratio, drop_path, name):
    """timm LinearTransformerBlock on (B, P, N, C): pre-norm separable attention and 1x1-conv MLP."""
    dim = x.shape[-1]
    y = GroupNorm1(name=f"{name}.norm1")(x)
    y = MobileViTv2Attention(dim, name=f"{name}.attn")(y)
    if drop_path:
        y = DropPath(drop_path, name=f"{name}.drop_path1")(y)
    x = keras.layers.Add(name=f"{name}.add1")([x, y])
    y = GroupNorm1(name=f"{name}.norm2")(x)
    y = Mlp(int(dim * mlp_ratio), dim, act="silu", name=f"{name}.mlp")(y)
    if drop_path:
        y = DropPath(drop_path, name=f"{name}.drop_path2")(y)
    return keras.layers.Add(name=f"{name}.add2")([x, y])


def _mobilevitv2_block(x, cfg: MobileViTCfg, depth, drop_path, name):
    """timm MobileVitV2Block (stride 1, out = in channels)."""
    p = cfg.patch_size
    H, W, in_chs = x.shape[1], x.shape[2], x.shape[3]
    nh, nw = math.ceil(H / p), math.ceil(W / p)
    if (nh * p, nw * p) != (H, W):
        x = ResizeAlignCorners((nh * p, nw * p), name=f"{name}.resize")(x)
    dim = make_divisible(in_chs * cfg.transformer_br)
    x = _conv_bn_act(x, in_chs, 3, depthwise=True, name=f"{name}.conv_kxk")
    x = conv2d(x, dim, 1, name=f"{name}.conv_1x1")
    # unfold: (B, nh*p, nw*p, C) -> (B, P, N, C), P = p*p pixel offsets, N = nh*nw patches
    x = keras.layers.Reshape((nh, p, nw, p, dim), name=f"{name}.unfold.split")(x)
    x = keras.layers.Permute((2, 4, 1, 3, 5), name=f"{name}.unfold.permute")(x)
    x = keras.layers.Reshape((p * p, nh * nw, dim), name=f"{name}.unfold")(x)
    for i in range(depth):
        x = _linear_transformer_block(x, cfg.mlp_ratio, drop_path, f"{name}.transformer.{i}")
    x = GroupNorm1(name=f"{name}.norm")(x)
    # fold: (B, P, N, C) -> (B, nh*p, nw*p, C)
    x = keras.layers.Reshape((p, p, nh, nw, dim), name=f"{name}.fold.split")(x)
    x = keras.layers.Permute((3, 1, 4, 2, 5), name=f"{name}.fold.permute")(x)
    x = keras.layers.Reshape((nh * p, nw * p, dim), name=f"{name}.fold")(x)
    return _conv_bn_act(x, in_chs, 1, apply_act=False, name=f"{name}.conv_proj")


# ---------------------------------------------------------------------------------------------
# The network

def build_mobilevit(cfg: MobileViTCfg, *, num_classes=1000, in_chans=3, img_size=(256, 256), drop_rate=0.0,
                    drop_path_rate=0.0, name="mobilevit") -> ModelParts:
    """The timm ByobNet graph of a MobileViT / MobileViTv2 config."""
    h, w = img_size
    if h < 32 or w < 32:
        raise InvalidArgumentError(f"{name}: img_size {h}x{w} is too small, the network has stride 32 (>= 32x32)")
    inputs, image = image_input(img_size, in_chans, name)
    x = _conv_bn_act(image, cfg.stem_chs, 3, stride=2, name="stem")

    # timm: one drop-path rate per block (inverted residuals and MobileViT blocks), linear over the net
    n_blocks = [d + (1 if s >= 2 else 0) for s, d in enumerate(cfg.depths)]
    dprs = drop_path_rates(drop_path_rate, sum(n_blocks))
    features, k, reduction = [], 0, 2
    for s, (chs, depth) in enumerate(zip(cfg.chs, cfg.depths)):
        stride = 1 if s == 0 else 2
        reduction *= stride
        out_chs = make_divisible(chs)
        for j in range(depth):
            x = _inverted_residual(x, out_chs, stride if j == 0 else 1, cfg.bottle_ratio, dprs[k],
                                   f"stages.{s}.{j}")
            k += 1
        if s >= 2:
            t = s - 2
            block = f"stages.{s}.{depth}"
            if cfg.version == 1:
                x = MobileViTAttention(in_channel=out_chs, dim=cfg.transformer_dims[t], kernel_size=3,
                                       patch_size=cfg.patch_size, depth=cfg.transformer_depths[t],
                                       num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, drop_path=dprs[k],
                                       name=block)(x)
            else:
                x = _mobilevitv2_block(x, cfg, cfg.transformer_depths[t], dprs[k], block)
            k += 1
        if s < 4:
            features.append(Feature(x, out_chs, reduction, f"stages.{s}"))
    num_features = cfg.num_features or x.shape[-1]
    if cfg.num_features:
        x = _conv_bn_act(x, cfg.num_features, 1, name="final_conv")
    features.append(Feature(x, num_features, reduction, "final_conv"))
    outputs = classifier_head(x, num_classes, drop_rate, fc_name="head.fc", pool_name="head.global_pool")
    return ModelParts(inputs, outputs, features)


def _build(*, cfg: str, **kwargs):
    return build_mobilevit(MODEL_CFGS[cfg], **kwargs)


# ---------------------------------------------------------------------------------------------
# Registrations: the architecture knobs; the weights' cfgs (256/384 input, mean 0 / std 1, crop
# 0.9 or 0.888) live in weights_manifest.json. `cfg` is the default for an arch without weights.

_V1_PAPER = "https://arxiv.org/abs/2110.02178"
_V2_PAPER = "https://arxiv.org/abs/2206.02680"
_CFG = dict(input_size=(256, 256, 3), crop_pct=0.9, interpolation="bicubic", mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0))

VARIANTS = {
    name: (Variant(dict(cfg=name), paper=_V1_PAPER) if c.version == 1 else
           Variant(dict(cfg=name), cfg=dict(crop_pct=0.888), paper=_V2_PAPER, family="mobilevitv2"))
    for name, c in MODEL_CFGS.items()
}

# timm's ByobNet group_matcher: the stem, the five stages, then final_conv and the head
MOBILEVIT_GROUPS = {"stem": r"^stem\.", "stages": r"^stages\.(\d+)\.",
                    "head": r"^(final_conv|head)\."}

register_family("mobilevit", _build, VARIANTS, first_conv="stem.conv", classifier="head.fc", cfg=_CFG,
                group_matcher=MOBILEVIT_GROUPS, paper=_V1_PAPER)
