"""Vision Permutator's weighted permute-MLP."""
from __future__ import annotations

import keras
from keras import ops

from ._blocks import Mlp
from ._nn import dense
from .base import check_input, register


@register
class WeightedPermuteMLP(keras.layers.Layer):
    """Weighted permute-MLP of ViP (Hou et al., "Vision Permutator: A Permutable MLP-Like
    Architecture for Visual Recognition", TPAMI 2022).

    Three branches encode along channels (`mlp_c`), height (`mlp_h`) and width (`mlp_w`);
    the height/width branches permute `seg_dim` channel segments into the spatial axis. A
    split-attention MLP (`reweighting`) mixes the three, then `proj`.
    Input (batch, H, W, dim) with H = W = seg_dim (the permuted axis must have dim entries);
    output the same shape.

    Args: dim, seg_dim, qkv_bias (of the three branch linears), proj_drop.
    """

    def __init__(self, dim, seg_dim=8, qkv_bias=False, proj_drop=0.0, **kwargs):
        super().__init__(**kwargs)
        if dim % seg_dim:
            raise ValueError(f"WeightedPermuteMLP: seg_dim ({seg_dim}) must divide dim ({dim})")
        self.dim, self.seg_dim, self.qkv_bias, self.proj_drop_rate = dim, seg_dim, qkv_bias, float(proj_drop)
        dt = self.dtype_policy
        self.mlp_c, self.mlp_h, self.mlp_w = (dense(dim, n, dt, use_bias=qkv_bias) for n in ("mlp_c", "mlp_h", "mlp_w"))
        # the reference's `Mlp` drops 0.1 after the activation and after fc2 (training only)
        self.reweighting = Mlp(dim // 4, dim * 3, drop=0.1, name="reweighting", dtype=dt)
        self.proj = dense(dim, "proj", dt)
        self.proj_drop = keras.layers.Dropout(self.proj_drop_rate, name="proj_drop", dtype=dt)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.dim)
        if shape[1] != self.seg_dim or shape[2] != self.seg_dim:
            raise ValueError(f"WeightedPermuteMLP '{self.name}' expects input of shape (batch, {self.seg_dim}, "
                             f"{self.seg_dim}, {self.dim}) (H = W = seg_dim), got {shape}.")
        for l in (self.mlp_c, self.mlp_h, self.mlp_w, self.proj):
            l.build((shape[0], None, self.dim))
        self.reweighting.build((shape[0], self.dim))

    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        seg, s = self.seg_dim, c // self.seg_dim
        c_embed = self.mlp_c(x)
        xs = ops.reshape(x, (-1, h, w, seg, s))
        h_embed = ops.reshape(ops.transpose(xs, (0, 3, 2, 1, 4)), (-1, seg, w, h * s))
        h_embed = ops.transpose(ops.reshape(self.mlp_h(h_embed), (-1, seg, w, h, s)), (0, 3, 2, 1, 4))
        h_embed = ops.reshape(h_embed, (-1, h, w, c))
        w_embed = ops.reshape(ops.transpose(xs, (0, 3, 1, 2, 4)), (-1, seg, h, w * s))
        w_embed = ops.transpose(ops.reshape(self.mlp_w(w_embed), (-1, seg, h, w, s)), (0, 2, 3, 1, 4))
        w_embed = ops.reshape(w_embed, (-1, h, w, c))
        weight = ops.mean(c_embed + h_embed + w_embed, axis=(1, 2))                    # (B, C)
        weight = ops.softmax(ops.reshape(self.reweighting(weight), (-1, c, 3)), axis=-1)
        weight = weight[:, None, None, :, :]
        out = c_embed * weight[..., 0] + w_embed * weight[..., 1] + h_embed * weight[..., 2]
        return self.proj_drop(self.proj(out))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "seg_dim": self.seg_dim, "qkv_bias": self.qkv_bias,
                "proj_drop": self.proj_drop_rate}
