"""Re-parameterisable conv blocks: RepVGG, ACNet and ParNet's RepVGG-SSE block.

Each trains with parallel conv-BN branches and folds them, in inference mode, into one conv
with bias (`fuse()` / `to_deploy()` return that form as a new layer with the same outputs).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ._nn import Chain, Conv2d, batch_norm, channel_shuffle, conv_bn, dense, fuse_conv_bn, get_activation
from .base import check_input, register


def _branch_kernel(branch, kernel_size):
    """A conv-BN Chain folded into a (kh, kw, I, O) kernel zero-padded to `kernel_size`, and a bias."""
    conv, bn = branch.children_[0], branch.children_[1]
    k, b = fuse_conv_bn(conv.kernel, conv.bias if conv.use_bias else None, bn)
    kh, kw = kernel_size
    ph, pw = (kh - k.shape[0]) // 2, (kw - k.shape[1]) // 2
    return np.pad(k, [(ph, kh - k.shape[0] - ph), (pw, kw - k.shape[1] - pw), (0, 0), (0, 0)]), b


def _identity_kernel(bn, channels, groups, kernel_size):
    """An inference BN on the identity as a conv kernel: 1 at the centre tap of (i % (C/g), i)."""
    kh, kw = kernel_size
    per_group = channels // groups
    k = np.zeros((kh, kw, per_group, channels))
    for i in range(channels):
        k[kh // 2, kw // 2, i % per_group, i] = 1.0
    return fuse_conv_bn(k, None, bn)


def _copy(layer):
    """A new layer with the same config and weights (fusing a fused layer copies it)."""
    new = type(layer).from_config(layer.get_config())
    new.build(layer._built_shape)
    new.set_weights(layer.get_weights())
    return new


class _RepBase(keras.layers.Layer):
    """Shared plumbing: channel checks, deploy conv, get_config, fuse()."""

    def __init__(self, input_channel, output_channel, kernel_size=3, groups=1, stride=1, deploy=False,
                 activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.input_channel, self.output_channel = input_channel, output_channel
        self.kernel_size, self.groups, self.stride, self.deploy = kernel_size, groups, stride, bool(deploy)
        self.activation_name = activation
        self.act = get_activation(activation)

    def _deploy_conv(self, name):
        return Conv2d(self.output_channel, self.kernel_size, stride=self.stride, padding=self.kernel_size // 2,
                      groups=self.groups, use_bias=True, name=name, dtype=self.dtype_policy)

    def _check(self, input_shape):
        return check_input(self, input_shape, rank=4, channels=self.input_channel)

    def fuse(self):
        """The deploy form: a new layer holding one conv (with bias) equal to the branches in
        inference mode (BN folded with its moving statistics)."""
        if not self.built:
            raise ValueError(f"{type(self).__name__} '{self.name}': build (call) the layer before fusing it.")
        if self.deploy:
            return _copy(self)
        kernel, bias = self._equivalent_kernel_bias()
        layer = type(self).from_config({**self.get_config(), "deploy": True})
        layer.build(self._built_shape)
        conv = layer._fused_conv()
        conv.kernel.assign(kernel.astype(np.float32))
        conv.bias.assign(bias.astype(np.float32))
        self._copy_unfused_parts(layer)
        return layer

    def to_deploy(self):
        return self.fuse()

    def _copy_unfused_parts(self, layer):
        pass

    def compute_output_shape(self, input_shape):
        s = self.stride
        h, w = input_shape[1], input_shape[2]
        p = self.kernel_size // 2
        out = [None if v is None else (v + 2 * p - self.kernel_size) // s + 1 for v in (h, w)]
        return (input_shape[0], out[0], out[1], self.output_channel)

    def get_config(self):
        return {**super().get_config(), "input_channel": self.input_channel, "output_channel": self.output_channel,
                "kernel_size": self.kernel_size, "groups": self.groups, "stride": self.stride,
                "deploy": self.deploy, "activation": self.activation_name}


@register
class RepVGGBlock(_RepBase):
    """RepVGG block (Ding et al., "RepVGG: Making VGG-style ConvNets Great Again", CVPR 2021):
    `act(BN(conv3x3 x) + BN(conv1x1 x) + BN(x))` (the identity branch when the shape allows),
    folded by `fuse()` into `act(conv3x3' x)`.

    Input (batch, height, width, input_channel); output (batch, height/stride,
    width/stride, output_channel).

    Args (External-Attention's `RepBlock`): input_channel, output_channel, kernel_size (3),
    groups, stride, deploy (build the fused form), activation.

    Sublayers use the official RepVGG names (shared by ParNet's checkpoints):
    `rbr_dense.conv/bn`, `rbr_1x1.conv/bn`, `rbr_identity` (BN); deployed: `rbr_reparam`.
    """

    def __init__(self, input_channel, output_channel, kernel_size=3, groups=1, stride=1, deploy=False,
                 activation="relu", **kwargs):
        super().__init__(input_channel, output_channel, kernel_size, groups, stride, deploy, activation, **kwargs)
        if kernel_size != 3:
            raise ValueError(f"RepVGGBlock: kernel_size must be 3, got {kernel_size}")
        dt = self.dtype_policy
        if self.deploy:
            self.rbr_reparam = self._deploy_conv("rbr_reparam")
        else:
            self.rbr_dense = conv_bn(output_channel, 3, "rbr_dense", stride=stride, padding=1, groups=groups, dtype=dt)
            self.rbr_1x1 = conv_bn(output_channel, 1, "rbr_1x1", stride=stride, padding=0, groups=groups, dtype=dt)
            self.rbr_identity = batch_norm("rbr_identity", dt) \
                if input_channel == output_channel and stride == 1 else None

    def build(self, input_shape):
        shape = self._check(input_shape)
        self._built_shape = shape
        if self.deploy:
            self.rbr_reparam.build(shape)
            return
        self.rbr_dense.build(shape)
        self.rbr_1x1.build(shape)
        if self.rbr_identity is not None:
            self.rbr_identity.build(shape)

    def call(self, x):
        if self.deploy:
            return self.act(self.rbr_reparam(x))
        out = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            out = out + self.rbr_identity(x)
        return self.act(out)

    def _fused_conv(self):
        return self.rbr_reparam

    def _equivalent_kernel_bias(self):
        k3, b3 = _branch_kernel(self.rbr_dense, (3, 3))
        k1, b1 = _branch_kernel(self.rbr_1x1, (3, 3))
        kernel, bias = k3 + k1, b3 + b1
        if self.rbr_identity is not None:
            ki, bi = _identity_kernel(self.rbr_identity, self.input_channel, self.groups, (3, 3))
            kernel, bias = kernel + ki, bias + bi
        return kernel, bias


@register
class ACNetBlock(_RepBase):
    """Asymmetric convolution block (Ding et al., "ACNet: Strengthening the Kernel Skeletons
    for Powerful CNN via Asymmetric Convolution Blocks", ICCV 2019):
    `act(BN(conv kxk) + BN(conv 1xk) + BN(conv kx1))`, folded by `fuse()` into one kxk conv.

    Input (batch, height, width, input_channel); output (batch, height/stride,
    width/stride, output_channel).

    Args (External-Attention's `ACNet`): input_channel, output_channel, kernel_size (odd),
    groups, stride, deploy, activation.
    Sublayers `brb_3x3.conv/bn`, `brb_1x3.conv/bn`, `brb_3x1.conv/bn`; deployed: `brb_rep`.
    """

    def __init__(self, input_channel, output_channel, kernel_size=3, groups=1, stride=1, deploy=False,
                 activation="relu", **kwargs):
        super().__init__(input_channel, output_channel, kernel_size, groups, stride, deploy, activation, **kwargs)
        if kernel_size % 2 != 1:
            raise ValueError(f"ACNetBlock: kernel_size must be odd, got {kernel_size}")
        k, p, dt = kernel_size, kernel_size // 2, self.dtype_policy
        if self.deploy:
            self.brb_rep = self._deploy_conv("brb_rep")
        else:
            self.brb_3x3 = conv_bn(output_channel, (k, k), "brb_3x3", stride=stride, padding=(p, p), groups=groups,
                                   dtype=dt)
            self.brb_1x3 = conv_bn(output_channel, (1, k), "brb_1x3", stride=stride, padding=(0, p), groups=groups,
                                   dtype=dt)
            self.brb_3x1 = conv_bn(output_channel, (k, 1), "brb_3x1", stride=stride, padding=(p, 0), groups=groups,
                                   dtype=dt)

    def build(self, input_shape):
        shape = self._check(input_shape)
        self._built_shape = shape
        if self.deploy:
            self.brb_rep.build(shape)
            return
        for b in (self.brb_3x3, self.brb_1x3, self.brb_3x1):
            b.build(shape)

    def call(self, x):
        if self.deploy:
            return self.act(self.brb_rep(x))
        return self.act(self.brb_3x3(x) + self.brb_1x3(x) + self.brb_3x1(x))

    def _fused_conv(self):
        return self.brb_rep

    def _equivalent_kernel_bias(self):
        ks = (self.kernel_size, self.kernel_size)
        parts = [_branch_kernel(b, ks) for b in (self.brb_3x3, self.brb_1x3, self.brb_3x1)]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)


class _SE1(keras.layers.Layer):
    """ParNet's `SE1`: `scale * sigmoid(conv1x1(GAP(x)))` as a gate (the official `ver=2`, used
    where the block changes shape, doubles it: scale 2). The 1x1 conv has no bias and the block's
    groups; with one group it is a Dense on the pooled vector."""

    def __init__(self, channels, groups=1, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.groups, self.scale = channels, groups, float(scale)
        self.cvsig = _ConvSig(channels, groups, name="cvsig", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.cvsig.build(input_shape)

    def call(self, x):
        gate = self.cvsig(ops.mean(x, axis=(1, 2), keepdims=True))
        return gate * self.scale if self.scale != 1.0 else gate

    def get_config(self):   # export's rewrites rebuild composites from their config
        return {**super().get_config(), "channels": self.channels, "groups": self.groups, "scale": self.scale}


class _ConvSig(keras.layers.Layer):
    def __init__(self, channels, groups=1, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.groups = channels, groups
        self.conv = dense(channels, "conv", self.dtype_policy, use_bias=False) if groups == 1 else \
            Conv2d(channels, 1, groups=groups, use_bias=False, name="conv", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        return ops.sigmoid(self.conv(x))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "groups": self.groups}


def _pooled_branch_kernel(branch, kernel_size):
    """ParNet's strided 1x1 branch, AvgPool2d(2, 2) then conv-BN, as a stride-2 3x3 kernel: the
    pool's four taps sit at the kernel's (1..2, 1..2), each 1/4 of the 1x1 weight (the official
    `fuse_repvgg_block`: nearest x2 upsampling, / 4, padded [1, 0, 1, 0]). Exact on even sizes."""
    k1, b = _branch_kernel(branch.children_[1], (1, 1))
    kh, kw = kernel_size
    k = np.zeros((kh, kw, *k1.shape[2:]))
    k[1:3, 1:3] = k1[0, 0] / 4.0
    return k, b


@register
class ParNetAttention(_RepBase):
    """ParNet block (Goyal et al., "Non-deep Networks", NeurIPS 2022), as the official code
    builds every block of its networks (`RepVGGBlock(avg_pool=True, se_block=True)`):

    - same shape (stride 1, channel in = out): `act(BN(conv3x3 x) + BN(conv1x1 x) + SSE(BN(x)))`,
      Skip-Squeeze-Excitation `SSE(y) = y * sigmoid(conv1x1(GAP(y)))`;
    - otherwise (stride 2 or other channels): `act((BN(conv3x3 x) + BN(conv1x1 P(x))) * 2 sigmoid(conv1x1(GAP(x))))`,
      `P` a 2x2 average pool at stride 2 (identity at stride 1);
    - with groups > 1 the output is channel-shuffled (ShuffleNet order), as the official block does.

    `fuse()` folds the conv branches (the pooled 1x1 included) into one 3x3 conv with bias (the
    official `fuse_repvgg_block`); the identity BN and the gates stay (they are not linear).
    Input (batch, height, width, channel); output (batch, height/stride, width/stride,
    out_channel). A stride-2 block needs even height and width (the pool and the 3x3 conv must agree).

    Args: channel (input channels), deploy (the fused form), activation (official ParNet: SiLU),
    out_channel (default: channel), stride (1 or 2), groups.

    Sublayers are the official checkpoint names: `rbr_dense.conv/bn`, `rbr_1x1.conv/bn` (at
    stride 2 `rbr_1x1.1.conv/bn` after the pool `rbr_1x1.0`), `rbr_identity`, `se.cvsig.conv`;
    fused: `rbr_dense` is a conv with bias, no `rbr_1x1`.
    """

    def __init__(self, channel=512, deploy=False, activation="silu", out_channel=None, stride=1, groups=1,
                 **kwargs):
        out_channel = channel if out_channel is None else int(out_channel)
        if stride not in (1, 2):
            raise ValueError(f"ParNetAttention: stride must be 1 or 2, got {stride}")
        if channel % groups or out_channel % groups:
            raise ValueError(f"ParNetAttention: channel {channel} and out_channel {out_channel} must be "
                             f"multiples of groups={groups}")
        super().__init__(channel, out_channel, 3, groups, stride, deploy, activation, **kwargs)
        self.channel, self.out_channel = channel, out_channel
        self.has_identity = channel == out_channel and stride == 1
        dt = self.dtype_policy
        self.rbr_dense = self._deploy_conv("rbr_dense") if self.deploy else \
            conv_bn(out_channel, 3, "rbr_dense", stride=stride, padding=1, groups=groups, dtype=dt)
        if self.deploy:
            self.rbr_1x1 = None
        elif stride == 2:
            self.rbr_1x1 = Chain([keras.layers.AveragePooling2D(2, 2, name="0", dtype=dt),
                                  conv_bn(out_channel, 1, "1", padding=0, groups=groups, dtype=dt)],
                                 name="rbr_1x1", dtype=dt)
        else:
            self.rbr_1x1 = conv_bn(out_channel, 1, "rbr_1x1", padding=0, groups=groups, dtype=dt)
        self.rbr_identity = batch_norm("rbr_identity", dt) if self.has_identity else None
        self.se = _SE1(out_channel, groups, 1.0 if self.has_identity else 2.0, name="se", dtype=dt)

    def build(self, input_shape):
        shape = self._check(input_shape)
        if self.stride == 2 and any(v is not None and v % 2 for v in shape[1:3]):
            raise ValueError(f"ParNetAttention '{self.name}': a stride-2 block needs an even height and width, "
                             f"got input shape {tuple(shape)}")
        self._built_shape = shape
        self.rbr_dense.build(shape)
        if self.rbr_1x1 is not None:
            self.rbr_1x1.build(shape)
        if self.rbr_identity is not None:
            self.rbr_identity.build(shape)
        self.se.build((shape[0], 1, 1, self.channel))

    def call(self, x):
        out = self.rbr_dense(x)
        if self.rbr_1x1 is not None:
            out = out + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            ident = self.rbr_identity(x)
            out = out + ident * self.se(ident)
        else:
            out = out * self.se(x)
        out = self.act(out)
        return channel_shuffle(out, self.groups) if self.groups > 1 else out

    def _fused_conv(self):
        return self.rbr_dense

    def _equivalent_kernel_bias(self):
        k3, b3 = _branch_kernel(self.rbr_dense, (3, 3))
        k1, b1 = _pooled_branch_kernel(self.rbr_1x1, (3, 3)) if self.stride == 2 else \
            _branch_kernel(self.rbr_1x1, (3, 3))
        return k3 + k1, b3 + b1

    def _copy_unfused_parts(self, layer):
        parts = [(self.se, layer.se)]
        if self.rbr_identity is not None:
            parts.append((self.rbr_identity, layer.rbr_identity))
        for src, dst in parts:
            for a, b in zip(src.weights, dst.weights):
                b.assign(a)

    def get_config(self):
        cfg = super().get_config()
        for k in ("input_channel", "output_channel", "kernel_size", "groups", "stride"):
            cfg.pop(k)
        return {**cfg, "channel": self.channel, "out_channel": self.out_channel, "stride": self.stride,
                "groups": self.groups}


RepBlock = RepVGGBlock      # External-Attention's names
ACNet = ACNetBlock
