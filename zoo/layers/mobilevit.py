"""MobileViT block (v1) and MobileViTv2's separable self-attention, with timm's module names."""
from __future__ import annotations

import math

import keras
from keras import ops

from ._blocks import Mlp, attention, split_qkv
from ._nn import Conv2d, conv_bn, dense, layer_norm, merge_heads
from .base import check_input, register
from .drop_path import DropPath


class VitAttention(keras.layers.Layer):
    """timm's `Attention`: `qkv` Linear(dim, 3*dim) laid out (3, heads, head_dim), `proj`."""

    def __init__(self, dim, num_heads=8, qkv_bias=True, attn_drop=0.0, proj_drop=0.0, **kwargs):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(f"attention: num_heads ({num_heads}) must divide dim ({dim})")
        self.dim, self.num_heads = dim, num_heads
        self.head_dim = dim // num_heads
        self.qkv = dense(3 * dim, "qkv", self.dtype_policy, use_bias=qkv_bias)
        self.proj = dense(dim, "proj", self.dtype_policy)
        self.attn_drop = keras.layers.Dropout(attn_drop, name="attn_drop", dtype=self.dtype_policy)
        self.proj_drop = keras.layers.Dropout(proj_drop, name="proj_drop", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.qkv.build(input_shape)
        self.proj.build(input_shape)

    def call(self, x):
        q, k, v = split_qkv(self.qkv(x), self.num_heads)                  # (B, heads, N, hd)
        out = attention(q, k, v, scale=self.head_dim ** -0.5, dropout=self.attn_drop)
        return self.proj_drop(self.proj(merge_heads(out)))


class _TransformerBlock(keras.layers.Layer):
    """timm's ViT `Block` (pre-norm attention and MLP, residuals), as MobileViT uses it."""

    def __init__(self, dim, num_heads, mlp_ratio, activation="silu", attn_drop=0.0, drop=0.0, drop_path=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        dt = self.dtype_policy
        self.norm1 = layer_norm("norm1", dt)
        self.attn = VitAttention(dim, num_heads, attn_drop=attn_drop, proj_drop=drop, name="attn", dtype=dt)
        self.norm2 = layer_norm("norm2", dt)
        self.mlp = Mlp(int(dim * mlp_ratio), dim, act=activation, drop=drop, name="mlp", dtype=dt)
        # timm's drop_path1 / drop_path2 (stochastic depth on each residual branch; no weights)
        self.drop_path1 = DropPath(drop_path, name="drop_path1", dtype=dt)
        self.drop_path2 = DropPath(drop_path, name="drop_path2", dtype=dt)

    def build(self, input_shape):
        for l in (self.norm1, self.attn, self.norm2, self.mlp):
            l.build(input_shape)

    def call(self, x, training=None):
        x = x + self.drop_path1(self.attn(self.norm1(x)), training=training)
        return x + self.drop_path2(self.mlp(self.norm2(x)), training=training)


@register
class MobileViTAttention(keras.layers.Layer):
    """MobileViT block (Mehta & Rastegari, "MobileViT: Light-weight, General-purpose, and
    Mobile-friendly Vision Transformer", ICLR 2022).

    Local representation (kxk conv-BN-SiLU, 1x1 conv to `dim`), global representation
    (unfold into `patch_size` patches, a transformer over the patches at each pixel offset,
    LayerNorm, fold), 1x1 conv-BN-SiLU back to the input channels and a kxk conv-BN-SiLU
    fusion of `[input, result]`. Input (batch, height, width, in_channel); output the same
    shape. A size that is not a multiple of the patch is resized (bilinear) around the
    transformer, as timm does.

    Args (External-Attention names, timm's structure): in_channel, dim (transformer width),
    kernel_size, patch_size, depth (transformer blocks), num_heads, mlp_ratio, out_channel
    (None: in_channel), fusion (the conv_fusion step; timm's `no_fusion=False`), attn_drop, drop,
    drop_path (stochastic depth of each transformer block's two residual branches, timm's
    `drop_path_rate`).

    Sublayers follow timm's `MobileVitBlock`, so timm MobileViT checkpoints map by name:
    `conv_kxk.conv/bn`, `conv_1x1`, `transformer.{i}.norm1`, `.attn.qkv`, `.attn.proj`,
    `.norm2`, `.mlp.fc1`, `.mlp.fc2`, `norm`, `conv_proj.conv/bn`, `conv_fusion.conv/bn`.
    """

    def __init__(self, in_channel=3, dim=512, kernel_size=3, patch_size=7, depth=3, num_heads=8, mlp_ratio=2.0,
                 out_channel=None, fusion=True, attn_drop=0.0, drop=0.0, drop_path=0.0, **kwargs):
        super().__init__(**kwargs)
        self.in_channel, self.dim, self.kernel_size, self.patch_size = in_channel, dim, kernel_size, patch_size
        self.depth, self.num_heads, self.mlp_ratio, self.fusion = depth, num_heads, float(mlp_ratio), fusion
        self.out_channel = in_channel if out_channel is None else out_channel
        self.attn_drop_rate, self.drop_rate, self.drop_path_rate = float(attn_drop), float(drop), float(drop_path)
        dt = self.dtype_policy
        self.conv_kxk = conv_bn(in_channel, kernel_size, "conv_kxk", dtype=dt, activation="silu")
        self.conv_1x1 = Conv2d(dim, 1, use_bias=False, name="conv_1x1", dtype=dt)
        self.transformer = [_TransformerBlock(dim, num_heads, mlp_ratio, "silu", attn_drop, drop, drop_path,
                                              name=f"transformer.{i}", dtype=dt) for i in range(depth)]
        self.norm = layer_norm("norm", dt)
        self.conv_proj = conv_bn(self.out_channel, 1, "conv_proj", dtype=dt, activation="silu")
        self.conv_fusion = conv_bn(self.out_channel, kernel_size, "conv_fusion", dtype=dt, activation="silu") \
            if fusion else None

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.in_channel)
        b = shape[0]
        self.conv_kxk.build(shape)
        self.conv_1x1.build(tuple(shape[:3]) + (self.in_channel,))
        for blk in self.transformer:
            blk.build((None, None, self.dim))
        self.norm.build((None, None, self.dim))
        self.conv_proj.build((b, None, None, self.dim))
        if self.conv_fusion is not None:
            self.conv_fusion.build((b, None, None, self.in_channel + self.out_channel))

    def call(self, x, training=None):
        shortcut = x
        y = self.conv_1x1(self.conv_kxk(x))
        H, W = y.shape[1], y.shape[2]
        p = self.patch_size
        nh, nw = math.ceil(H / p), math.ceil(W / p)
        resized = (nh * p, nw * p) != (H, W)
        if resized:
            y = ops.image.resize(y, (nh * p, nw * p), interpolation="bilinear", antialias=False)
        # unfold: (B, nh*p, nw*p, D) -> (B*P, N, D), P pixels of a patch, N patches
        y = ops.reshape(y, (-1, nh, p, nw, p, self.dim))
        y = ops.reshape(ops.transpose(y, (0, 2, 4, 1, 3, 5)), (-1, nh * nw, self.dim))
        for blk in self.transformer:
            y = blk(y, training=training)
        y = self.norm(y)
        # fold
        y = ops.reshape(y, (-1, p, p, nh, nw, self.dim))
        y = ops.reshape(ops.transpose(y, (0, 3, 1, 4, 2, 5)), (-1, nh * p, nw * p, self.dim))
        if resized:
            y = ops.image.resize(y, (H, W), interpolation="bilinear", antialias=False)
        y = self.conv_proj(y)
        if self.conv_fusion is not None:
            y = self.conv_fusion(ops.concatenate([shortcut, y], axis=-1))
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + (self.out_channel,)

    def get_config(self):
        return {**super().get_config(), "in_channel": self.in_channel, "dim": self.dim,
                "kernel_size": self.kernel_size, "patch_size": self.patch_size, "depth": self.depth,
                "num_heads": self.num_heads, "mlp_ratio": self.mlp_ratio, "out_channel": self.out_channel,
                "fusion": self.fusion, "attn_drop": self.attn_drop_rate, "drop": self.drop_rate,
                "drop_path": self.drop_path_rate}


@register
class MobileViTv2Attention(keras.layers.Layer):
    """Separable self-attention of MobileViTv2 (Mehta & Rastegari, "Separable Self-attention
    for Mobile Vision Transformers", 2022), linear in the number of tokens:
    `cs = softmax_N(x W_I)`, `cv = sum_N cs * (x W_K)`, `out = W_O(ReLU(x W_V) * cv)`.

    Input tokens (batch, N, d_model), or unfolded patches (batch, P, N, d_model) (timm's
    (B, C, P, N) layout, channels last) where the softmax runs over N for each of the P
    pixel offsets. Output the input's shape.

    Args: d_model, attn_drop, proj_drop, bias.

    Sublayers follow timm's `LinearSelfAttention`: `qkv_proj` (d_model -> 1 + 2*d_model,
    split [query 1, key d, value d]) and `out_proj` (1x1 convs, held as Dense).

    `to_deploy()` gives the same layer with the fused projection in two, `qk_proj` (query, key)
    and `v_proj` (value, its ReLU inside): in TFLite the ReLU is then the FULLY_CONNECTED's own
    activation instead of a lone RELU on a slice, which int8 XNNPACK leaves to LiteRT's kernels.
    """

    def __init__(self, d_model, attn_drop=0.0, proj_drop=0.0, bias=True, split_value=False, **kwargs):
        super().__init__(**kwargs)
        self.d_model, self.attn_drop_rate, self.proj_drop_rate, self.bias = d_model, float(attn_drop), \
            float(proj_drop), bias
        self.split_value = bool(split_value)
        dt = self.dtype_policy
        if self.split_value:   # the deploy form
            self.qk_proj = dense(1 + d_model, "qk_proj", dt, use_bias=bias)
            self.v_proj = dense(d_model, "v_proj", dt, use_bias=bias, activation="relu")
        else:
            self.qkv_proj = dense(1 + 2 * d_model, "qkv_proj", dt, use_bias=bias)
        self.out_proj = dense(d_model, "out_proj", dt, use_bias=bias)
        self.attn_drop = keras.layers.Dropout(self.attn_drop_rate, name="attn_drop", dtype=dt)
        self.out_drop = keras.layers.Dropout(self.proj_drop_rate, name="out_drop", dtype=dt)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=(3, 4), channels=self.d_model,
                            layout="tokens (batch, N, d_model) or patches (batch, P, N, d_model)")
        for proj in (self.qk_proj, self.v_proj) if self.split_value else (self.qkv_proj,):
            proj.build(shape)
        self.out_proj.build(shape)

    def call(self, x):
        d = self.d_model
        if self.split_value:
            qk, value = self.qk_proj(x), self.v_proj(x)
            query, key = qk[..., :1], qk[..., 1:]
        else:
            qkv = self.qkv_proj(x)
            query, key, value = qkv[..., :1], qkv[..., 1:1 + d], ops.relu(qkv[..., 1 + d:])
        scores = self.attn_drop(ops.softmax(query, axis=-2))                # over the N tokens
        context = ops.sum(key * scores, axis=-2, keepdims=True)
        return self.out_drop(self.out_proj(value * context))

    def to_deploy(self):
        """This layer with `qkv_proj` split into `qk_proj` and `v_proj` (see the class docstring)."""
        if self.split_value:
            return self
        new = type(self).from_config({**self.get_config(), "split_value": True, "name": self.name})
        new.build((None, None, self.d_model))
        kernel, *bias = self.qkv_proj.get_weights()
        d1 = 1 + self.d_model
        new.qk_proj.set_weights([kernel[:, :d1]] + [b[:d1] for b in bias])
        new.v_proj.set_weights([kernel[:, d1:]] + [b[d1:] for b in bias])
        new.out_proj.set_weights(self.out_proj.get_weights())
        return new

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "attn_drop": self.attn_drop_rate,
                "proj_drop": self.proj_drop_rate, "bias": self.bias, "split_value": self.split_value}


