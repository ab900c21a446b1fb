"""ParNet (Goyal, Bochkovskiy, Deng, Koltun, "Non-deep Networks", NeurIPS 2022).

Reference: the authors' imankgoyal/NonDeepNetworks (commit 777b286), `imagenet/timm/models/
simplenet_impl/simpnet.py` (`SimpNet`, built by the `simplenet_repvgg` entry point from the
YAML files in `imagenet/models/`) and `simplenet_impl/repvgg.py` (its `RepVGGBlock`).

A network 12 blocks deep made of three parallel streams at strides 4, 8 and 16 (56, 28 and 14
for a 224 image), merged into one path:
- `inits.0` (two stride-2 blocks, 3 -> min(64, planes[0]) -> planes[0]), `inits.1..`: one
  stride-2 block each, feeding stream i;
- `streams.i`: num_blocks[i] - 1 same-shape blocks with Skip-Squeeze-Excitation;
- `downsamples_2.0`: a stride-2 block on stream 0; `downsamples_2.i` (i >= 1): the two inputs
  through their own BatchNorm (`.0.b1` stream i, `.0.b2` the path so far), interleaved channel
  by channel (`.1`, the official `Concat2d(shuffle=True)`), a grouped (2) stride-2 block (`.2`);
- `combine`: the same fusion of the last stream with the path (`.0`, `.1`, `.2` at stride 1),
  then a stride-2 block to planes[-1] (`.3`); `head.fc` after global average pooling.
Every block is `zoo.layers.ParNetAttention` (the official block in all its shapes: 3x3 + 1x1
(pooled at stride 2) conv-BN branches, SSE or a 2x sigmoid gate, channel shuffle when grouped).

Checkpoint facts the port depends on: the release v.0.1.0 `.pth.tar` files are timm training
checkpoints (`state_dict`, `state_dict_ema`, keys possibly prefixed `module.`), read by
`zoo.checkpoint.read_pytorch_file` (weights_only=True); BatchNorm eps 1e-5 everywhere.

Activation: ReLU, what the official code builds from the official YAML files, for training
(train.py) and validation (validate.py) alike. The YAMLs write `additional_branches: [[swish]]`
and `RepVGGOur` tests `'swish' in additional_branches`, which is False for that nested list, so
the SiLU the paper describes is never switched on: the released checkpoints are ReLU networks
(the golden fixture, made with the official code, agrees to 1e-6 with ReLU and not at all with
SiLU). `activation="silu"` (a family kwarg) builds the paper's network, for training from scratch.

Every block at stride 2 halves an even size exactly (pool and conv must agree), so img_size must
be a multiple of 32.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ..convert import adapt_input_conv
from ..errors import InvalidArgumentError
from ..layers.rep import ParNetAttention
from ..registry import Variant, register_family
from ._common import Feature, ModelParts, classifier_head, image_input

_NAME = "parnet"


@dataclass(frozen=True)
class ParNetConfig:
    """The official YAML's architecture knobs."""
    planes: tuple[int, ...]              # per stream, then the last block's width
    num_blocks: tuple[int, ...] = (5, 6, 6, 1)
    dropout_lin: float = 0.0             # dropout before head.fc (the YAML's dropout_lin)
    activation: str = "relu"               # see the module docstring


PARNETS = {
    # planes_92_192_384_1280_num_blocks_5_6_6_1_sebv_13.yaml
    "parnet_s": ParNetConfig((92, 192, 384, 1280)),
    # planes_128_256_512_2048_num_blocks_5_6_6_1_sebv_13.yaml
    "parnet_m": ParNetConfig((128, 256, 512, 2048)),
    # planes_160_320_640_2560_num_blocks_5_6_6_1_sebv_13_dropout_lin.yaml
    "parnet_l": ParNetConfig((160, 320, 640, 2560), dropout_lin=0.1),
    # reg_se13_planes_200_400_800_3200_num_blocks_5_6_6_1_sebv_13_dropout_lin.yaml
    "parnet_xl": ParNetConfig((200, 400, 800, 3200), dropout_lin=0.1),
}


def _block(x, out_channel, name, *, stride=1, groups=1, activation, deploy):
    """One official `RepVGGOur` (whose only child is `block`)."""
    return ParNetAttention(x.shape[-1], deploy=deploy, activation=activation, out_channel=out_channel,
                           stride=stride, groups=groups, name=f"{name}.block")(x)


def _fuse_pair(stream, path, name):
    """`MultiBatchNorm2d` then `Concat2d(shuffle=True)`: channel 2c is stream's c, 2c+1 path's c."""
    a = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}.0.b1")(stream)
    b = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}.0.b2")(path)
    h, w, c = a.shape[1], a.shape[2], a.shape[3]
    a = keras.layers.Reshape((h, w, c, 1), name=f"{name}.1.expand_0")(a)
    b = keras.layers.Reshape((h, w, c, 1), name=f"{name}.1.expand_1")(b)
    x = keras.layers.Concatenate(axis=-1, name=f"{name}.1.stack")([a, b])
    return keras.layers.Reshape((h, w, 2 * c), name=f"{name}.1")(x)


