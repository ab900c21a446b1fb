"""GFNet's global filter: a learned filter applied in the 2-D Fourier domain."""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ._nn import matmul_last
from .base import check_input, register


def dft_matrices(h: int, w: int) -> dict[str, np.ndarray]:
    """Real matrices of the orthonormal 2-D real DFT and its inverse (float32).

    cw, sw (W, W//2+1): forward along W; ch, sh (H, H): both directions along H (symmetric);
    icw, isw (W//2+1, W): inverse along W with the Hermitian weights a_l (1 for the DC and
    Nyquist columns, 2 otherwise), which is what `irfft` does with a half spectrum.
    """
    wf = w // 2 + 1
    n, l = np.arange(w)[:, None], np.arange(wf)[None, :]
    phi = 2 * np.pi * n * l / w                                     # (W, Wf)
    m, k = np.arange(h)[:, None], np.arange(h)[None, :]
    theta = 2 * np.pi * m * k / h                                   # (H, H)
    a = np.full(wf, 2.0)
    a[0] = 1.0
    if w % 2 == 0:
        a[-1] = 1.0
    f32 = np.float32
    return {"cw": np.cos(phi).astype(f32), "sw": np.sin(phi).astype(f32),
            "ch": np.cos(theta).astype(f32), "sh": np.sin(theta).astype(f32),
            "icw": (a[:, None] * np.cos(phi).T).astype(f32), "isw": (a[:, None] * np.sin(phi).T).astype(f32)}


