"""CoAtNet's relative attention (timm 1.0.31 `maxxvit.Attention2d` with `RelPosBias` or `RelPosMlp`),
and `TorchMaxPool2d` (PyTorch's padded max pool of timm's CoAtNet downsampling; the ConvNeXt
blocks' `LayerScale2d` is `zoo.layers._blocks.LayerScale`)."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ._blocks import Mlp, attention, split_qkv
from ._nn import LayerNorm, dense, merge_heads, pair
from .base import check_input, register


def relative_position_index(window_size) -> np.ndarray:
    """timm's `gen_relative_position_index`: (Wh*Ww, Wh*Ww) indices into the
    ((2Wh-1)(2Ww-1), heads) bias table."""
    wh, ww = pair(window_size)
    coords = np.stack(np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")).reshape(2, -1)
    rel = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0)
    rel[:, :, 0] += wh - 1
    rel[:, :, 1] += ww - 1
    rel[:, :, 0] *= 2 * ww - 1
    return rel.sum(-1).astype(np.int32)


@register
class RelPosBias(keras.layers.Layer):
    """Relative position bias (Swin / timm `RelPosBias`): a learned table of
    ((2Wh-1)(2Ww-1), num_heads) indexed by the relative offset of two positions.
    `layer(attn)` adds it to attention logits (batch, heads, N, N), N = Wh*Ww.

    Weight `relative_position_bias_table` (PyTorch's shape and name); the index is recomputed
    (checkpoints' `relative_position_index` buffers are skipped by `zoo.convert`).
    """

    def __init__(self, window_size, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.window_size, self.num_heads = pair(window_size), int(num_heads)

    def build(self, input_shape=None):
        wh, ww = self.window_size
        self.relative_position_bias_table = self.add_weight(
            name="relative_position_bias_table", shape=((2 * wh - 1) * (2 * ww - 1), self.num_heads),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def get_bias(self, training=None):
        n = self.window_size[0] * self.window_size[1]
        idx = relative_position_index(self.window_size).reshape(-1)
        bias = ops.take(self.relative_position_bias_table, idx, axis=0)          # (N*N, heads)
        return ops.transpose(ops.reshape(bias, (n, n, self.num_heads)), (2, 0, 1))[None]

    def call(self, attn):
        return attn + ops.cast(self.get_bias(), attn.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "window_size": list(self.window_size), "num_heads": self.num_heads}


def relative_log_coords(window_size) -> np.ndarray:
    """timm's `gen_relative_log_coords(mode='cr')` (the mode MaxxViT's `RelPosMlp` uses): the
    (2Wh-1, 2Ww-1, 2) offsets (dy, dx) mapped through sign(d) * log(1 + |d|), in float32."""
    wh, ww = pair(window_size)
    dy = np.arange(-(wh - 1), wh, dtype=np.float32)
    dx = np.arange(-(ww - 1), ww, dtype=np.float32)
    table = np.stack(np.meshgrid(dy, dx, indexing="ij"), axis=-1)
    return (np.sign(table) * np.log1p(np.abs(table))).astype(np.float32)


@register
class RelPosMlp(keras.layers.Layer):
    """Log-coordinate relative position MLP (timm `RelPosMlp`, mode 'cr', as its CoAtNet/MaxViT
    'rmlp' models use; after Swin-V2): the bias of offset (dy, dx) is
    `fc2(relu(fc1(sign(d) * log(1 + |d|))))`, one value per head, gathered to (heads, N, N).

    Weights are the MLP's (`mlp.fc1` 2 -> hidden_dim, `mlp.fc2` hidden_dim -> num_heads, timm's
    names): nothing depends on the window size, so checkpoints load at any size unchanged.
    The coordinates and the index are recomputed from `window_size` (timm's buffers for them are
    not persistent). Dropout 0.125 after the ReLU while training, as timm has it.
    """

    def __init__(self, window_size, num_heads, hidden_dim=512, **kwargs):
        super().__init__(**kwargs)
        self.window_size, self.num_heads, self.hidden_dim = pair(window_size), int(num_heads), int(hidden_dim)
        self.mlp = Mlp(self.hidden_dim, self.num_heads, act="relu", drop=(0.125, 0.0), name="mlp",
                       dtype=self.dtype_policy)

    def build(self, input_shape=None):
        self.mlp.build((None, 2))

    def get_bias(self, training=None):
        n = self.window_size[0] * self.window_size[1]
        coords = relative_log_coords(self.window_size).reshape(-1, 2)
        table = self.mlp(ops.convert_to_tensor(coords, dtype=self.compute_dtype), training=training)
        idx = relative_position_index(self.window_size).reshape(-1)
        bias = ops.take(table, idx, axis=0)                                          # (N*N, heads)
        return ops.transpose(ops.reshape(bias, (n, n, self.num_heads)), (2, 0, 1))[None]

    def call(self, attn, training=None):
        return attn + ops.cast(self.get_bias(training), attn.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "window_size": list(self.window_size), "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim}


@register
class FixedRelPos(keras.layers.Layer):
    """The deploy form of a `RelPosBias` / `RelPosMlp`: their bias (1, heads, N, N), computed once
    from the weights and held as a constant weight `bias`. The same numbers, without the
    gather (or the MLP) in the graph. Made by `CoAtNetAttention.to_deploy()`."""

    def __init__(self, window_size, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.window_size, self.num_heads = pair(window_size), int(num_heads)

    def build(self, input_shape=None):
        n = self.window_size[0] * self.window_size[1]
        self.bias = self.add_weight(name="bias", shape=(1, self.num_heads, n, n), initializer="zeros",
                                    trainable=False)

    def get_bias(self, training=None):
        return self.bias

    def call(self, attn):
        return attn + ops.cast(self.bias, attn.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "window_size": list(self.window_size), "num_heads": self.num_heads}


@register
class TorchMaxPool2d(keras.layers.Layer):
    """`nn.MaxPool2d(3, stride=2, padding=1)` on NHWC for even H and W (timm `Downsample2d`
    'max'). PyTorch pads with -inf; here the first row and column are repeated instead, which
    cannot change a maximum (the repeated value is already inside that window), and on an even
    size no window reaches the bottom/right padding. Builtin ops only (slice, concat, max pool)."""

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        if h is None or w is None or h % 2 or w % 2:
            raise ValueError(f"TorchMaxPool2d '{self.name}' needs an even static height and width, got {x.shape}")
        x = ops.concatenate([x[:, :1], x], axis=1)
        x = ops.concatenate([x[:, :, :1], x], axis=2)
        return ops.max_pool(x, 3, strides=2, padding="valid")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return b, None if h is None else h // 2, None if w is None else w // 2, c


@register
class LayerNorm2d(LayerNorm):
    """timm `LayerNorm2d` (a LayerNorm over the channels of an NCHW map, eps 1e-6) on NHWC: the
    channel axis is last, so it is the zoo's `LayerNorm` (PyTorch's formula, no NEG for int8) with
    the same weights (`weight`/`bias` in checkpoints)."""

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(epsilon=epsilon, **kwargs)


_REL_POS_KINDS = ("bias", "mlp")


@register
class CoAtNetAttention(keras.layers.Layer):
    """Relative self-attention of CoAtNet (Dai et al., "CoAtNet: Marrying Convolution and
    Attention for All Data Sizes", NeurIPS 2021): multi-head attention over all positions of
    the feature map with a learned relative position bias, as timm's `Attention2d` +
    `RelPosBias` compute it.

    Input (batch, H, W, dim) with (H, W) the window size; output (batch, H, W, dim_out).

    Args:
        dim: input channels; dim_out: output channels (None: dim).
        dim_head: channels per head (timm and the paper: 32).
        window_size: (H, W) of the input (None: taken from the input at build time).
        bias: biases of `qkv` and `proj`.
        expand_first: attention width `dim_out` (True) or `dim` (False: timm's "rw" CoAtNets).
        head_first: `qkv` output channels laid out (heads, 3, dim_head) (True: timm's CoAtNet)
            or (3, heads, dim_head).
        rel_pos: the relative position kind: "bias" (or True: timm's `RelPosBias`, a learned
            table), "mlp" (timm's `RelPosMlp`, the "rmlp" CoAtNets: an MLP on log-spaced
            offsets), or None / False (no position bias).
        rel_pos_dim: hidden width of the "mlp" kind (timm's `rel_pos_dim`, 512 by default).
        attn_drop, proj_drop: dropout rates.

    Sublayers `qkv`, `proj` (1x1 convs, held as Dense) and `rel_pos`: with "bias" its
    `relative_position_bias_table` of shape ((2H-1)(2W-1), heads), with "mlp" its `mlp.fc1`,
    `mlp.fc2`: timm's names and layouts.

    `to_deploy()` gives the same layer with the position bias computed once and held as a
    constant (`FixedRelPos`): no gather or MLP left in an exported graph.
    """

    def __init__(self, dim, dim_out=None, dim_head=32, window_size=None, bias=True, expand_first=True,
                 head_first=True, rel_pos=True, attn_drop=0.0, proj_drop=0.0, rel_pos_dim=512, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.dim_out = dim, dim_out or dim
        self.dim_head, self.bias, self.expand_first, self.head_first = dim_head, bias, expand_first, head_first
        self.window_size = None if window_size is None else pair(window_size)
        self.use_rel_pos, self.attn_drop_rate, self.proj_drop_rate = rel_pos, float(attn_drop), float(proj_drop)
        kind = "bias" if rel_pos is True else (None if rel_pos in (False, None) else rel_pos)
        if kind not in (*_REL_POS_KINDS, "fixed", None):
            raise ValueError(f"CoAtNetAttention: rel_pos must be one of True, False, None, "
                             f"{', '.join(map(repr, _REL_POS_KINDS))}; got {rel_pos!r}")
        self.rel_pos_kind, self.rel_pos_dim = kind, int(rel_pos_dim)
        dim_attn = self.dim_out if expand_first else dim
        if dim_attn % dim_head:
            raise ValueError(f"CoAtNetAttention: dim_head ({dim_head}) must divide the attention width ({dim_attn})")
        self.dim_attn, self.num_heads = dim_attn, dim_attn // dim_head
        dt = self.dtype_policy
        self.qkv = dense(dim_attn * 3, "qkv", dt, use_bias=bias)
        self.proj = dense(self.dim_out, "proj", dt, use_bias=bias)
        self.attn_drop = keras.layers.Dropout(self.attn_drop_rate, name="attn_drop", dtype=dt)
        self.proj_drop = keras.layers.Dropout(self.proj_drop_rate, name="proj_drop", dtype=dt)
        self.rel_pos = None

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.dim)
        hw = (shape[1], shape[2])
        if self.window_size is None:
            if None in hw:
                raise ValueError(f"CoAtNetAttention '{self.name}' needs a static input size or window_size, "
                                 f"got input shape {shape}.")
            self.window_size = (int(hw[0]), int(hw[1]))
        elif None not in hw and tuple(hw) != self.window_size:
            raise ValueError(f"CoAtNetAttention '{self.name}' expects input of shape (batch, {self.window_size[0]}, "
                             f"{self.window_size[1]}, {self.dim}), got {shape}.")
        self.qkv.build((shape[0], None, self.dim))
        self.proj.build((shape[0], None, self.dim_attn))
        if self.rel_pos_kind is not None:
            dt = self.dtype_policy
            if self.rel_pos_kind == "bias":
                self.rel_pos = RelPosBias(self.window_size, self.num_heads, name="rel_pos", dtype=dt)
            elif self.rel_pos_kind == "mlp":
                self.rel_pos = RelPosMlp(self.window_size, self.num_heads, self.rel_pos_dim, name="rel_pos", dtype=dt)
            else:   # "fixed": the deploy form's precomputed bias
                self.rel_pos = FixedRelPos(self.window_size, self.num_heads, name="rel_pos", dtype=dt)
            self.rel_pos.build()

    def call(self, x, training=None):
        h, w = x.shape[1], x.shape[2]
        q, k, v = split_qkv(self.qkv(ops.reshape(x, (-1, h * w, self.dim))), self.num_heads,
                            head_first=self.head_first)                         # (B, heads, N, hd)
        bias = None if self.rel_pos is None else self.rel_pos.get_bias(training=training)
        out = attention(q, k, v, scale=self.dim_head ** -0.5, bias=bias, dropout=self.attn_drop,
                        training=training)
        return ops.reshape(self.proj_drop(self.proj(merge_heads(out))), (-1, h, w, self.dim_out))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + (self.dim_out,)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "dim_out": self.dim_out, "dim_head": self.dim_head,
                "window_size": None if self.window_size is None else list(self.window_size), "bias": self.bias,
                "expand_first": self.expand_first, "head_first": self.head_first, "rel_pos": self.use_rel_pos,
                "attn_drop": self.attn_drop_rate, "proj_drop": self.proj_drop_rate, "rel_pos_dim": self.rel_pos_dim}

    def to_deploy(self):
        """This layer with its position bias precomputed (a constant `FixedRelPos`); the same outputs."""
        if self.rel_pos is None or isinstance(self.rel_pos, FixedRelPos):
            return self
        cfg = {**self.get_config(), "rel_pos": "fixed", "name": self.name}
        new = type(self).from_config(cfg)
        h, w = self.window_size
        new.build((None, h, w, self.dim))
        for src, dst in ((self.qkv, new.qkv), (self.proj, new.proj)):
            dst.set_weights(src.get_weights())
        new.rel_pos.bias.assign(np.asarray(ops.convert_to_numpy(self.rel_pos.get_bias(training=False)), np.float32))
        return new
