"""CoAtNet (Dai et al., "CoAtNet: Marrying Convolution and Attention for All Data Sizes",
NeurIPS 2021, https://arxiv.org/abs/2106.04803), weight-compatible with timm 1.0.31 `maxxvit.py`.

A stem (3x3 s2 conv, norm-act, 3x3 conv), four stages of stride 2 (MBConv 'C' blocks, then
relative-attention transformer 'T' blocks), final norm, average pool, classifier. Checkpoint
facts the port depends on:

- MBConv (timm `MbConvBlock`): pre-norm BatchNorm (+SiLU in the "rw" CoAtNets), 1x1 expand,
  norm-act, depthwise 3x3, squeeze-excite (before norm2 in the "early" configs: `se_early`),
  1x1 projection; stride 2 as a 2x2 average pool on both paths (`shortcut.pool` then
  `shortcut.expand`, `down`) or a strided depthwise conv (`stride_mode='dw'`). BN eps 1e-5.
- Transformer (timm `TransformerBlock2d`): LayerNorm2d eps 1e-6 (BatchNorm2d eps 1e-6 in
  coatnet_bn_0), full attention over the whole map (`zoo.layers.CoAtNetAttention`); the first
  block of a stage pools first (`norm1.norm` -> `norm1.down`) and attends at its *input* width in
  the "rw" configs (`expand_first=False`), widening in `proj`; exact GELU MLP as 1x1 convs.
- Relative position: `rel_pos.relative_position_bias_table` ((2H-1)(2W-1), heads) for H x W
  the stage's map, or (rmlp) an MLP `rel_pos.mlp.fc1/fc2` on log-spaced offsets. The index
  buffers are not in checkpoints. Another img_size resamples the tables as timm's
  `checkpoint_filter_fn` does (`adapt_state`, `zoo.resample.resize_rel_pos_bias_table`).
- coatnext_nano: ConvNeXt conv blocks (depthwise 7x7, LayerNorm2d, MLP, LayerScale `ls.gamma`).
- The paper configs (`coatnet_0_224` ... `coatnet_5_224`) have no published weights (Google
  released none; timm's are the "rw" models); their head is timm's `NormMlpClassifierHead`.

Input sizes: H and W multiples of 32 (timm pools 2x2 without ceil mode while its position
tables are sized for ceil-divided maps, so any other size fails in timm too).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import keras

from ..errors import InvalidArgumentError
from ..layers._blocks import LayerScale, Mlp
from ..layers._util import make_divisible
from ..layers.coatnet import CoAtNetAttention, LayerNorm2d, RelPosBias, TorchMaxPool2d
from ..layers.drop_path import DropPath
from ..layers.se import SEAttention
from ..registry import Variant, register_family
from ._common import Feature, ModelParts, act, conv2d, drop_path_rates, image_input


@dataclass(frozen=True)
class ConvCfg:
    """timm `MaxxVitConvCfg`."""
    block_type: str = "mbconv"          # "mbconv" | "convnext"
    expand_ratio: float = 4.0
    expand_output: bool = True          # expansion from the output (True) or input channels
    kernel_size: int = 3
    stride_mode: str = "dw"             # "pool" | "1x1" | "dw"
    pool_type: str = "avg2"             # "avg2" | "max"
    downsample_pool_type: str = "avg2"  # the MBConv `down` pool (timm keeps 'avg2' even with pool_type 'max')
    pre_norm_act: bool = False
    output_bias: bool = True
    attn_early: bool = False
    attn_act: str = "silu"
    attn_ratio: float = 0.25
    init_values: float | None = 1e-6    # ConvNeXt blocks' LayerScale
    act: str = "gelu"
    norm: str = ""                      # "batchnorm2d" | "layernorm2d" ('' : by block type)
    norm_eps: float | None = None

    def resolved(self) -> "ConvCfg":
        mb = self.block_type == "mbconv"
        return replace(self, norm=self.norm or ("batchnorm2d" if mb else "layernorm2d"),
                       norm_eps=self.norm_eps if self.norm_eps is not None else (1e-5 if mb else 1e-6),
                       downsample_pool_type=self.downsample_pool_type or self.pool_type)


@dataclass(frozen=True)
class TransformerCfg:
    """timm `MaxxVitTransformerCfg` (the fields CoAtNet uses)."""
    dim_head: int = 32
    head_first: bool = True
    expand_ratio: float = 4.0
    expand_first: bool = True
    shortcut_bias: bool = True
    attn_bias: bool = True
    pool_type: str = "avg2"
    rel_pos_type: str = "bias"          # "bias" | "mlp"
    rel_pos_dim: int = 512
    init_values: float | None = None
    norm: str = "layernorm2d"
    norm_eps: float = 1e-6


@dataclass(frozen=True)
class CoAtNetCfg:
    """timm `MaxxVitCfg` for the CoAtNets: architecture knobs only."""
    embed_dim: tuple = (96, 192, 384, 768)
    depths: tuple = (2, 3, 5, 2)
    block_type: tuple = ("C", "C", "T", "T")   # per stage: a kind, or a tuple extended by its last kind
    stem_width: tuple = (64, 64)
    stem_bias: bool = False
    conv: ConvCfg = field(default_factory=ConvCfg)
    transformer: TransformerCfg = field(default_factory=TransformerCfg)
    head_hidden_size: int | None = None


# --- building blocks -----------------------------------------------------------------------------

def _norm(x, kind, eps, name):
    if kind == "batchnorm2d":
        return keras.layers.BatchNormalization(epsilon=eps, momentum=0.9, name=name)(x)
    if kind == "layernorm2d":   # LayerNorm2d over channels: a LayerNormalization of the NHWC last axis
        return LayerNorm2d(epsilon=eps, name=name)(x)
    raise InvalidArgumentError(f"unknown norm layer {kind!r}")


def _norm_act(x, kind, eps, activation, name, apply_act=True):
    """timm BatchNormAct2d / LayerNormAct2d: the norm's weights under `name`, then the activation."""
    x = _norm(x, kind, eps, name)
    return act(x, activation, f"{name}.act") if apply_act else x


