"""Squeeze-and-Excitation channel attention."""
from __future__ import annotations

import keras
from keras import ops

from ._nn import get_activation
from .base import check_input, register
from ._util import make_divisible


@register
class SEAttention(keras.layers.Layer):
    """Squeeze-and-Excitation (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018).

    `x * gate(fc2(act(fc1(mean_hw(x)))))` on NHWC input (batch, height, width, channel);
    the output has the input's shape.

    Args:
        channel: input channels (inferred from the input when None).
        reduction: hidden width is `channel / reduction` (paper: 16).
        rd_channels: hidden width, overriding `reduction`.
        rd_divisor: round the hidden width to a multiple of this (timm's ResNets use 8);
            None keeps `channel // reduction` (the paper, timm's legacy SENets).
        use_bias: biases in fc1/fc2 (the paper has them).
        activation, gate: hidden activation and gating function.

    Sublayers `fc1`, `fc2` match timm's `SEModule` and the legacy `se_module` checkpoints.
    """

    def __init__(self, channel=None, reduction=16, rd_channels=None, rd_divisor=None, use_bias=True,
                 activation="relu", gate="sigmoid", **kwargs):
        super().__init__(**kwargs)
        if reduction is None or reduction <= 0:
            raise ValueError(f"SEAttention: reduction must be positive, got {reduction!r}")
        self.channel = channel
        self.reduction = reduction
        self.rd_channels = rd_channels
        self.rd_divisor = rd_divisor
        self.use_bias = use_bias
        self.activation = get_activation(activation)
        self.gate = keras.activations.get(gate)
        self._activation_name = activation
        self._gate_name = gate
        self.fc1 = self.fc2 = None

    def hidden_channels(self, channel: int) -> int:
        if self.rd_channels:
            return int(self.rd_channels)
        if self.rd_divisor:
            return make_divisible(channel / self.reduction, self.rd_divisor, round_limit=0.0)
        return max(1, channel // self.reduction)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.channel)
        channel = shape[-1]
        if channel is None:
            raise ValueError(f"SEAttention '{self.name}' needs a known channel count, got {shape}.")
        rd = self.hidden_channels(channel)
        self.fc1 = keras.layers.Dense(rd, use_bias=self.use_bias, name="fc1", dtype=self.dtype_policy)
        self.fc2 = keras.layers.Dense(channel, use_bias=self.use_bias, name="fc2", dtype=self.dtype_policy)
        self.fc1.build((shape[0], channel))
        self.fc2.build((shape[0], rd))
        self.channel = channel

    def call(self, x):
        s = ops.mean(x, axis=(1, 2))
        s = self.fc2(self.activation(self.fc1(s)))
        return x * ops.expand_dims(ops.expand_dims(self.gate(s), 1), 1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channel": self.channel, "reduction": self.reduction,
                "rd_channels": self.rd_channels, "rd_divisor": self.rd_divisor,
                "use_bias": self.use_bias, "activation": self._activation_name, "gate": self._gate_name}
