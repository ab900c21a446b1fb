"""Global Filter Networks (Rao, Zhao, Zhu, Lu, Zhou, "Global Filter Networks for Image
Classification", NeurIPS 2021): the authors' raoyongming/GFNet `gfnet.py` (`GFNet`,
`GFNetPyramid`), with the architectures its `infer.py` builds for the released checkpoints.

Each block mixes tokens with a learned filter in the 2-D Fourier domain (`zoo.layers.GlobalFilter`:
`irfft2(rfft2(x, norm='ortho') * W, norm='ortho')`) and channels with an MLP, under ONE residual:
`x + drop_path([gamma *] mlp(norm2(filter(norm1(x)))))` (`Block`; `BlockLayerScale` adds the
layer-scale `gamma` in the hierarchical nets). LayerNorm eps 1e-6, exact GELU, mean over tokens
after the final norm, `head` Linear.

- isotropic (`GFNet`): `patch_embed.proj` 16x16 stride-16 conv, `pos_embed` (1, N, C), 12/19 blocks
  on a 14x14 grid (filters `blocks.N.filter.complex_weight` (14, 8, C, 2) at 224).
- hierarchical (`GFNetPyramid`): `patch_embed.0.proj` 4x4 stride-4 conv + `pos_embed`, then
  `patch_embed.1..3.proj` 2x2 stride-2 convs (`DownLayer`) before stages 1..3; `blocks.S.N` on
  56/28/14/7 grids at 224.

Checkpoint facts the port depends on: the official files are `{'model': state_dict}`
(`infer.py`: `torch.load(path)['model']`); keys are the module paths above, filters
(h, w//2+1, C, 2) with real/imaginary last (the layout GlobalFilter keeps). The filters and
`pos_embed` are tied to the input grid: at another img_size `adapt_state` resamples them the way
the official fine-tuning code (`main_gfnet.py`) does (`zoo.resample`). Tokens stay NHWC here (the
reference flattens them to (B, N, C); the same numbers).

Deploy form: every GlobalFilter becomes its real-DFT matmul form (`GlobalFilter.to_deploy`,
swapped in by the TFLite and ONNX exports, proven equal there): TFLite has no IRFFT2D builtin and
tf2onnx converts neither FFT. SavedModel / TF Hub keep the FFT form (TensorFlow runs it).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from ..errors import InvalidArgumentError
from ..layers._blocks import LayerScale, Mlp
from ..layers._nn import layer_norm
from ..layers.base import register
from ..layers.drop_path import DropPath
from ..layers.gfnet import GlobalFilter
from ..registry import Variant, register_family
from ..resample import resize_gfnet_filter, resize_pos_embed
from ._common import Feature, ModelParts, drop_path_rates, image_input

LN_EPS = 1e-6          # partial(nn.LayerNorm, eps=1e-6) in infer.py
POS_KEY = "pos_embed"   # the official top-level parameter
_POS_SLOT = "pos_embed.pos_embed"   # where it lives here: variable `pos_embed` of layer `pos_embed`


@dataclass(frozen=True)
class GFNetCfg:
    """Architecture knobs of one GFNet (infer.py's constructor arguments)."""
    embed_dim: tuple[int, ...]        # one per stage (one stage for the isotropic nets)
    depth: tuple[int, ...]
    patch_size: int = 16
    mlp_ratio: float = 4.0
    layer_scale: float | None = None  # init of the hierarchical blocks' gamma; None: Block without gamma

    @property
    def hierarchical(self) -> bool:
        return len(self.depth) > 1


# ---------------------------------------------------------------------------------------- layers

@register
class PosEmbed(keras.layers.Layer):
    """Adds the learned absolute position embedding `pos_embed` (1, h*w, dim), kept in the
    official (1, N, C) layout, to an NHWC token map of grid (h, w)."""

    def __init__(self, grid, dim, **kwargs):
        super().__init__(**kwargs)
        self.grid, self.dim = (int(grid[0]), int(grid[1])), int(dim)

    def build(self, input_shape):
        self.pos_embed = self.add_weight(name="pos_embed", shape=(1, self.grid[0] * self.grid[1], self.dim),
                                         initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def call(self, x):
        return x + ops.reshape(ops.cast(self.pos_embed, x.dtype), (1, *self.grid, self.dim))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "grid": list(self.grid), "dim": self.dim}


def _layer_norm(x, name):
    return layer_norm(name, eps=LN_EPS)(x)


def _block(x, dim, mlp_ratio, *, drop, drop_path, layer_scale, name):
    """Block / BlockLayerScale: x + drop_path([gamma *] mlp(norm2(filter(norm1(x)))))."""
    h, w = x.shape[1], x.shape[2]
    y = _layer_norm(x, f"{name}.norm1")
    y = GlobalFilter(dim, h=h, w=w // 2 + 1, name=f"{name}.filter")(y)
    y = _layer_norm(y, f"{name}.norm2")
    y = Mlp(int(dim * mlp_ratio), act="gelu", drop=drop, name=f"{name}.mlp")(y)
    if layer_scale is not None:
        y = LayerScale(dim, layer_scale, name=name)(y)   # the checkpoint's `<block>.gamma`
    if drop_path:
        y = DropPath(drop_path, name=f"{name}.drop_path")(y)
    return keras.layers.Add(name=f"{name}.add")([x, y])


def _patch_conv(x, dim, size, name):
    return keras.layers.Conv2D(dim, size, strides=size, padding="valid", name=name)(x)


# --------------------------------------------------------------------------------------- builder

def build_gfnet(*, embed_dim, depth, patch_size=16, mlp_ratio=4.0, layer_scale=None, num_classes=1000,
                in_chans=3, img_size=(224, 224), drop_rate=0.0, drop_path_rate=0.0, name="gfnet") -> ModelParts:
    """The official GFNet (one stage) or GFNetPyramid (four stages) graph.

    drop_rate is the official one: dropout inside every MLP and (isotropic nets) after the position
    embedding.
    Feature taps: every block of an isotropic net (stride 16, like timm's ViTs), every stage of a
    hierarchical one (strides 4, 8, 16, 32).
    """
    cfg = GFNetCfg(tuple(embed_dim), tuple(depth), patch_size, mlp_ratio, layer_scale)
    h, w = img_size
    stride = cfg.patch_size * 2 ** (len(cfg.depth) - 1)
    if h % stride or w % stride:
        raise InvalidArgumentError(
            f"{name} needs an img_size divisible by {stride} (its patch embedding"
            + (" and three 2x2 down layers" if cfg.hierarchical else "") + f"), got {h}x{w}.")
    inputs, image = image_input(img_size, in_chans, name)
    first = "patch_embed.0.proj" if cfg.hierarchical else "patch_embed.proj"
    x = _patch_conv(image, cfg.embed_dim[0], cfg.patch_size, first)
    x = PosEmbed((x.shape[1], x.shape[2]), cfg.embed_dim[0], name=POS_KEY)(x)
    if drop_rate and not cfg.hierarchical:   # GFNetPyramid.forward_features skips its pos_drop
        x = keras.layers.Dropout(drop_rate, name="pos_drop")(x)
    dprs = drop_path_rates(drop_path_rate, sum(cfg.depth))
    features, k, reduction = [], 0, cfg.patch_size
    for stage, (dim, n) in enumerate(zip(cfg.embed_dim, cfg.depth)):
        if stage:
            x = _patch_conv(x, dim, 2, f"patch_embed.{stage}.proj")
            reduction *= 2
        for j in range(n):
            block = f"blocks.{stage}.{j}" if cfg.hierarchical else f"blocks.{j}"
            x = _block(x, dim, cfg.mlp_ratio, drop=drop_rate, drop_path=dprs[k],
                       layer_scale=cfg.layer_scale if cfg.hierarchical else None, name=block)
            k += 1
            if not cfg.hierarchical:
                features.append(Feature(x, dim, reduction, block))
        if cfg.hierarchical:
            features.append(Feature(x, dim, reduction, f"blocks.{stage}"))
    x = _layer_norm(x, "norm")
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)   # .mean(1) over the tokens
    if num_classes:
        x = keras.layers.Dense(num_classes, name="head")(x)
    return ModelParts(inputs, x, features)


# --------------------------------------------------------------------------------- checkpoints

def adapt_state(state: dict, targets: dict) -> dict:
    """The official layout -> this graph's: `pos_embed` is the variable of layer `pos_embed`; at
    another input grid `pos_embed` (bicubic) and every `complex_weight` (bicubic, align_corners)
    are resampled as raoyongming/GFNet `main_gfnet.py` does when it fine-tunes at another size."""
    state = dict(state)
    if POS_KEY in state and _POS_SLOT in targets and _POS_SLOT not in state:
        state[_POS_SLOT] = state.pop(POS_KEY)
    pos = targets.get(_POS_SLOT)
    if pos is not None and _POS_SLOT in state:
        have = np.shape(state[_POS_SLOT])
        if len(have) == 3 and tuple(have) != pos.shape and have[-1] == pos.shape[-1]:
            state[_POS_SLOT] = resize_pos_embed(state[_POS_SLOT], pos.layer.grid)
    for key, t in targets.items():
        if not key.endswith(".complex_weight") or key not in state:
            continue
        have = np.shape(state[key])
        if len(have) == 4 and tuple(have) != t.shape and have[2:] == t.shape[2:]:
            new_h, new_wf = t.shape[:2]
            state[key] = resize_gfnet_filter(state[key], (new_h, 2 * (new_wf - 1)))
    return state


# ------------------------------------------------------------------------------- registrations
# infer.py's architectures (the released checkpoints); drop_path / init_values as it builds them
# (drop_path only matters for training: pass drop_path_rate= to zoo.create).

_PAPER = "https://arxiv.org/abs/2107.00645"
GFNETS = {
    "gfnet_ti": dict(embed_dim=(256,), depth=(12,)),
    "gfnet_xs": dict(embed_dim=(384,), depth=(12,)),
    "gfnet_s": dict(embed_dim=(384,), depth=(19,)),
    "gfnet_b": dict(embed_dim=(512,), depth=(19,)),
    "gfnet_h_ti": dict(embed_dim=(64, 128, 256, 512), depth=(3, 3, 10, 3), patch_size=4, layer_scale=1e-3),
    "gfnet_h_s": dict(embed_dim=(96, 192, 384, 768), depth=(3, 3, 10, 3), patch_size=4, layer_scale=1e-5),
    "gfnet_h_b": dict(embed_dim=(96, 192, 384, 768), depth=(3, 3, 27, 3), patch_size=4, layer_scale=1e-6),
}

GFNET_GROUPS = {"stem": r"^(patch_embed\.proj|patch_embed\.0\.|pos_embed|pos_drop)\b",
                "stages": r"^(?:blocks|patch_embed)\.(\d+)\.", "head": r"^(norm|global_pool|head)\b"}

register_family(
    "gfnet", build_gfnet,
    {name: Variant(args, first_conv="patch_embed.0.proj" if "patch_size" in args else None)
     for name, args in GFNETS.items()},
    first_conv="patch_embed.proj", classifier="head", adapt_state=adapt_state, group_matcher=GFNET_GROUPS,
    paper=_PAPER)