def _depthwise(x, kernel_size, stride, multiplier, use_bias, name):
    """Depthwise conv with PyTorch's symmetric padding ((stride - 1) + (k - 1)) // 2."""
    pad = ((stride - 1) + (kernel_size - 1)) // 2
    if stride == 1:
        return keras.layers.DepthwiseConv2D(kernel_size, padding="same", depth_multiplier=multiplier,
                                            use_bias=use_bias, name=name)(x)
    x = keras.layers.ZeroPadding2D(pad, name=f"{name}.pad")(x)
    return keras.layers.DepthwiseConv2D(kernel_size, strides=stride, padding="valid", depth_multiplier=multiplier,
                                        use_bias=use_bias, name=name)(x)


def _downsample(x, dim, dim_out, pool_type, bias, name):
    """timm `Downsample2d`: 2x2 average pool ('avg2') or 3x3/2 max pool ('max'), then a 1x1
    `expand` conv when the width changes."""
    if pool_type == "avg2":
        x = keras.layers.AveragePooling2D(2, name=f"{name}.pool")(x)
    elif pool_type == "max":
        x = TorchMaxPool2d(name=f"{name}.pool")(x)
    else:
        raise InvalidArgumentError(f"unsupported pool_type {pool_type!r} (CoAtNet uses 'avg2' or 'max')")
    if dim != dim_out:
        x = conv2d(x, dim_out, 1, use_bias=bias, name=f"{name}.expand")
    return x


def _residual(x, shortcut, rate, name):
    if rate:
        x = DropPath(rate, name=f"{name}.drop_path")(x)
    return keras.layers.Add(name=f"{name}.add")([shortcut, x])


