"""MLP-Mixer, ResMLP and gMLP blocks, with timm's module names (timm has their weights)."""
from __future__ import annotations

import keras
from keras import ops

from ._blocks import Mlp
from ._nn import dense, layer_norm
from .base import check_input, register


def _check_seq(layer, shape, seq_len, dim):
    shape = check_input(layer, shape, rank=3, channels=dim)
    if shape[1] is not None and shape[1] != seq_len:
        raise ValueError(f"{type(layer).__name__} '{layer.name}' expects tokens (batch, {seq_len}, {dim}), got {shape}.")
    return shape


@register
class MixerBlock(keras.layers.Layer):
    """MLP-Mixer block (Tolstikhin et al., "MLP-Mixer: An all-MLP Architecture for Vision",
    NeurIPS 2021): `x + T(MLP_tokens(T(LN(x))))`, then `x + MLP_channels(LN(x))`.

    Input tokens (batch, tokens_mlp_dim, channels_mlp_dim); output the same shape.

    Args (External-Attention's names): tokens_mlp_dim (number of tokens), channels_mlp_dim
    (channels), tokens_hidden_dim, channels_hidden_dim, eps (LayerNorm; timm 1e-6).
    Sublayers are timm's: `norm1`, `mlp_tokens.fc1/fc2`, `norm2`, `mlp_channels.fc1/fc2`.
    """

    def __init__(self, tokens_mlp_dim=16, channels_mlp_dim=1024, tokens_hidden_dim=32, channels_hidden_dim=1024,
                 eps=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.tokens_mlp_dim, self.channels_mlp_dim = tokens_mlp_dim, channels_mlp_dim
        self.tokens_hidden_dim, self.channels_hidden_dim, self.eps = tokens_hidden_dim, channels_hidden_dim, eps
        dt = self.dtype_policy
        self.norm1 = layer_norm("norm1", dt, eps)
        self.mlp_tokens = Mlp(tokens_hidden_dim, tokens_mlp_dim, name="mlp_tokens", dtype=dt)
        self.norm2 = layer_norm("norm2", dt, eps)
        self.mlp_channels = Mlp(channels_hidden_dim, channels_mlp_dim, name="mlp_channels", dtype=dt)

    def build(self, input_shape):
        shape = _check_seq(self, input_shape, self.tokens_mlp_dim, self.channels_mlp_dim)
        self.norm1.build(shape)
        self.norm2.build(shape)
        self.mlp_tokens.build((shape[0], self.channels_mlp_dim, self.tokens_mlp_dim))
        self.mlp_channels.build(shape)

    def call(self, x):
        x = x + ops.transpose(self.mlp_tokens(ops.transpose(self.norm1(x), (0, 2, 1))), (0, 2, 1))
        return x + self.mlp_channels(self.norm2(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "tokens_mlp_dim": self.tokens_mlp_dim, "channels_mlp_dim": self.channels_mlp_dim,
                "tokens_hidden_dim": self.tokens_hidden_dim, "channels_hidden_dim": self.channels_hidden_dim,
                "eps": self.eps}


class _Affine(keras.layers.Layer):
    """ResMLP's Aff: `alpha * x + beta` per channel (PyTorch (1, 1, dim) parameters, kept (dim,))."""

    def build(self, input_shape):
        self.alpha = self.add_weight(name="alpha", shape=(input_shape[-1],), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(input_shape[-1],), initializer="zeros")

    def call(self, x):
        return x * self.alpha + self.beta

    def torch_to_keras(self, name, array):
        return array.reshape(-1)


@register
class ResMLPBlock(keras.layers.Layer):
    """ResMLP block (Touvron et al., "ResMLP: Feedforward networks for image classification
    with data-efficient training", TPAMI 2022): `x + ls1 * T(linear_tokens(T(Aff(x))))`, then
    `x + ls2 * MLP(Aff(x))`.

    Input tokens (batch, seq_len, dim); output the same shape.

    Args: dim, seq_len, mlp_ratio (4), init_values (layer-scale init, timm 1e-4).
    Sublayers are timm's: `norm1` (alpha, beta), `linear_tokens`, `norm2`,
    `mlp_channels.fc1/fc2`; weights `ls1`, `ls2`.
    """

    def __init__(self, dim=128, seq_len=196, mlp_ratio=4, init_values=1e-4, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.seq_len, self.mlp_ratio, self.init_values = dim, seq_len, mlp_ratio, float(init_values)
        dt = self.dtype_policy
        self.norm1 = _Affine(name="norm1", dtype=dt)
        self.linear_tokens = dense(seq_len, "linear_tokens", dt)
        self.norm2 = _Affine(name="norm2", dtype=dt)
        self.mlp_channels = Mlp(int(dim * mlp_ratio), dim, name="mlp_channels", dtype=dt)

    def build(self, input_shape):
        shape = _check_seq(self, input_shape, self.seq_len, self.dim)
        self.norm1.build(shape)
        self.norm2.build(shape)
        self.linear_tokens.build((shape[0], self.dim, self.seq_len))
        self.mlp_channels.build(shape)
        init = keras.initializers.Constant(self.init_values)
        self.ls1 = self.add_weight(name="ls1", shape=(self.dim,), initializer=init)
        self.ls2 = self.add_weight(name="ls2", shape=(self.dim,), initializer=init)

    def call(self, x):
        x = x + self.ls1 * ops.transpose(self.linear_tokens(ops.transpose(self.norm1(x), (0, 2, 1))), (0, 2, 1))
        return x + self.ls2 * self.mlp_channels(self.norm2(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "seq_len": self.seq_len, "mlp_ratio": self.mlp_ratio,
                "init_values": self.init_values}


class _SpatialGatingUnit(keras.layers.Layer):
    def __init__(self, gate_dim, seq_len, **kwargs):
        super().__init__(**kwargs)
        self.gate_dim, self.seq_len = gate_dim, seq_len
        self.norm = layer_norm("norm", self.dtype_policy, 1e-5)
        self.proj = keras.layers.Dense(seq_len, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-6),
                                       bias_initializer="ones", name="proj", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.norm.build((None, self.seq_len, self.gate_dim))
        self.proj.build((None, self.gate_dim, self.seq_len))

    def call(self, x):
        u, v = x[..., :self.gate_dim], x[..., self.gate_dim:]
        v = ops.transpose(self.proj(ops.transpose(self.norm(v), (0, 2, 1))), (0, 2, 1))
        return u * v


class _GatedMlp(Mlp):
    """timm's `GatedMlp`: `Mlp` with the spatial gating unit between the activation and fc2
    (fc1 gives 2*d_ff channels, the gate halves them)."""

    def __init__(self, dim, d_ff, seq_len, **kwargs):
        super().__init__(2 * d_ff, dim, **kwargs)
        self.gate = _SpatialGatingUnit(d_ff, seq_len, name="gate", dtype=self.dtype_policy)
        self.d_ff = d_ff

    def build(self, input_shape):
        super().build(input_shape)
        self.gate.build(None)

    def _fc2_features(self, hidden):
        return self.d_ff

    def call(self, x, training=None):
        x = self.gate(self.drop1(self.fc1(x), training=training))
        return self.drop2(self.fc2(x), training=training)


@register
class gMLPBlock(keras.layers.Layer):  # noqa: N801 (the paper's spelling)
    """gMLP block (Liu et al., "Pay Attention to MLPs", NeurIPS 2021): `x + fc2(SGU(GELU(fc1(
    LN(x)))))`, the spatial gating unit `u * (W LN(v) + b)` mixing along the tokens.

    Input tokens (batch, len_sen, dim); output the same shape.

    Args (External-Attention's names): dim, len_sen (tokens), d_ff (gate width; fc1 outputs
    2*d_ff), eps (LayerNorm; timm 1e-6).
    Sublayers are timm's `SpatialGatingBlock`: `norm`, `mlp_channels.fc1`,
    `mlp_channels.gate.norm`, `mlp_channels.gate.proj`, `mlp_channels.fc2`.
    """

    def __init__(self, dim=512, len_sen=49, d_ff=1024, eps=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.len_sen, self.d_ff, self.eps = dim, len_sen, d_ff, eps
        self.norm = layer_norm("norm", self.dtype_policy, eps)
        self.mlp_channels = _GatedMlp(dim, d_ff, len_sen, name="mlp_channels", dtype=self.dtype_policy)

    def build(self, input_shape):
        shape = _check_seq(self, input_shape, self.len_sen, self.dim)
        self.norm.build(shape)
        self.mlp_channels.build(shape)

    def call(self, x):
        return x + self.mlp_channels(self.norm(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "len_sen": self.len_sen, "d_ff": self.d_ff, "eps": self.eps}
