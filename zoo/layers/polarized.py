"""Polarized self-attention, parallel and sequential layouts."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import dense, layer_norm
from .base import check_input, register


class _PolarizedBase(keras.layers.Layer):
    def __init__(self, channel=512, **kwargs):
        super().__init__(**kwargs)
        if channel % 2:
            raise ValueError(f"{type(self).__name__}: channel must be even, got {channel}")
        self.channel = channel
        dt = self.dtype_policy
        half = channel // 2
        self.ch_wv, self.ch_wq = dense(half, "ch_wv", dt), dense(1, "ch_wq", dt)
        self.ch_wz = dense(channel, "ch_wz", dt)
        self.ln = layer_norm("ln", dt)
        self.sp_wv, self.sp_wq = dense(half, "sp_wv", dt), dense(half, "sp_wq", dt)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.channel)
        for l in (self.ch_wv, self.ch_wq, self.sp_wv, self.sp_wq):
            l.build((shape[0], None, self.channel))
        self.ch_wz.build((shape[0], self.channel // 2))
        self.ln.build((shape[0], self.channel))

    def channel_weight(self, x):
        """sigmoid(LN(W_z(W_v(x) softmax_hw(W_q(x))))) -> (B, 1, 1, C)."""
        h, w = x.shape[1], x.shape[2]
        t = ops.reshape(x, (-1, h * w, self.channel))
        wq = ops.softmax(self.ch_wq(t), axis=1)                              # (B, N, 1)
        wz = ops.sum(self.ch_wv(t) * wq, axis=1)                             # (B, C/2)
        return ops.sigmoid(self.ln(self.ch_wz(wz)))[:, None, None, :]

    def spatial_weight(self, x):
        """sigmoid(softmax_c(mean_hw W_q(x)) . W_v(x)) -> (B, H, W, 1)."""
        wq = ops.softmax(ops.mean(self.sp_wq(x), axis=(1, 2), keepdims=True), axis=-1)   # (B, 1, 1, C/2)
        return ops.sigmoid(ops.sum(self.sp_wv(x) * wq, axis=-1, keepdims=True))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channel": self.channel}


_DOC = """Polarized self-attention (Liu et al., "Polarized Self-Attention: Towards High-quality
    Pixel-wise Regression", 2021), {layout} layout.

    Channel-only branch: `sigmoid(LN(W_z(W_v(x) softmax_hw(W_q(x)))))`; spatial-only branch:
    `sigmoid(softmax_c(GAP(W_q(x))) . W_v(x))`. {combine}
    Input (batch, height, width, channel); output the same shape.

    Args: channel (even). Sublayers `ch_wv`, `ch_wq`, `ch_wz`, `ln`, `sp_wv`, `sp_wq` (1x1
    convs held as Dense).
    """


@register
class ParallelPolarizedSelfAttention(_PolarizedBase):
    __doc__ = _DOC.format(layout="parallel", combine="Output `x * channel + x * spatial`.")

    def call(self, x):
        return x * self.channel_weight(x) + x * self.spatial_weight(x)


@register
class SequentialPolarizedSelfAttention(_PolarizedBase):
    __doc__ = _DOC.format(layout="sequential",
                          combine="Output `y * spatial(y)` with `y = x * channel(x)`.")

    def call(self, x):
        y = x * self.channel_weight(x)
        return y * self.spatial_weight(y)