def _mbconv(x, in_chs, out_chs, stride, cfg: ConvCfg, drop_path, name):
    """timm `MbConvBlock` (pre-norm inverted bottleneck with squeeze-excite)."""
    mid = make_divisible((out_chs if cfg.expand_output else in_chs) * cfg.expand_ratio)
    shortcut = x
    if stride == 2:
        shortcut = _downsample(x, in_chs, out_chs, cfg.pool_type, cfg.output_bias, f"{name}.shortcut")
    stride_pool, stride_1, stride_2 = 1, 1, 1
    if cfg.stride_mode == "pool":
        stride_pool = stride
    elif cfg.stride_mode == "1x1":
        stride_1 = stride
    else:
        stride_2 = stride
    x = _norm_act(x, cfg.norm, cfg.norm_eps, cfg.act, f"{name}.pre_norm", apply_act=cfg.pre_norm_act)
    if stride_pool > 1:
        x = _downsample(x, in_chs, in_chs, cfg.downsample_pool_type, True, f"{name}.down")
    x = conv2d(x, mid, 1, stride=stride_1, name=f"{name}.conv1_1x1")
    x = _norm_act(x, cfg.norm, cfg.norm_eps, cfg.act, f"{name}.norm1")
    x = _depthwise(x, cfg.kernel_size, stride_2, 1, False, f"{name}.conv2_kxk")
    rd = int(cfg.attn_ratio * (out_chs if cfg.expand_output else mid))
    se = lambda n: SEAttention(channel=mid, rd_channels=rd, activation=cfg.attn_act, name=n)  # noqa: E731
    if cfg.attn_early:
        x = se(f"{name}.se_early")(x)
        x = _norm_act(x, cfg.norm, cfg.norm_eps, cfg.act, f"{name}.norm2")
    else:
        x = _norm_act(x, cfg.norm, cfg.norm_eps, cfg.act, f"{name}.norm2")
        x = se(f"{name}.se")(x)
    x = conv2d(x, out_chs, 1, use_bias=cfg.output_bias, name=f"{name}.conv3_1x1")
    return _residual(x, shortcut, drop_path, name)