@register
class GlobalFilter(keras.layers.Layer):
    """Global filter layer of GFNet (Rao et al., "Global Filter Networks for Image
    Classification", NeurIPS 2021): `irfft2(rfft2(x, norm='ortho') * W, norm='ortho')` over
    the spatial axes, W a learned complex filter per channel.

    Input (batch, H, W, dim) or tokens (batch, H*W, dim) (the official layout; H is the
    filter's `h`); the output has the input's shape. Computed in float32 (as the official
    code does) and returned in the input's dtype.

    Args:
        dim: channels.
        h, w: filter size; `w` is the half-spectrum width, `W // 2 + 1` (14x14 tokens: h=14, w=8).
        use_dft: compute the transforms as real DFT matrix products instead of FFTs. Same
            numbers (within ~1e-6); every runtime has matmuls (TFLite lacks IRFFT2D,
            tf2onnx converts neither FFT here). `to_deploy()` returns this form.

    Weight `complex_weight` (h, w, dim, 2), real and imaginary parts last, laid out as in the
    official checkpoints.
    """

    def __init__(self, dim, h=14, w=8, use_dft=False, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.h, self.w, self.use_dft = dim, h, w, bool(use_dft)

    def _spatial(self, shape):
        if len(shape) == 4:
            return shape[1], shape[2]
        n = shape[1]
        if n is None or n % self.h:
            raise ValueError(f"GlobalFilter '{self.name}' expects tokens (batch, {self.h}*W, {self.dim}) "
                             f"or (batch, {self.h}, W, {self.dim}), got {tuple(shape)}.")
        return self.h, n // self.h

    def build(self, input_shape):
        shape = check_input(self, input_shape, rank=(4, 3), channels=self.dim,
                            layout="(batch, H, W, dim) or tokens (batch, H*W, dim)")
        hh, ww = self._spatial(shape)
        if hh != self.h or ww is None or ww // 2 + 1 != self.w:
            raise ValueError(f"GlobalFilter '{self.name}' has a {self.h}x{self.w} filter: it expects input of "
                             f"shape (batch, {self.h}, W, {self.dim}) with W//2+1 = {self.w} (W = "
                             f"{2 * self.w - 2} or {2 * self.w - 1}), got {tuple(shape)}.")
        self.complex_weight = self.add_weight(
            name="complex_weight", shape=(self.h, self.w, self.dim, 2),
            initializer=keras.initializers.RandomNormal(stddev=0.02), dtype="float32", autocast=False)

    def call(self, x):
        shape = x.shape
        hh, ww = self._spatial(shape)
        y = ops.cast(ops.reshape(x, (-1, hh, ww, self.dim)), "float32")
        y = self._filter_dft(y, hh, ww) if self.use_dft else self._filter_fft(y, hh, ww)
        return ops.reshape(ops.cast(y, x.dtype), (-1,) + tuple(shape[1:]))

    def _weight_chw(self):
        """The filter as two (dim, h, w) real arrays."""
        wgt = ops.transpose(self.complex_weight, (2, 0, 1, 3))
        return wgt[..., 0], wgt[..., 1]

    def _filter_fft(self, x, hh, ww):
        wr, wi = self._weight_chw()
        spec = tf.signal.rfft2d(ops.transpose(x, (0, 3, 1, 2)))         # (B, C, H, Wf), unnormalised
        spec = spec * tf.complex(wr, wi)
        # norm='ortho' both ways equals the unnormalised forward and the 1/(HW) inverse
        y = tf.signal.irfft2d(spec, fft_length=[hh, ww])
        return ops.transpose(y, (0, 2, 3, 1))

    def _filter_dft(self, x, hh, ww):
        mats = dft_matrices(hh, ww)
        # grids of 1 or 2 along an axis have a purely real DFT there (sin(pi*n*k) = 0): those sin
        # products are left out, not computed as zeros (int8 export refuses all-zero activations)
        real_w = not np.any(np.abs(mats["sw"]) > 1e-6)
        real_h = not np.any(np.abs(mats["sh"]) > 1e-6)
        m = {k: ops.convert_to_tensor(v) for k, v in mats.items()}
        scale = 1.0 / math.sqrt(hh * ww)

        def mm(a, b):   # a @ m[b], None standing for an exact zero
            return None if a is None else matmul_last(a, m[b])

        def add(*terms):   # sum of (sign, tensor or None)
            out = None
            for sign, t in terms:
                if t is not None:
                    t = t if sign > 0 else -t
                    out = t if out is None else out + t
            return out

        def tr(t, perm):
            return None if t is None else ops.transpose(t, perm)

        # forward along W: (B, H, C, W) @ (W, Wf)
        t = ops.transpose(x, (0, 1, 3, 2))
        yr = mm(t, "cw")
        yi = None if real_w else -mm(t, "sw")
        # forward along H: (B, C, Wf, H) @ (H, H), e^{-i theta}
        yr, yi = tr(yr, (0, 2, 3, 1)), tr(yi, (0, 2, 3, 1))
        sh = not real_h
        zr = add((1, mm(yr, "ch")), (1, mm(yi, "sh") if sh else None))
        zi = add((1, mm(yi, "ch")), (-1, mm(yr, "sh") if sh else None))
        # the filter, laid out (C, Wf, H)
        wgt = ops.transpose(self.complex_weight, (2, 1, 0, 3))
        wr, wi = wgt[..., 0], wgt[..., 1]
        pr = add((1, zr * wr), (-1, None if zi is None else zi * wi))
        pi = add((1, zr * wi), (1, None if zi is None else zi * wr))
        # inverse along H, e^{+i theta}
        ur = add((1, mm(pr, "ch")), (-1, mm(pi, "sh") if sh else None))
        ui = add((1, mm(pi, "ch")), (1, mm(pr, "sh") if sh else None))
        # inverse real transform along W: (B, C, H, Wf) @ (Wf, W)
        ur, ui = tr(ur, (0, 1, 3, 2)), tr(ui, (0, 1, 3, 2))
        y = add((1, mm(ur, "icw")), (-1, None if real_w else mm(ui, "isw"))) * (scale * scale)
        return ops.transpose(y, (0, 2, 3, 1))

    def to_deploy(self):
        """The DFT-matmul form with the same weights (same outputs, builtin ops only)."""
        layer = GlobalFilter.from_config({**self.get_config(), "use_dft": True})
        if self.built:
            layer.build((None, self.h, 2 * self.w - 2, self.dim))
            layer.complex_weight.assign(self.complex_weight)
        return layer

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "h": self.h, "w": self.w, "use_dft": self.use_dft}
