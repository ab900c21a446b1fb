"""Spatial transformer: a learned affine warp with bilinear sampling."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ._nn import Chain, Conv2d, dense
from .base import check_input, register


def affine_grid_sample(x, theta):
    """`F.grid_sample(x, F.affine_grid(theta, x.size()), mode='bilinear', padding_mode='zeros',
    align_corners=False)` on NHWC x (B, H, W, C), theta (B, 2, 3). Output (B, H, W, C)."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    ys = (2 * np.arange(H) + 1) / H - 1
    xs = (2 * np.arange(W) + 1) / W - 1
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    base = np.stack([gx.reshape(-1), gy.reshape(-1), np.ones(H * W)], axis=0).astype(np.float32)   # (3, HW)
    src = ops.matmul(theta, ops.cast(base, theta.dtype))                   # (B, 2, HW): normalised (x, y)
    ix = ((src[:, 0] + 1) * W - 1) / 2                                      # pixel coordinates
    iy = ((src[:, 1] + 1) * H - 1) / 2
    x0, y0 = ops.floor(ix), ops.floor(iy)
    flat = ops.reshape(x, (-1, H * W, C))
    out = 0.0
    for dy in (0, 1):
        for dx in (0, 1):
            cx, cy = x0 + dx, y0 + dy
            wgt = (1 - ops.abs(ix - cx)) * (1 - ops.abs(iy - cy))
            valid = (cx >= 0) & (cx <= W - 1) & (cy >= 0) & (cy <= H - 1)
            wgt = ops.where(valid, wgt, ops.zeros_like(wgt))
            idx = ops.cast(ops.clip(cy, 0, H - 1) * W + ops.clip(cx, 0, W - 1), "int32")     # (B, HW)
            vals = tf.gather(flat, idx, batch_dims=1)                                          # (B, HW, C)
            out = out + vals * ops.expand_dims(wgt, -1)
    return ops.reshape(out, (-1, H, W, C))


@register
class SpatialTransformer(keras.layers.Layer):
    """Spatial transformer network (Jaderberg et al., "Spatial Transformer Networks",
    NeurIPS 2015): a localisation net regresses an affine transform per sample, the input is
    resampled bilinearly on the transformed grid (PyTorch's affine_grid + grid_sample,
    align_corners=False, zero padding). Starts as the identity transform.

    Input (batch, height, width, in_channels); output the same shape.

    Args: in_channels, loc_channels (the two localisation convs, PyTorch tutorial: 8, 10),
    fc_hidden (32). The localisation net is conv7-pool-ReLU-conv5-pool-ReLU (padded), then a
    global average (any input size) and `fc_loc` (hidden, ReLU, 6 with identity init).
    Sublayers `localization.0`, `localization.3`, `fc_loc.0`, `fc_loc.2`.
    """

    def __init__(self, in_channels, loc_channels=(8, 10), fc_hidden=32, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.loc_channels, self.fc_hidden = in_channels, tuple(loc_channels), fc_hidden
        dt = self.dtype_policy
        c1, c2 = self.loc_channels
        self.localization = Chain([
            Conv2d(c1, 7, padding=3, name="0", dtype=dt), keras.layers.MaxPooling2D(2, name="1", dtype=dt),
            keras.activations.relu, Conv2d(c2, 5, padding=2, name="3", dtype=dt),
            keras.layers.MaxPooling2D(2, name="4", dtype=dt), keras.activations.relu], name="localization", dtype=dt)
        self.fc_loc = Chain([dense(fc_hidden, "0", dt), keras.activations.relu,
                             keras.layers.Dense(6, kernel_initializer="zeros",
                                                bias_initializer=keras.initializers.Constant([1, 0, 0, 0, 1, 0]),
                                                name="2", dtype=dt)], name="fc_loc", dtype=dt)

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=4, channels=self.in_channels)
        if None in shape[1:3] or min(shape[1:3]) < 4:
            raise ValueError(f"SpatialTransformer '{self.name}' expects input of shape (batch, H, W, "
                             f"{self.in_channels}) with static H, W >= 4, got {shape}.")
        self.localization.build(shape)
        self.fc_loc.build((shape[0], self.loc_channels[1]))

    def theta(self, x):
        """The affine transforms (batch, 2, 3) predicted for x."""
        return ops.reshape(self.fc_loc(ops.mean(self.localization(x), axis=(1, 2))), (-1, 2, 3))

    def call(self, x):
        return affine_grid_sample(x, self.theta(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels, "loc_channels": list(self.loc_channels),
                "fc_hidden": self.fc_hidden}


STN = SpatialTransformer