def _convnext(x, in_chs, out_chs, stride, cfg: ConvCfg, drop_path, name):
    """timm `ConvNeXtBlock` as maxxvit builds it (conv_mlp: LayerNorm2d and 1x1-conv MLP, 7x7)."""
    shortcut = x
    if stride == 2:
        shortcut = _downsample(x, in_chs, out_chs, "avg2", True, f"{name}.shortcut")
    elif in_chs != out_chs:
        shortcut = conv2d(x, out_chs, 1, use_bias=cfg.output_bias, name=f"{name}.shortcut")
    stride_dw = stride
    if cfg.stride_mode == "pool" and stride == 2:
        x = _downsample(x, in_chs, in_chs, cfg.downsample_pool_type, True, f"{name}.down")
        stride_dw = 1
    if out_chs % in_chs:
        raise InvalidArgumentError(f"{name}: a depthwise conv cannot map {in_chs} to {out_chs} channels")
    x = _depthwise(x, 7, stride_dw, out_chs // in_chs, cfg.output_bias, f"{name}.conv_dw")
    x = _norm(x, cfg.norm, cfg.norm_eps, f"{name}.norm")
    x = Mlp(int(cfg.expand_ratio * out_chs), bias=cfg.output_bias, act=cfg.act, name=f"{name}.mlp")(x)
    if cfg.init_values:
        x = LayerScale(out_chs, cfg.init_values, name=f"{name}.ls")(x)
    return _residual(x, shortcut, drop_path, name)


def _transformer(x, dim, dim_out, stride, cfg: TransformerCfg, drop_path, name):
    """timm `TransformerBlock2d`: x = shortcut(x) + attn(norm1(x)); x = x + mlp(norm2(x))."""
    if stride == 2:
        shortcut = _downsample(x, dim, dim_out, cfg.pool_type, cfg.shortcut_bias, f"{name}.shortcut")
        y = _norm(x, cfg.norm, cfg.norm_eps, f"{name}.norm1.norm")
        y = _downsample(y, dim, dim, cfg.pool_type, True, f"{name}.norm1.down")
    else:
        if dim != dim_out:
            raise InvalidArgumentError(f"{name}: a stride-1 transformer block keeps its width ({dim} -> {dim_out})")
        shortcut = x
        y = _norm(x, cfg.norm, cfg.norm_eps, f"{name}.norm1")
    y = CoAtNetAttention(dim, dim_out, dim_head=cfg.dim_head, window_size=(y.shape[1], y.shape[2]),
                         bias=cfg.attn_bias, expand_first=cfg.expand_first, head_first=cfg.head_first,
                         rel_pos=cfg.rel_pos_type, rel_pos_dim=cfg.rel_pos_dim, name=f"{name}.attn")(y)
    if cfg.init_values:
        y = LayerScale(dim_out, cfg.init_values, name=f"{name}.ls1")(y)
    if drop_path:
        y = DropPath(drop_path, name=f"{name}.drop_path1")(y)
    x = keras.layers.Add(name=f"{name}.add1")([shortcut, y])
    y = _norm(x, cfg.norm, cfg.norm_eps, f"{name}.norm2")
    y = Mlp(int(dim_out * cfg.expand_ratio), act="gelu", name=f"{name}.mlp")(y)
    if cfg.init_values:
        y = LayerScale(dim_out, cfg.init_values, name=f"{name}.ls2")(y)
    if drop_path:
        y = DropPath(drop_path, name=f"{name}.drop_path2")(y)
    return keras.layers.Add(name=f"{name}.add2")([x, y])


def _stage_kinds(kinds, depth):
    """timm `extend_tuple`: a stage's block kinds, the last one repeated up to its depth."""
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    return (kinds + (kinds[-1],) * depth)[:depth]


def build_coatnet(*, cfg: CoAtNetCfg, num_classes=1000, in_chans=3, img_size=(224, 224), drop_rate=0.0,
                  drop_path_rate=0.0, name="coatnet") -> ModelParts:
    """The timm MaxxVit graph for a CoAtNet cfg (C and T blocks)."""
    h, w = img_size
    if h is None or w is None or h % 32 or w % 32:
        raise InvalidArgumentError(
            f"{name} takes an img_size whose height and width are multiples of 32 (the four stride-2 stages "
            f"after the stride-2 stem pool 2x2 without ceil mode, while the attention's position tables are "
            f"sized for ceil-divided maps: timm fails on other sizes too); got {tuple(img_size)}")
    conv_cfg, tcfg = cfg.conv.resolved(), cfg.transformer
    inputs, image = image_input(img_size, in_chans, name)

    s0, s1 = cfg.stem_width if isinstance(cfg.stem_width, (tuple, list)) else (cfg.stem_width,) * 2
    x = conv2d(image, s0, 3, stride=2, use_bias=cfg.stem_bias, name="stem.conv1")
    x = _norm_act(x, conv_cfg.norm, conv_cfg.norm_eps, conv_cfg.act, "stem.norm1")
    x = conv2d(x, s1, 3, use_bias=cfg.stem_bias, name="stem.conv2")
    features = [Feature(x, s1, 2, "stem")]

    dprs = drop_path_rates(drop_path_rate, sum(cfg.depths))
    in_chs, stride, b = s1, 2, 0
    conv_block = _convnext if conv_cfg.block_type == "convnext" else _mbconv
    for i, (out_chs, depth) in enumerate(zip(cfg.embed_dim, cfg.depths)):
        stride *= 2
        for j, kind in enumerate(_stage_kinds(cfg.block_type[i], depth)):
            s = 2 if j == 0 else 1
            bname = f"stages.{i}.blocks.{j}"
            if kind == "C":
                x = conv_block(x, in_chs, out_chs, s, conv_cfg, dprs[b], bname)
            elif kind == "T":
                x = _transformer(x, in_chs, out_chs, s, tcfg, dprs[b], bname)
            else:
                raise InvalidArgumentError(f"unknown CoAtNet block kind {kind!r} (use 'C' or 'T')")
            in_chs, b = out_chs, b + 1
        features.append(Feature(x, out_chs, stride, f"stages.{i}"))

    if cfg.head_hidden_size:   # timm NormMlpClassifierHead: pool -> LayerNorm -> fc + tanh -> fc
        x = keras.layers.GlobalAveragePooling2D(name="head.global_pool")(x)
        x = _norm(x, "layernorm2d", tcfg.norm_eps, "head.norm")
        x = keras.layers.Dense(cfg.head_hidden_size, name="head.pre_logits.fc")(x)
        x = act(x, "tanh", "head.pre_logits.act")
    else:
        x = _norm(x, tcfg.norm, tcfg.norm_eps, "norm")
        x = keras.layers.GlobalAveragePooling2D(name="head.global_pool")(x)
    if num_classes:
        if drop_rate:
            x = keras.layers.Dropout(drop_rate, name="head.drop")(x)
        x = keras.layers.Dense(num_classes, name="head.fc")(x)
    return ModelParts(inputs, x, features)


# --- checkpoint adaptation -----------------------------------------------------------------------

def adapt_state(state, targets):
    """timm `checkpoint_filter_fn`: every `relative_position_bias_table` whose shape differs from
    the model's (another img_size) or whose window is not square is resampled to the layer's
    window (`zoo.resample.resize_rel_pos_bias_table`, timm's default interpolation). The rmlp
    models' MLP weights do not depend on the window and pass unchanged."""
    from ..resample import resize_rel_pos_bias_table

    out = dict(state)
    for key, value in state.items():
        if not key.endswith("relative_position_bias_table") or key not in targets:
            continue
        t = targets[key]
        layer = t.layer
        window = getattr(layer, "window_size", None)
        if not isinstance(layer, RelPosBias) or window is None:
            continue
        if tuple(value.shape) != tuple(t.shape) or window[0] != window[1]:
            out[key] = resize_rel_pos_bias_table(value, new_window_size=window, new_bias_shape=t.shape)
    return out


# --- registrations -------------------------------------------------------------------------------

def _rw_coat(stride_mode="pool", pool_type="avg2", conv_output_bias=False, conv_attn_early=False,
             conv_attn_act="relu", transformer_shortcut_bias=True, transformer_norm="layernorm2d",
             init_values=None, rel_pos_type="bias", rel_pos_dim=512):
    """timm `_rw_coat_cfg`: the first timm CoAtNets (SiLU MBConvs with an activated pre-norm,
    expansion from the input width, attention at the input width)."""
    return dict(
        conv=ConvCfg(stride_mode=stride_mode, pool_type=pool_type, pre_norm_act=True, expand_output=False,
                     output_bias=conv_output_bias, attn_early=conv_attn_early, attn_act=conv_attn_act, act="silu"),
        transformer=TransformerCfg(expand_first=False, shortcut_bias=transformer_shortcut_bias, pool_type=pool_type,
                                   init_values=init_values, norm=transformer_norm, rel_pos_type=rel_pos_type,
                                   rel_pos_dim=rel_pos_dim))


def _rw_max(stride_mode="dw", conv_output_bias=False, conv_attn_ratio=1 / 16, rel_pos_type="bias", rel_pos_dim=512):
    """timm `_rw_max_cfg` (the newer defaults timm's pico/nano CoAtNets use)."""
    return dict(
        conv=ConvCfg(stride_mode=stride_mode, expand_output=False, output_bias=conv_output_bias,
                     attn_ratio=conv_attn_ratio, act="silu"),
        transformer=TransformerCfg(expand_first=False, rel_pos_type=rel_pos_type, rel_pos_dim=rel_pos_dim))


def _next(init_values=(1e-5, None)):
    """timm `_next_cfg(rel_pos_type='bias')`: ConvNeXt conv blocks, LayerNorm2d everywhere."""
    return dict(
        conv=ConvCfg(block_type="convnext", stride_mode="dw", expand_output=False, init_values=init_values[0],
                     norm="layernorm2d"),
        transformer=TransformerCfg(expand_first=False, init_values=init_values[1], rel_pos_type="bias"))


_NANO = dict(embed_dim=(64, 128, 256, 512), depths=(3, 4, 6, 3), stem_width=(32, 64))
_C0 = dict(embed_dim=(96, 192, 384, 768), depths=(2, 3, 7, 2), stem_width=(32, 64))   # deeper than the paper's 0
_C1 = dict(embed_dim=(96, 192, 384, 768), depths=(2, 6, 14, 2), stem_width=(32, 64))
_C2 = dict(embed_dim=(128, 256, 512, 1024), depths=(2, 6, 14, 2), stem_width=(64, 128))
_C3 = dict(embed_dim=(192, 384, 768, 1536), depths=(2, 6, 14, 2), stem_width=(96, 192))

MODEL_CFGS = {
    "coatnet_pico_rw": CoAtNetCfg(embed_dim=(64, 128, 256, 512), depths=(2, 3, 5, 2), stem_width=(32, 64),
                                  **_rw_max(conv_output_bias=True, conv_attn_ratio=0.25)),
    "coatnet_nano_rw": CoAtNetCfg(**_NANO, **_rw_max(stride_mode="pool", conv_output_bias=True, conv_attn_ratio=0.25)),
    "coatnet_0_rw": CoAtNetCfg(**_C0, **_rw_coat(conv_attn_early=True, transformer_shortcut_bias=False)),
    "coatnet_1_rw": CoAtNetCfg(**_C1, **_rw_coat(stride_mode="dw", conv_attn_early=True,
                                                 transformer_shortcut_bias=False)),
    "coatnet_2_rw": CoAtNetCfg(**_C2, **_rw_coat(stride_mode="dw", conv_attn_act="silu")),
    "coatnet_3_rw": CoAtNetCfg(**_C3, **_rw_coat(stride_mode="dw", conv_attn_act="silu", init_values=1e-6)),
    "coatnet_bn_0_rw": CoAtNetCfg(**_C0, **_rw_coat(stride_mode="dw", conv_attn_early=True,
                                                    transformer_shortcut_bias=False, transformer_norm="batchnorm2d")),
    "coatnet_rmlp_nano_rw": CoAtNetCfg(**_NANO, **_rw_max(conv_output_bias=True, conv_attn_ratio=0.25,
                                                          rel_pos_type="mlp", rel_pos_dim=384)),
    "coatnet_rmlp_0_rw": CoAtNetCfg(**_C0, **_rw_coat(stride_mode="dw", rel_pos_type="mlp")),
    "coatnet_rmlp_1_rw": CoAtNetCfg(**_C1, **_rw_coat(pool_type="max", conv_attn_early=True,
                                                      transformer_shortcut_bias=False, rel_pos_type="mlp",
                                                      rel_pos_dim=384)),
    "coatnet_rmlp_1_rw2": CoAtNetCfg(**_C1, **_rw_coat(stride_mode="dw", rel_pos_type="mlp", rel_pos_dim=512)),
    "coatnet_rmlp_2_rw": CoAtNetCfg(**_C2, **_rw_coat(stride_mode="dw", conv_attn_act="silu", init_values=1e-6,
                                                      rel_pos_type="mlp")),
    "coatnet_rmlp_3_rw": CoAtNetCfg(**_C3, **_rw_coat(stride_mode="dw", conv_attn_act="silu", init_values=1e-6,
                                                      rel_pos_type="mlp")),
    "coatnet_nano_cc": CoAtNetCfg(**_NANO, block_type=("C", "C", ("C", "T"), ("C", "T")), **_rw_coat()),
    "coatnext_nano_rw": CoAtNetCfg(**_NANO, **_next()),
    # the paper's configs (timm: "trying to be like the CoAtNet paper"); no published weights
    "coatnet_0": CoAtNetCfg(embed_dim=(96, 192, 384, 768), depths=(2, 3, 5, 2), stem_width=(64, 64),
                            head_hidden_size=768),
    "coatnet_1": CoAtNetCfg(embed_dim=(96, 192, 384, 768), depths=(2, 6, 14, 2), stem_width=(64, 64),
                            head_hidden_size=768),
    "coatnet_2": CoAtNetCfg(embed_dim=(128, 256, 512, 1024), depths=(2, 6, 14, 2), stem_width=(128, 128),
                            head_hidden_size=1024),
    "coatnet_3": CoAtNetCfg(embed_dim=(192, 384, 768, 1536), depths=(2, 6, 14, 2), stem_width=(192, 192),
                            head_hidden_size=1536),
    "coatnet_4": CoAtNetCfg(embed_dim=(192, 384, 768, 1536), depths=(2, 12, 28, 2), stem_width=(192, 192),
                            head_hidden_size=1536),
    "coatnet_5": CoAtNetCfg(embed_dim=(256, 512, 1280, 2048), depths=(2, 12, 28, 2), stem_width=(192, 192),
                            head_hidden_size=2048),
}

# timm's default cfg for these models (`_cfg`): mean/std 0.5, crop 0.95, bicubic. Archs with
# weights take their tags' cfgs from weights_manifest.json.
_CFG = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), crop_pct=0.95, interpolation="bicubic")
_PAPER = "https://arxiv.org/abs/2106.04803"

