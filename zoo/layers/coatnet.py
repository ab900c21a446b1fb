"""CoAtNet's relative attention (timm `maxxvit.Attention2d` with `RelPosBias`)."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ._blocks import attention, split_qkv
from ._nn import dense, merge_heads, pair
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

    def get_bias(self):
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
        rel_pos: add the relative position bias.
        attn_drop, proj_drop: dropout rates.

    Sublayers `qkv`, `proj` (1x1 convs, held as Dense) and `rel_pos` with its
    `relative_position_bias_table` of shape ((2H-1)(2W-1), heads): timm's names and layouts.
    """

    def __init__(self, dim, dim_out=None, dim_head=32, window_size=None, bias=True, expand_first=True,
                 head_first=True, rel_pos=True, attn_drop=0.0, proj_drop=0.0, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.dim_out = dim, dim_out or dim
        self.dim_head, self.bias, self.expand_first, self.head_first = dim_head, bias, expand_first, head_first
        self.window_size = None if window_size is None else pair(window_size)
        self.use_rel_pos, self.attn_drop_rate, self.proj_drop_rate = rel_pos, float(attn_drop), float(proj_drop)
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
        if self.use_rel_pos:
            self.rel_pos = RelPosBias(self.window_size, self.num_heads, name="rel_pos", dtype=self.dtype_policy)
            self.rel_pos.build()

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        q, k, v = split_qkv(self.qkv(ops.reshape(x, (-1, h * w, self.dim))), self.num_heads,
                            head_first=self.head_first)                         # (B, heads, N, hd)
        bias = None if self.rel_pos is None else self.rel_pos.get_bias()
        out = attention(q, k, v, scale=self.dim_head ** -0.5, bias=bias, dropout=self.attn_drop)
        return ops.reshape(self.proj_drop(self.proj(merge_heads(out))), (-1, h, w, self.dim_out))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + (self.dim_out,)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "dim_out": self.dim_out, "dim_head": self.dim_head,
                "window_size": None if self.window_size is None else list(self.window_size), "bias": self.bias,
                "expand_first": self.expand_first, "head_first": self.head_first, "rel_pos": self.use_rel_pos,
                "attn_drop": self.attn_drop_rate, "proj_drop": self.proj_drop_rate}
