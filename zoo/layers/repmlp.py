"""RepMLP: an FC over image partitions with re-parameterisable conv branches."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ._nn import Chain, Conv2d, batch_norm, dense, fuse_conv_bn
from .base import check_input, register


class GroupedLinear(keras.layers.Layer):
    """A grouped 1x1 conv on a vector, `nn.Conv2d(I, O, 1, groups=g)` applied to (N, I, 1, 1):
    kernel (1, 1, I/g, O) in Keras' grouped-conv layout, computed as a batched matmul (no
    grouped convolution, which some exporters cannot convert)."""

    def __init__(self, units, groups=1, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.groups, self.use_bias = units, groups, use_bias

    def build(self, input_shape):
        i = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(1, 1, i // self.groups, self.units),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros") if self.use_bias else None

    def call(self, x):                                                   # (N, I)
        g, i = self.groups, x.shape[-1]
        o = self.units
        k = ops.transpose(ops.reshape(self.kernel, (i // g, g, o // g)), (1, 0, 2))     # (g, I/g, O/g)
        xg = ops.transpose(ops.reshape(x, (-1, g, i // g)), (1, 0, 2))                  # (g, N, I/g)
        y = ops.reshape(ops.transpose(ops.matmul(xg, k), (1, 0, 2)), (-1, o))
        return y if self.bias is None else y + self.bias

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)


@register
class RepMLPBlock(keras.layers.Layer):
    """RepMLP (Ding et al., "RepMLP: Re-parameterizing Convolutions into Fully-connected
    Layers for Image Recognition", 2021), External-Attention's form.

    The (H, W) map is cut into (h, w) partitions; a global perceptron (average pool per
    partition, BN, 2-layer MLP) adds a per-partition bias; `fc3` (a grouped FC over each
    flattened partition, C*h*w -> O*h*w) + BN, plus conv-BN branches of `repconv_kernels`
    on each partition, give the output. `fuse()` folds the BNs and the conv branches into
    `fc3` and `fc1`: one FC per partition, same outputs in inference mode.

    Input (batch, H, W, C); output (batch, H, W, O).

    Args (External-Attention's names): C, O, H, W, h, w, fc1_fc2_reduction, fc3_groups,
    repconv_kernels (odd sizes), deploy.
    Sublayers `avg.bn`, `fc1_fc2.fc1`, `fc1_fc2.fc2`, `fc3`, `fc3_bn`, `repconv{k}.conv/bn`.
    Partitions are flattened in PyTorch's (C, h, w) order, so `fc3` weights are compatible.
    """

    def __init__(self, C, O, H, W, h, w, fc1_fc2_reduction=1, fc3_groups=8, repconv_kernels=None, deploy=False,
                 **kwargs):
        super().__init__(**kwargs)
        if H % h or W % w:
            raise ValueError(f"RepMLPBlock: the partition ({h}, {w}) must divide the map ({H}, {W})")
        if C % fc3_groups or O % fc3_groups:
            raise ValueError(f"RepMLPBlock: fc3_groups ({fc3_groups}) must divide C ({C}) and O ({O})")
        self.C, self.O, self.H, self.W, self.h, self.w = C, O, H, W, h, w
        self.fc1_fc2_reduction, self.fc3_groups, self.deploy = fc1_fc2_reduction, fc3_groups, bool(deploy)
        self.repconv_kernels = None if repconv_kernels is None else [int(k) for k in repconv_kernels]
        self.h_part, self.w_part = H // h, W // w
        self.is_global_perceptron = (H != h) or (W != w)
        dt = self.dtype_policy
        if self.is_global_perceptron:
            self.avg = Chain([] if self.deploy else [batch_norm("bn", dt)], name="avg", dtype=dt)
            hidden = C // fc1_fc2_reduction
            n = C * self.h_part * self.w_part
            self.fc1_fc2 = Chain([dense(hidden, "fc1", dt), keras.activations.relu, dense(n, "fc2", dt)],
                                 name="fc1_fc2", dtype=dt)
        self.fc3 = GroupedLinear(O * h * w, fc3_groups, use_bias=self.deploy, name="fc3", dtype=dt)
        self.fc3_bn = None if self.deploy else batch_norm("fc3_bn", dt)
        self.repconvs = []
        if not self.deploy and self.repconv_kernels:
            for k in self.repconv_kernels:
                if k % 2 != 1:
                    raise ValueError(f"RepMLPBlock: repconv kernel sizes must be odd, got {k}")
                branch = Chain([Conv2d(O, k, padding=(k - 1) // 2, groups=fc3_groups, use_bias=False, name="conv",
                                       dtype=dt), batch_norm("bn", dt)], name=f"repconv{k}", dtype=dt)
                setattr(self, f"repconv{k}", branch)
                self.repconvs.append(branch)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.C)
        if tuple(shape[1:3]) != (self.H, self.W):
            raise ValueError(f"RepMLPBlock '{self.name}' expects input of shape (batch, {self.H}, {self.W}, {self.C}), "
                             f"got {shape}.")
        if self.is_global_perceptron:
            self.avg.build((None, self.h_part, self.w_part, self.C))
            self.fc1_fc2.build((None, self.C * self.h_part * self.w_part))
        self.fc3.build((None, self.C * self.h * self.w))
        if self.fc3_bn is not None:
            self.fc3_bn.build((None, self.O * self.h * self.w))
        for branch in self.repconvs:
            branch.build((None, self.h, self.w, self.C))

    def call(self, x):
        C, O, h, w, hp, wp = self.C, self.O, self.h, self.w, self.h_part, self.w_part
        parts = ops.reshape(x, (-1, hp, h, wp, w, C))
        if self.is_global_perceptron:
            v = self.avg(ops.mean(parts, axis=(2, 4)))                                    # (B, hp, wp, C)
            v = ops.reshape(ops.transpose(v, (0, 3, 1, 2)), (-1, C * hp * wp))           # PyTorch's (C, hp, wp)
            v = ops.transpose(ops.reshape(self.fc1_fc2(v), (-1, C, hp, wp)), (0, 2, 3, 1))
            parts = parts + v[:, :, None, :, None, :]
        parts = ops.transpose(parts, (0, 1, 3, 2, 4, 5))                                 # (B, hp, wp, h, w, C)
        flat = ops.reshape(ops.transpose(parts, (0, 1, 2, 5, 3, 4)), (-1, C * h * w))   # (C, h, w) order
        out = self.fc3(flat)
        if self.fc3_bn is not None:
            out = self.fc3_bn(out)
        out = ops.transpose(ops.reshape(out, (-1, hp, wp, O, h, w)), (0, 1, 2, 4, 5, 3))   # (B, hp, wp, h, w, O)
        if self.repconvs:
            conv_in = ops.reshape(parts, (-1, h, w, C))
            conv_out = None
            for branch in self.repconvs:
                y = branch(conv_in)
                conv_out = y if conv_out is None else conv_out + y
            out = out + ops.reshape(conv_out, (-1, hp, wp, h, w, O))
        return ops.reshape(ops.transpose(out, (0, 1, 3, 2, 4, 5)), (-1, self.H, self.W, O))

    # --- re-parameterisation -------------------------------------------------------------

    def _conv_as_fc(self, branch_kernel, branch_bias):
        """A (k, k, C/g, O) conv kernel with bias, applied with zero padding to one (h, w)
        partition, as the equivalent grouped-FC kernel (1, 1, C*h*w/g, O*h*w) and bias."""
        h, w, C, O, g = self.h, self.w, self.C, self.O, self.fc3_groups
        k = branch_kernel.shape[0]
        p = k // 2
        cg, og = C // g, O // g
        dense_w = np.zeros((C, h, w, O, h, w))            # input (c, i, j) -> output (o, y, x)
        for y in range(h):
            for x in range(w):
                for di in range(k):
                    for dj in range(k):
                        i, j = y + di - p, x + dj - p
                        if 0 <= i < h and 0 <= j < w:
                            for grp in range(g):
                                dense_w[grp * cg:(grp + 1) * cg, i, j, grp * og:(grp + 1) * og, y, x] += \
                                    branch_kernel[di, dj, :, grp * og:(grp + 1) * og]
        dense_w = dense_w.reshape(C * h * w, O * h * w)
        kernel = np.stack([dense_w[grp * cg * h * w:(grp + 1) * cg * h * w, grp * og * h * w:(grp + 1) * og * h * w]
                           for grp in range(g)], axis=1)   # (C*h*w/g, g, O*h*w/g)
        return kernel.reshape(1, 1, cg * h * w, O * h * w), np.repeat(branch_bias, h * w)

    def fuse(self):
        """The deploy form (new layer): fc3 with bias absorbing fc3_bn and the conv branches,
        fc1 absorbing the BN after the average pool. Same outputs in inference mode."""
        if not self.built:
            raise ValueError(f"RepMLPBlock '{self.name}': build (call) the layer before fusing it.")
        if self.deploy:   # already fused: a copy
            layer = RepMLPBlock.from_config(self.get_config())
            layer.build((None, self.H, self.W, self.C))
            layer.set_weights(self.get_weights())
            return layer
        k3, b3 = fuse_conv_bn(self.fc3.kernel, None, self.fc3_bn)
        for branch in self.repconvs:
            conv, bn = branch.children_
            kc, bc = fuse_conv_bn(conv.kernel, None, bn)
            fk, fb = self._conv_as_fc(kc, bc)
            k3, b3 = k3 + fk, b3 + fb
        layer = RepMLPBlock.from_config({**self.get_config(), "deploy": True})
        layer.build((None, self.H, self.W, self.C))
        layer.fc3.kernel.assign(k3.astype(np.float32))
        layer.fc3.bias.assign(b3.astype(np.float32))
        if self.is_global_perceptron:
            bn = self.avg.children_[0]
            gamma, beta, mean, var = (np.asarray(v, np.float64) for v in
                                      (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
            scale = gamma / np.sqrt(var + bn.epsilon)
            shift = beta - mean * scale
            rep = self.h_part * self.w_part                      # fc1 input order (C, hp, wp)
            fc1, fc2 = self.fc1_fc2.children_[0], self.fc1_fc2.children_[2]
            k1 = np.asarray(fc1.kernel, np.float64)
            new_fc1, new_fc2 = layer.fc1_fc2.children_[0], layer.fc1_fc2.children_[2]
            new_fc1.kernel.assign((k1 * np.repeat(scale, rep)[:, None]).astype(np.float32))
            new_fc1.bias.assign((np.asarray(fc1.bias, np.float64) + np.repeat(shift, rep) @ k1).astype(np.float32))
            new_fc2.kernel.assign(fc2.kernel)
            new_fc2.bias.assign(fc2.bias)
        return layer

    def to_deploy(self):
        return self.fuse()

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + (self.O,)

    def get_config(self):
        return {**super().get_config(), "C": self.C, "O": self.O, "H": self.H, "W": self.W, "h": self.h, "w": self.w,
                "fc1_fc2_reduction": self.fc1_fc2_reduction, "fc3_groups": self.fc3_groups,
                "repconv_kernels": self.repconv_kernels, "deploy": self.deploy}


RepMLP = RepMLPBlock   # External-Attention's name
