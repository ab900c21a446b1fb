"""HaloNet's blocked local self-attention with halos."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ._blocks import attention
from ._nn import dense, merge_heads, split_heads, unfold
from .base import check_input, register


def rel_to_abs_index(q_len: int, rel_size: int) -> np.ndarray:
    """Index (q_len, rel_size) into the 2*rel_size-1 relative logits that the reference's
    pad-and-reshape `rel_to_abs` trick selects (simulated on indices, so exactly the same)."""
    m = 2 * rel_size - 1
    x = np.tile(np.arange(m), (q_len, 1))                                 # (l, m)
    x = np.concatenate([x, np.full((q_len, 1), -1)], axis=1).reshape(-1)
    x = np.concatenate([x, np.full(m - q_len, -1)])
    x = x.reshape(q_len + 1, m)[:q_len, -rel_size:]
    if (x < 0).any():
        raise ValueError("HaloAttention: relative index out of range")
    return x.astype(np.int32)


@register
class HaloAttention(keras.layers.Layer):
    """Blocked self-attention with halos (Vaswani et al., "Scaling Local Self-Attention for
    Parameter Efficient Visual Backbones", CVPR 2021): the map is cut into block x block
    queries, each attending to its block extended by `halo_size` on every side, with 2-D
    relative position logits; padded positions are masked out.

    Input (batch, H, W, dim), H and W static multiples of block_size; output the same shape.

    Args (keyword-only, as in the reference): dim, block_size, halo_size, dim_head, heads.
    Sublayers `to_q`, `to_kv`, `to_out`, `rel_pos_emb` (weights `rel_height`, `rel_width`),
    the External-Attention (lucidrains) names. The reference masks the valid positions
    instead of the padding (a known bug of that port); here the padding is masked.
    """

    def __init__(self, *, dim, block_size, halo_size, dim_head=64, heads=8, **kwargs):
        super().__init__(**kwargs)
        if halo_size <= 0:
            raise ValueError("HaloAttention: halo_size must be greater than 0")
        self.dim, self.block_size, self.halo_size, self.dim_head, self.heads = dim, block_size, halo_size, dim_head, heads
        self.scale = dim_head ** -0.5
        inner = dim_head * heads
        dt = self.dtype_policy
        self.to_q = dense(inner, "to_q", dt, use_bias=False)
        self.to_kv = dense(inner * 2, "to_kv", dt, use_bias=False)
        self.to_out = dense(dim, "to_out", dt)
        self.rel_pos_emb = _RelPosEmb(block_size, block_size + 2 * halo_size, dim_head, name="rel_pos_emb", dtype=dt)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.dim)
        H, W = shape[1], shape[2]
        if H is None or W is None or H % self.block_size or W % self.block_size:
            raise ValueError(f"HaloAttention '{self.name}' expects input of shape (batch, H, W, {self.dim}) with static "
                             f"H, W divisible by block_size={self.block_size}, got {shape}.")
        self.to_q.build((None, None, self.dim))
        self.to_kv.build((None, None, self.dim))
        self.to_out.build((None, None, self.dim_head * self.heads))
        self.rel_pos_emb.build(None)

    def call(self, x):
        H, W, c = x.shape[1], x.shape[2], x.shape[3]
        b, halo, nh, d = self.block_size, self.halo_size, self.heads, self.dim_head
        nbh, nbw = H // b, W // b
        win = b + 2 * halo
        q_inp = ops.reshape(ops.transpose(ops.reshape(x, (-1, nbh, b, nbw, b, c)), (0, 1, 3, 2, 4, 5)),
                            (-1, b * b, c))                                          # (B*nb, b*b, C)
        kv_inp = ops.reshape(unfold(x, win, b, halo), (-1, win * win, c))            # (B*nb, win*win, C)
        g = nbh * nbw * nh                                                           # blocks x heads
        kv = self.to_kv(kv_inp)

        def heads(t):  # (B*nb, n, heads*d) -> (B, nb*heads, n, d): rank 4, an axis the mask can name
            return ops.reshape(split_heads(t, nh), (-1, g, t.shape[1], d))

        q, k, v = heads(self.to_q(q_inp)) * self.scale, heads(kv[..., :nh * d]), heads(kv[..., nh * d:])
        rel = ops.reshape(self.rel_pos_emb(ops.reshape(q, (-1, b * b, d))), (-1, g, b * b, win * win))
        # positions of a window that fall in the zero padding are masked
        valid = np.pad(np.ones((H, W), bool), halo)
        valid = np.stack([valid[i * b:i * b + win, j * b:j * b + win].reshape(-1)
                          for i in range(nbh) for j in range(nbw)])                  # (nb, win*win)
        mask = np.repeat(valid, nh, axis=0)[None, :, None, :]                        # (1, nb*heads, 1, win*win)
        # q is scaled already: the relative logits take the scaled q, as in the reference
        out = attention(q, k, v, scale=1.0, bias=rel, mask=mask)
        out = merge_heads(ops.reshape(out, (-1, nh, b * b, d)))                      # (B*nb, b*b, nh*d)
        out = self.to_out(out)
        out = ops.reshape(out, (-1, nbh, nbw, b, b, c))
        return ops.reshape(ops.transpose(out, (0, 1, 3, 2, 4, 5)), (-1, H, W, c))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "block_size": self.block_size, "halo_size": self.halo_size,
                "dim_head": self.dim_head, "heads": self.heads}


class _RelPosEmb(keras.layers.Layer):
    """2-D relative logits of a block x block query against its (block+2*halo)^2 window."""

    def __init__(self, block_size, rel_size, dim_head, **kwargs):
        super().__init__(**kwargs)
        self.block_size, self.rel_size, self.dim_head = block_size, rel_size, dim_head

    def build(self, input_shape=None):
        init = keras.initializers.RandomNormal(stddev=self.dim_head ** -0.5)
        m = 2 * self.rel_size - 1
        self.rel_height = self.add_weight(name="rel_height", shape=(m, self.dim_head), initializer=init)
        self.rel_width = self.add_weight(name="rel_width", shape=(m, self.dim_head), initializer=init)

    def call(self, q):                                                  # (N, b*b, d)
        b, r, d = self.block_size, self.rel_size, self.dim_head
        idx = rel_to_abs_index(b, r).reshape(-1)                        # (b*r,): query pos -> table rows
        q = ops.reshape(q, (-1, b, b, 1, d))                            # (N, x, y, 1, d)
        # width logits depend on (y, key column), height logits on (x, key row)
        rel_w = ops.transpose(ops.reshape(ops.take(self.rel_width, idx, axis=0), (b, r, d)), (0, 2, 1))   # (y, d, r)
        rel_h = ops.transpose(ops.reshape(ops.take(self.rel_height, idx, axis=0), (b, r, d)), (0, 2, 1))  # (x, d, r)
        lw = ops.matmul(q, rel_w)[:, :, :, 0, :]                                        # (N, x, y, r_col)
        lh = ops.matmul(ops.transpose(q, (0, 2, 1, 3, 4)), rel_h)[:, :, :, 0, :]        # (N, y, x, r_row)
        lh = ops.transpose(lh, (0, 2, 1, 3))                                            # (N, x, y, r_row)
        logits = lh[:, :, :, :, None] + lw[:, :, :, None, :]                            # (N, x, y, row, col)
        return ops.reshape(logits, (-1, b * b, r * r))