@register
class GroupNorm1(keras.layers.GroupNormalization):
    """timm's `GroupNorm1` (`nn.GroupNorm(1, C)`, eps 1e-5), MobileViTv2's transformer norm: each
    sample normalised over all its axes (H, W, C or P, N, C) together, then a per-channel affine.

    Written out as mean / centred product / rsqrt over the static non-batch axes: Keras'
    GroupNormalization reshapes through the dynamic input shape, which is what made other TFLite
    ports of MobileViTv2 need a Flex (dynamic-shape) Conv2D after it. The variance squares the
    centred input as a product (`d * d`, the same values as `square(d)`): TFLite then has a MUL,
    which XNNPACK runs in int8, where `square` became a SQUARED_DIFFERENCE that it leaves to
    LiteRT's own kernels. Weights `weight`, `bias` (Keras gamma/beta) map from the checkpoint by name.
    """

    def __init__(self, epsilon=1e-5, groups=1, **kwargs):
        if groups != 1:
            raise ValueError(f"GroupNorm1 normalises one group, got groups={groups}")
        super().__init__(groups=1, epsilon=epsilon, **kwargs)

    def call(self, x):
        axes = tuple(range(1, len(x.shape)))
        mean = ops.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        var = ops.mean(centered * centered, axis=axes, keepdims=True)
        y = centered * ops.rsqrt(var + self.epsilon)
        return y * self.gamma + self.beta


@register
class ResizeAlignCorners(keras.layers.Layer):
    """Bilinear resize with `align_corners=True` (PyTorch `F.interpolate(..., mode="bilinear",
    align_corners=True)`), which MobileViTv2 uses to bring a map up to a multiple of its patch.
    TensorFlow's `ResizeBilinear(align_corners=True)` is a builtin TFLite op (RESIZE_BILINEAR) and
    converts to ONNX Resize(align_corners). Input (batch, H, W, C) -> (batch, size[0], size[1], C).
    """

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = (int(size[0]), int(size[1]))

    def call(self, x):
        import tensorflow as tf
        y = tf.raw_ops.ResizeBilinear(images=x, size=self.size, align_corners=True, half_pixel_centers=False)
        return ops.cast(y, x.dtype)   # the op computes in float32

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "size": list(self.size)}