def build_parnet(planes, num_blocks=(5, 6, 6, 1), dropout_lin=0.0, activation="relu", *, name=_NAME,
                 num_classes=1000, in_chans=3, img_size=(224, 224), drop_rate=None, drop_path_rate=0.0,
                 deploy=False):
    """SimpNet with the official module paths. deploy=True builds the fused form (the layout the
    official `--fuse` leaves: `rbr_dense` a conv with bias, no `rbr_1x1`)."""
    if drop_path_rate:
        raise InvalidArgumentError(f"{name} has no stochastic depth (the official blocks take no drop path)")
    if activation not in ("silu", "relu"):
        raise InvalidArgumentError(f"{name}: activation must be 'silu' or 'relu', got {activation!r}")
    planes, num_blocks = tuple(planes), tuple(num_blocks)
    if len(planes) != len(num_blocks) or len(planes) < 3 or num_blocks[-1] != 1 or min(num_blocks[:-1]) < 1:
        raise InvalidArgumentError(f"{name}: planes {planes} and num_blocks {num_blocks} must have one entry per "
                                   "stream plus a last 1 (the official assertions)")
    h, w = img_size
    if h % 32 or w % 32:
        raise InvalidArgumentError(
            f"{name} needs an img_size that is a multiple of 32 (five stride-2 blocks, each with a 2x2 average "
            f"pool that must halve an even size); got {h}x{w}. Try {max(32, round(h / 32) * 32)}.")
    drop = drop_rate or dropout_lin   # zoo.create's drop_rate, else the YAML's
    kw = dict(activation=activation, deploy=deploy)
    streams, last = planes[:-1], planes[-1]

    inputs, x = image_input(img_size, in_chans, name)
    stem = _block(x, min(64, streams[0]), "inits.0.0", stride=2, **kw)
    features = [Feature(stem, min(64, streams[0]), 2, "inits.0.0")]
    x = _block(stem, streams[0], "inits.0.1", stride=2, **kw)
    inits = [x]
    for i, p in enumerate(streams[1:], start=1):
        inits.append(_block(inits[-1], p, f"inits.{i}", stride=2, **kw))

    outs = []
    for s, (y, n) in enumerate(zip(inits, num_blocks[:-1])):
        for j in range(n - 1):
            y = _block(y, streams[s], f"streams.{s}.{j}", **kw)
        outs.append(y)
    features.append(Feature(outs[0], streams[0], 4, "streams.0"))

    path = _block(outs[0], streams[1], "downsamples_2.0", stride=2, **kw)
    features.append(Feature(path, streams[1], 8, "downsamples_2.0"))
    for i in range(1, len(streams) - 1):
        path = _fuse_pair(outs[i], path, f"downsamples_2.{i}")
        path = _block(path, streams[i + 1], f"downsamples_2.{i}.2", stride=2, groups=2, **kw)
        features.append(Feature(path, streams[i + 1], 8 * 2 ** i, f"downsamples_2.{i}"))
    x = _fuse_pair(outs[-1], path, "combine")
    x = _block(x, streams[-1], "combine.2", groups=2, **kw)
    x = _block(x, last, "combine.3", stride=2, **kw)
    features.append(Feature(x, last, 2 ** (len(streams) + 2), "combine"))
    outputs = classifier_head(x, num_classes, drop, fc_name="head.fc", pool_name="head.global_pool")
    return ModelParts(inputs, outputs, features)


# The first block sees the image through three convs (3x3, pooled 1x1, SE 1x1); load_state adapts
# the registered first_conv, this hook the other two, the same way (timm's adapt_input_conv).
_INPUT_KEYS = ("inits.0.0.block.rbr_1x1.1.conv.weight", "inits.0.0.block.se.cvsig.conv.weight")


def adapt_state(state, targets):
    for key in _INPUT_KEYS:
        if key not in state or key not in targets:
            continue
        arr, want = np.asarray(state[key]), targets[key].shape
        if arr.shape == tuple(want):
            continue
        if arr.ndim == 4:      # (1, 1, I, O) conv kernel
            oihw = np.transpose(arr, (3, 2, 0, 1))
            state[key] = np.transpose(adapt_input_conv(oihw, want[2]), (2, 3, 1, 0))
        elif arr.ndim == 2:    # (I, O) Dense kernel of the SE conv
            oihw = arr.T[:, :, None, None]
            state[key] = adapt_input_conv(oihw, want[0])[:, :, 0, 0].T
    return state


def fuse_model(model: keras.Model) -> keras.Model:
    """The deploy form of a ParNet model: every block's conv branches folded into one 3x3 conv
    (`ParNetAttention.fuse()`), every other layer shared; the same outputs in inference mode.
    `export` does this itself (export.deploy); this is for serving the Keras model."""
    def swap(layer):
        return layer.fuse() if isinstance(layer, ParNetAttention) and not layer.deploy else layer
    fused = keras.models.clone_model(model, clone_function=swap)
    if hasattr(model, "pretrained_cfg"):
        fused.pretrained_cfg = model.pretrained_cfg
    return fused


# timm-style groups: the first block, the streams with their inits and downsamples (stage i),
# the combine fusion and the classifier
PARNET_GROUPS = {"stem": r"^inits\.0\.0\.", "stages": r"^(?:inits|streams|downsamples_2)\.(\d+)\.",
                 "head": r"^(combine|head)\."}

register_family(
    _NAME, build_parnet,
    {arch: Variant(args=dict(planes=c.planes, num_blocks=c.num_blocks, dropout_lin=c.dropout_lin,
                             activation=c.activation))
     for arch, c in PARNETS.items()},
    first_conv="inits.0.0.block.rbr_dense.conv", classifier="head.fc", adapt_state=adapt_state,
    family_kwargs=("activation", "deploy"), group_matcher=PARNET_GROUPS,
    paper="https://arxiv.org/abs/2110.07641",
    cfg=dict(interpolation="bilinear", crop_pct=0.875))
