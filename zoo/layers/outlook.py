"""VOLO's outlook attention, with a real fold."""
from __future__ import annotations

import math

import keras
from keras import ops

from ._nn import dense, fold, unfold
from .base import check_input, register


@register
class OutlookAttention(keras.layers.Layer):
    """Outlook attention (Yuan et al., "VOLO: Vision Outlooker for Visual Recognition",
    TPAMI 2022): each position predicts, from its own feature, a (k*k) x (k*k) attention over
    its k x k neighbourhood; the weighted neighbourhoods are folded back (overlapping windows
    summed) and projected.

    Input (batch, H, W, dim); output the same shape. Needs static H, W.

    Args: dim, num_heads, kernel_size, padding, stride, qkv_bias, attn_drop (also the
    projection's dropout, as in the reference).
    Sublayers `v_pj`, `attn`, `proj` (External-Attention's names; timm's VOLO calls `v_pj` `v`).
    Unfold and fold are gathers and pad-adds: builtin ops in TFLite and ONNX.
    """

    def __init__(self, dim, num_heads=1, kernel_size=3, padding=1, stride=1, qkv_bias=False, attn_drop=0.1,
                 **kwargs):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(f"OutlookAttention: num_heads ({num_heads}) must divide dim ({dim})")
        self.dim, self.num_heads, self.kernel_size, self.padding, self.stride = dim, num_heads, kernel_size, \
            padding, stride
        self.qkv_bias, self.attn_drop_rate = qkv_bias, float(attn_drop)
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        dt = self.dtype_policy
        self.v_pj = dense(dim, "v_pj", dt, use_bias=qkv_bias)
        self.attn = dense(kernel_size ** 4 * num_heads, "attn", dt)
        self.proj = dense(dim, "proj", dt)
        self.attn_drop = keras.layers.Dropout(self.attn_drop_rate, name="attn_drop", dtype=dt)
        self.proj_drop = keras.layers.Dropout(self.attn_drop_rate, name="proj_drop", dtype=dt)
        self.pool = keras.layers.AveragePooling2D(stride, stride, padding="same", name="pool", dtype=dt) \
            if stride > 1 else None

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.dim)
        if None in shape[1:3]:
            raise ValueError(f"OutlookAttention '{self.name}' needs a static input size (batch, H, W, {self.dim}), "
                             f"got {shape}.")
        self.v_pj.build(shape)
        self.attn.build(shape)
        self.proj.build(shape)

    def call(self, x):
        H, W = x.shape[1], x.shape[2]
        k, s, nh, hd = self.kernel_size, self.stride, self.num_heads, self.head_dim
        h, w = math.ceil(H / s), math.ceil(W / s)
        v = unfold(self.v_pj(x), k, s, self.padding)                       # (B, h', w', k, k, C)
        if (v.shape[1], v.shape[2]) != (h, w):
            raise ValueError(f"OutlookAttention '{self.name}': kernel {k}, padding {self.padding}, stride {s} give "
                             f"{v.shape[1]}x{v.shape[2]} windows on a {H}x{W} input, the attention {h}x{w}.")
        v = ops.transpose(ops.reshape(v, (-1, h * w, k * k, nh, hd)), (0, 3, 1, 2, 4))     # (B, nh, hw, kk, hd)
        a = x if self.pool is None else self.pool(x)
        a = ops.reshape(self.attn(a), (-1, h * w, nh, k * k, k * k))
        a = ops.transpose(a, (0, 2, 1, 3, 4)) * self.scale                                 # (B, nh, hw, kk, kk)
        a = self.attn_drop(ops.softmax(a, axis=-1))
        out = ops.matmul(a, v)                                                             # (B, nh, hw, kk, hd)
        out = ops.reshape(ops.transpose(out, (0, 2, 3, 1, 4)), (-1, h, w, k, k, self.dim))
        out = fold(out, (H, W), k, s, self.padding)
        return self.proj_drop(self.proj(out))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "num_heads": self.num_heads, "kernel_size": self.kernel_size,
                "padding": self.padding, "stride": self.stride, "qkv_bias": self.qkv_bias,
                "attn_drop": self.attn_drop_rate}
