"""Infini-attention: local attention plus a compressive memory carried across segments."""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ._blocks import attention
from ._nn import dense, merge_heads, split_heads
from .base import check_input, register


def _sigma(x):
    return ops.elu(x) + 1.0


@register
class InfiniAttention(keras.layers.Layer):
    """Infini-attention (Munkhdalai et al., "Leave No Context Behind: Efficient Infinite
    Context Transformers with Infini-attention", 2024).

    The sequence is processed segment by segment. In segment s, each head combines
    - local dot-product attention within the segment (causal by default, as in the paper), and
    - retrieval from a compressive memory of all previous segments,
      `A_mem = sigma(Q) M_{s-1} / (sigma(Q) z_{s-1})`, sigma = ELU + 1,
    as `sigmoid(beta) * A_mem + (1 - sigmoid(beta)) * A_dot`; then the memory is updated with
    the segment's keys and values: `M_s = M_{s-1} + sigma(K)^T V` (linear) or, with the delta
    rule, `M_s = M_{s-1} + sigma(K)^T (V - sigma(K) M_{s-1} / (sigma(K) z_{s-1}))`;
    `z_s = z_{s-1} + sum_t sigma(K_t)`. The memory starts empty (zero) at every call; its
    arithmetic is float32 under any policy.

    Input tokens (batch, n, d_model), n a static multiple of segment_len; output the same shape.

    Args: d_model, h (heads), d_k, d_v (per head; default d_model // h), segment_len (None:
    one segment), delta_rule, causal, dropout (on the local attention map).
    Sublayers `fc_q`, `fc_k`, `fc_v`, `fc_o`; weight `betas` (h,), the paper's gating beta.
    """

    def __init__(self, d_model, h=8, d_k=None, d_v=None, segment_len=None, delta_rule=False, causal=True,
                 dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.d_model, self.h = d_model, h
        self.d_k = d_model // h if d_k is None else d_k
        self.d_v = d_model // h if d_v is None else d_v
        self.segment_len, self.delta_rule, self.causal, self.dropout_rate = segment_len, bool(delta_rule), \
            bool(causal), float(dropout)
        dt = self.dtype_policy
        self.fc_q = dense(h * self.d_k, "fc_q", dt)
        self.fc_k = dense(h * self.d_k, "fc_k", dt)
        self.fc_v = dense(h * self.d_v, "fc_v", dt)
        self.fc_o = dense(d_model, "fc_o", dt)
        self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout", dtype=dt)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=3, channels=self.d_model)
        n = shape[1]
        seg = self.segment_len or n
        if n is None or seg is None or n % seg:
            raise ValueError(f"InfiniAttention '{self.name}' expects tokens (batch, n, {self.d_model}) with a static "
                             f"n divisible by segment_len={self.segment_len}, got {shape}.")
        for fc in (self.fc_q, self.fc_k, self.fc_v):
            fc.build((None, None, self.d_model))
        self.fc_o.build((None, None, self.h * self.d_v))
        self.betas = self.add_weight(name="betas", shape=(self.h,), initializer="zeros")

    def call(self, x):
        n = x.shape[1]
        seg = self.segment_len or n
        q_all = split_heads(self.fc_q(x), self.h)           # (B, h, n, d_k)
        k_all = split_heads(self.fc_k(x), self.h)
        v_all = split_heads(self.fc_v(x), self.h)           # (B, h, n, d_v)
        gate = ops.cast(ops.sigmoid(self.betas), "float32")[None, :, None, None]
        causal = np.tril(np.ones((seg, seg), dtype=bool))
        mem = norm = None                                    # M (B, h, d_k, d_v), z (B, h, d_k, 1)
        outs = []
        for s in range(n // seg):
            q, k, v = (t[:, :, s * seg:(s + 1) * seg] for t in (q_all, k_all, v_all))
            a_dot = attention(q, k, v, scale=1 / math.sqrt(self.d_k), mask=causal if self.causal else None,
                              dropout=self.dropout)
            a_dot = ops.cast(a_dot, "float32")
            sq, sk, v32 = _sigma(ops.cast(q, "float32")), _sigma(ops.cast(k, "float32")), ops.cast(v, "float32")
            if mem is None:     # empty memory: nothing to retrieve
                a_mem = ops.zeros_like(a_dot)
                update = v32
            else:
                a_mem = ops.matmul(sq, mem) / (ops.matmul(sq, norm) + 1e-6)
                update = v32 - ops.matmul(sk, mem) / (ops.matmul(sk, norm) + 1e-6) if self.delta_rule else v32
            outs.append(ops.cast(gate * a_mem + (1 - gate) * a_dot, x.dtype))
            delta = ops.matmul(ops.transpose(sk, (0, 1, 3, 2)), update)
            zsum = ops.expand_dims(ops.sum(sk, axis=2), -1)
            mem = delta if mem is None else mem + delta
            norm = zsum if norm is None else norm + zsum
        out = outs[0] if len(outs) == 1 else ops.concatenate(outs, axis=2)
        return self.fc_o(merge_heads(out))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "h": self.h, "d_k": self.d_k, "d_v": self.d_v,
                "segment_len": self.segment_len, "delta_rule": self.delta_rule, "causal": self.causal,
                "dropout": self.dropout_rate}
