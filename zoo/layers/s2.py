"""S2-MLPv2 attention: spatial shifts and split attention."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import dense, gelu
from .base import check_input, register


def _shift(x, axis, forward):
    """Shift by one position along `axis` (1: H, 2: W), the border keeping its own value."""
    n = x.shape[axis]
    if forward:   # out[i] = x[i-1], out[0] = x[0]
        parts = [ops.take(x, [0], axis=axis), ops.take(x, list(range(n - 1)), axis=axis)]
    else:         # out[i] = x[i+1], out[n-1] = x[n-1]
        parts = [ops.take(x, list(range(1, n)), axis=axis), ops.take(x, [n - 1], axis=axis)]
    return ops.concatenate(parts, axis=axis)


def spatial_shift(x, order):
    """The four-direction shift of S2-MLP on channel quarters; order 1 shifts H then W,
    order 2 shifts W then H (spatial_shift1 / spatial_shift2 of the reference)."""
    c = x.shape[-1]
    q = [x[..., :c // 4], x[..., c // 4:c // 2], x[..., c // 2:c * 3 // 4], x[..., c * 3 // 4:]]
    a, b = (1, 2) if order == 1 else (2, 1)
    return ops.concatenate([_shift(q[0], a, True), _shift(q[1], a, False),
                            _shift(q[2], b, True), _shift(q[3], b, False)], axis=-1)


class _SplitAttention(keras.layers.Layer):
    def __init__(self, channel, k=3, **kwargs):
        super().__init__(**kwargs)
        self.channel, self.k = channel, k
        self.mlp1 = dense(channel, "mlp1", self.dtype_policy, use_bias=False)
        self.mlp2 = dense(channel * k, "mlp2", self.dtype_policy, use_bias=False)

    def build(self, input_shape):
        self.mlp1.build((None, self.channel))
        self.mlp2.build((None, self.channel))

    def call(self, xs):
        a = None
        for t in xs:
            s = ops.sum(t, axis=(1, 2))
            a = s if a is None else a + s                                      # (B, C)
        hat_a = ops.reshape(self.mlp2(gelu(self.mlp1(a))), (-1, self.k, self.channel))
        bar_a = ops.softmax(hat_a, axis=1)
        out = None
        for i, t in enumerate(xs):
            term = t * bar_a[:, None, None, i, :]
            out = term if out is None else out + term
        return out


@register
class S2Attention(keras.layers.Layer):
    """S2-MLPv2 attention (Yu et al., "S2-MLPv2: Improved Spatial-Shift MLP Architecture for
    Vision", 2021): `mlp1` to 3C, two differently ordered spatial shifts on the first two
    thirds, split attention over the three, `mlp2`.
    Input (batch, height, width, channels); output the same shape.

    Args: channels (divisible by 4). Sublayers `mlp1`, `mlp2`, `split_attention.mlp1`,
    `split_attention.mlp2` (the reference builds its split attention for 512 channels
    whatever `channels` is; here it follows `channels`).
    """

    def __init__(self, channels=512, **kwargs):
        super().__init__(**kwargs)
        if channels % 4:
            raise ValueError(f"S2Attention: channels must be divisible by 4, got {channels}")
        self.channels = channels
        dt = self.dtype_policy
        self.mlp1 = dense(channels * 3, "mlp1", dt)
        self.mlp2 = dense(channels, "mlp2", dt)
        self.split_attention = _SplitAttention(channels, name="split_attention", dtype=dt)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.channels)
        self.mlp1.build(shape)
        self.mlp2.build(shape)
        self.split_attention.build(shape)

    def call(self, x):
        c = self.channels
        x = self.mlp1(x)
        x1 = spatial_shift(x[..., :c], 1)
        x2 = spatial_shift(x[..., c:2 * c], 2)
        x3 = x[..., 2 * c:]
        return self.mlp2(self.split_attention([x1, x2, x3]))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}