ARCHS = {
    # arch: (model_cfgs key, default cfg); the first (with Hub weights) is hubconf's `coatnet` default
    "coatnet_0_rw_224": ("coatnet_0_rw", {}),
    "coatnet_pico_rw_224": ("coatnet_pico_rw", {}),
    "coatnet_nano_rw_224": ("coatnet_nano_rw", dict(crop_pct=0.9)),
    "coatnet_1_rw_224": ("coatnet_1_rw", {}),
    "coatnet_2_rw_224": ("coatnet_2_rw", {}),
    "coatnet_3_rw_224": ("coatnet_3_rw", {}),
    "coatnet_bn_0_rw_224": ("coatnet_bn_0_rw", {}),
    "coatnet_rmlp_nano_rw_224": ("coatnet_rmlp_nano_rw", dict(crop_pct=0.9)),
    "coatnet_rmlp_0_rw_224": ("coatnet_rmlp_0_rw", {}),
    "coatnet_rmlp_1_rw_224": ("coatnet_rmlp_1_rw", {}),
    "coatnet_rmlp_1_rw2_224": ("coatnet_rmlp_1_rw2", {}),
    "coatnet_rmlp_2_rw_224": ("coatnet_rmlp_2_rw", {}),
    "coatnet_rmlp_2_rw_384": ("coatnet_rmlp_2_rw", dict(input_size=(384, 384, 3), crop_pct=1.0)),
    "coatnet_rmlp_3_rw_224": ("coatnet_rmlp_3_rw", {}),
    "coatnet_nano_cc_224": ("coatnet_nano_cc", {}),
    "coatnext_nano_rw_224": ("coatnext_nano_rw", dict(crop_pct=0.9)),
    "coatnet_0_224": ("coatnet_0", {}),
    "coatnet_1_224": ("coatnet_1", {}),
    "coatnet_2_224": ("coatnet_2", {}),
    "coatnet_3_224": ("coatnet_3", {}),
    "coatnet_4_224": ("coatnet_4", {}),
    "coatnet_5_224": ("coatnet_5", {}),
}

# timm's group_matcher: stem, stages.<i>, and the final norm / head
COATNET_GROUPS = {"stem": r"^stem\.", "stages": r"^stages\.(\d+)\.", "head": r"^(norm|head)\b"}

ALIASES = {"coatnet_0": ("coatnet_0_rw_224",
                         "CoAtNet-0 size with published weights: timm's coatnet_0_rw_224 (depths 2-3-7-2, "
                         "timm/coatnet_0_rw_224.sw_in1k). The paper's coatnet_0_224 config has no released weights.")}

register_family(
    "coatnet", build_coatnet,
    {arch: Variant(args=dict(cfg=MODEL_CFGS[key]), cfg=cfg) for arch, (key, cfg) in ARCHS.items()},
    first_conv="stem.conv1", classifier="head.fc", adapt_state=adapt_state, group_matcher=COATNET_GROUPS,
    paper=_PAPER, cfg=_CFG, aliases=ALIASES)
