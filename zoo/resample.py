"""Resample size-dependent tables of a checkpoint to a new image or window size, in NumPy.

Three tables change shape with the input size, and their checkpoints are adapted on load the way
the reference code adapts them when it fine-tunes at another resolution:

- `resize_rel_pos_bias_table`: a relative-position bias table (CoAtNet / MaxViT
  `relative_position_bias_table`), as timm 1.0.31 `timm/layers/pos_embed_rel.py::
  resize_rel_pos_bias_table` does it when called from `timm/models/maxxvit.py::
  checkpoint_filter_fn` (its default branch: BEiT's geometric source grid, linear interpolation).
- `resize_pos_embed`: an absolute position embedding (B, N, C) on an (h, w) token grid, bicubic as
  raoyongming/GFNet `main_gfnet.py` (fine-tuning block of `main`) does it.
- `resize_gfnet_filter`: a GFNet spectral filter `complex_weight` (h, w//2+1, C, 2), bicubic with
  align_corners=True as the same block of `main_gfnet.py` does it.

Bicubic here is `torch.nn.functional.interpolate(mode='bicubic')` without antialiasing, value for
value: PyTorch's `upsample_bicubic2d` index rule (source index `scale * (dst + 0.5) - 0.5`,
`scale = in / out`, or `dst * (in - 1) / (out - 1)` with align_corners), its cubic convolution
weights with A = -0.75, and its border rule (the four taps' indices clamped into [0, size - 1]),
the same rule when downsampling. Each axis becomes one (out, in) matrix, applied separably in
float64; results come back in the input's dtype.

NumPy only: importing this module imports neither TensorFlow, Keras nor torch.
"""
import math

import numpy as np

from .errors import InvalidArgumentError

__all__ = ["resize_gfnet_filter", "resize_pos_embed", "resize_rel_pos_bias_table"]

_CUBIC_A = -0.75  # PyTorch's upsample_bicubic2d constant


# --------------------------------------------------------------------------- shared kernels

def _cubic_weights(t):
    """PyTorch's get_cubic_upsample_coefficients(t): weights of taps floor(x) - 1 .. floor(x) + 2."""
    a = _CUBIC_A

    def near(x):  # cubic_convolution1, |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # cubic_convolution2, 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def _bicubic_matrix(in_size, out_size, align_corners):
    """(out_size, in_size) float64 matrix of 1-D bicubic interpolation, PyTorch's rules."""
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        scale = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        src = scale * dst
    else:
        src = (in_size / out_size) * (dst + 0.5) - 0.5  # not clamped at 0 for cubic
    base = np.floor(src)
    weights = _cubic_weights(src - base)  # (out, 4)
    taps = np.clip(base.astype(np.int64)[:, None] + np.arange(-1, 3), 0, in_size - 1)
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    np.add.at(matrix, (np.repeat(np.arange(out_size), 4), taps.ravel()), weights.ravel())
    return matrix


def _linear_matrix(points, targets):
    """(len(targets), len(points)) matrix of timm's RegularGridInterpolator along one axis.

    Linear between the two bracketing points of an increasing, unevenly spaced grid (left index
    found as torch.bucketize does), the edge value beyond either end.
    """
    n = len(points)
    right = np.minimum(np.searchsorted(points, targets, side="left"), n - 1)
    left = np.clip(right - 1, 0, n - 1)
    dist_left = np.maximum(targets - points[left], 0.0)
    dist_right = np.maximum(points[right] - targets, 0.0)
    both_zero = (dist_left == 0) & (dist_right == 0)
    dist_left[both_zero] = dist_right[both_zero] = 1.0
    total = dist_left + dist_right
    matrix = np.zeros((len(targets), n), dtype=np.float64)
    rows = np.arange(len(targets))
    np.add.at(matrix, (rows, left), dist_right / total)
    np.add.at(matrix, (rows, right), dist_left / total)
    return matrix


def _resample_2d(x, axis_h, axis_w, matrix_h, matrix_w):
    """Apply per-axis (out, in) matrices to axes axis_h, axis_w of x, in float64."""
    y = np.tensordot(matrix_h, np.asarray(x, dtype=np.float64), axes=([1], [axis_h]))
    y = np.moveaxis(y, 0, axis_h)
    y = np.tensordot(matrix_w, y, axes=([1], [axis_w]))
    return np.moveaxis(y, 0, axis_w)


def _bicubic_2d(x, axis_h, axis_w, out_hw, align_corners):
    my = _bicubic_matrix(x.shape[axis_h], out_hw[0], align_corners)
    mx = _bicubic_matrix(x.shape[axis_w], out_hw[1], align_corners)
    return _resample_2d(x, axis_h, axis_w, my, mx).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------- argument checks

def _array(value, what):
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.floating):
        raise InvalidArgumentError(f"{what} must be a floating-point array, got dtype {arr.dtype}")
    return arr


def _size2(value, what):
    """An int or a pair of ints, each >= 1, as a tuple (h, w)."""
    try:
        pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                                 for v in pair):
        raise InvalidArgumentError(f"{what} must be a positive int or a pair (h, w) of positive ints, "
                                   f"got {value!r}")
    return int(pair[0]), int(pair[1])


# --------------------------------------------------------------------------- relative position

def _beit_source_grid(src, dst):
    """timm's `_calc(src, dst)`: the BEiT geometric-progression positions of a src-long axis.

    Spacing grows by a ratio q (bisection in [1.01, 1.5]) so that the outermost of the src // 2
    positions each side lands near dst // 2. Python floats as in timm, then rounded to float32,
    the dtype of timm's `torch.tensor(...)` of that list.
    """
    left, right = 1.01, 1.5
    while right - left > 1e-6:
        q = (left + right) / 2.0
        gp = (1.0 - q ** (src // 2)) / (1.0 - q)
        if gp > dst // 2:
            right = q
        else:
            left = q
    dis, cur = [], 1
    for i in range(src // 2):
        dis.append(cur)
        cur += q ** (i + 1)
    positions = [-d for d in reversed(dis)] + [0] + dis
    return np.asarray(positions, dtype=np.float32).astype(np.float64)


def resize_rel_pos_bias_table(table, new_window_size, new_bias_shape, old_window_size=None):
    """Resize a relative-position bias table to a new attention window, as timm does.

    Mirrors timm 1.0.31 `timm/layers/pos_embed_rel.py::resize_rel_pos_bias_table`, the function
    `timm/models/maxxvit.py::checkpoint_filter_fn` calls for every `relative_position_bias_table`
    (CoAtNet, MaxViT) whose shape differs from the model's or whose window is not square. That is
    timm's default branch (environment variable TIMM_USE_SCIPY_INTERP unset; its scipy branch
    needs `interp2d`, which SciPy >= 1.14 removed): each head's (2h-1, 2w-1) plane is resampled
    from BEiT's geometric-progression source positions onto the integer offsets
    -(2h'-1)//2 .. (2h'-1)//2 by linear interpolation (timm's RegularGridInterpolator), holding
    the edge values beyond the source range. It is not bicubic. timm computes in float32; this
    computes in float64 from the same float32 grid positions and returns the input's dtype.

    Args:
        table: one of timm's two layouts.
            (num_pos, num_heads), "flat" (`RelPosBias`, CoAtNet/MaxViT 'bias'):
            num_pos = (2h-1)*(2w-1) + extra, the extra class-token rows (BEiT style) last; they are
            kept unchanged.
            (num_heads, 2h-1, 2w-1) (`RelPosBiasTf`, MaxViT 'bias_tf'): no extra tokens.
        new_window_size: (h', w') of the new attention window (an int means square).
        new_bias_shape: the model's table shape: (num_pos', num_heads) for a flat table, with
            num_pos' = (2h'-1)*(2w'-1) + extra (extra inferred from it, as timm does), or
            (num_heads, 2h'-1, 2w'-1).
        old_window_size: (h, w) of the source window of a flat table. None, as for a checkpoint:
            a square source is assumed, unless num_pos - extra is not a square number and equals
            the new window's count, in which case the source is that same window (timm's rule).

    Returns:
        the table resized to new_bias_shape; the input itself when the source and destination
        grids already agree (no copy, as timm returns its tensor).

    timm's `RelPosMlp` (MaxxViT 'mlp' relative position) has nothing to resize: its checkpoint
    tensors are the MLP's weights, which do not depend on the window; its `rel_coords_log` and
    `relative_position_index` buffers are non-persistent (absent from checkpoints) and are
    recomputed for the new window when the model is built.
    """
    arr = _array(table, "relative position bias table")
    new_window_size = _size2(new_window_size, "new_window_size")
    try:
        new_bias_shape = tuple(int(v) for v in new_bias_shape)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"new_bias_shape must be a tuple of ints, got {new_bias_shape!r}") from None
    dst_size = (2 * new_window_size[0] - 1, 2 * new_window_size[1] - 1)

    if arr.ndim == 3:
        num_heads, src_h, src_w = arr.shape
        expected = (num_heads, *dst_size)
        if new_bias_shape != expected:
            raise InvalidArgumentError(
                f"new_bias_shape for a (num_heads, 2h-1, 2w-1) table of shape {arr.shape} and a "
                f"{new_window_size[0]}x{new_window_size[1]} window must be {expected}, "
                f"got {new_bias_shape}")
        src_size, num_extra, flat = (src_h, src_w), 0, False
    elif arr.ndim == 2:
        src_num_pos, num_heads = arr.shape
        dst_area = dst_size[0] * dst_size[1]
        if len(new_bias_shape) != 2 or new_bias_shape[1] != num_heads or new_bias_shape[0] < dst_area:
            raise InvalidArgumentError(
                f"new_bias_shape for a (num_pos, num_heads) table of shape {arr.shape} and a "
                f"{new_window_size[0]}x{new_window_size[1]} window must be ({dst_area} + extra "
                f"tokens, {num_heads}), got {new_bias_shape}")
        num_extra = new_bias_shape[0] - dst_area
        src_plane = src_num_pos - num_extra
        if old_window_size is not None:
            old = _size2(old_window_size, "old_window_size")
            src_size = (2 * old[0] - 1, 2 * old[1] - 1)
        else:
            side = math.isqrt(max(src_plane, 0))
            if side * side == src_plane and side > 0:
                src_size = (side, side)
            elif src_plane == dst_area:
                src_size = dst_size
            else:
                raise InvalidArgumentError(
                    f"cannot infer the source window of a relative position table of shape "
                    f"{arr.shape} ({src_plane} positions + {num_extra} extra is not a square "
                    f"(2h-1)^2 table): pass old_window_size")
        if src_size[0] * src_size[1] + num_extra != src_num_pos:
            raise InvalidArgumentError(
                f"a relative position table for a {src_size[0]}x{src_size[1]} offset grid with "
                f"{num_extra} extra tokens must have shape "
                f"({src_size[0] * src_size[1] + num_extra}, {num_heads}), got {arr.shape}")
        flat = True
    else:
        raise InvalidArgumentError(
            f"a relative position bias table must have shape (num_pos, num_heads) or "
            f"(num_heads, 2h-1, 2w-1), got {arr.shape}")

    if src_size == dst_size:
        return arr
    if src_size[0] % 2 == 0 or src_size[1] % 2 == 0:
        raise InvalidArgumentError(
            f"a relative position table's offset grid must be (2h-1, 2w-1), odd sides; got "
            f"{src_size[0]}x{src_size[1]}")

    my = _linear_matrix(_beit_source_grid(src_size[0], dst_size[0]),
                        np.arange(-(dst_size[0] // 2), dst_size[0] // 2 + 1, dtype=np.float64))
    mx = _linear_matrix(_beit_source_grid(src_size[1], dst_size[1]),
                        np.arange(-(dst_size[1] // 2), dst_size[1] // 2 + 1, dtype=np.float64))
    if not flat:
        return _resample_2d(arr, 1, 2, my, mx).astype(arr.dtype, copy=False)
    plane = arr[:src_num_pos - num_extra].reshape(src_size[0], src_size[1], num_heads)
    out = _resample_2d(plane, 0, 1, my, mx).reshape(dst_size[0] * dst_size[1], num_heads)
    return np.concatenate([out.astype(arr.dtype, copy=False), arr[src_num_pos - num_extra:]], axis=0)


# --------------------------------------------------------------------------- absolute position

def resize_pos_embed(pos_embed, new_size, num_prefix_tokens=0, old_size=None):
    """Resize an absolute position embedding (B, N, C) to a new token grid, bicubic.

    The N - num_prefix_tokens grid tokens are row-major on an (h, w) grid; they are resized to
    new_size exactly as `torch.nn.functional.interpolate(mode='bicubic', align_corners=False)` of
    the (B, C, h, w) view, the view raoyongming/GFNet `main_gfnet.py` (fine-tuning block of `main`)
    makes: `pos_tokens.reshape(-1, orig_size, orig_size, C).permute(0, 3, 1, 2)`, interpolate to
    (new_size, new_size), `.permute(0, 2, 3, 1).flatten(1, 2)`. GFNet has no class token
    (`num_extra_tokens = 0` there); prefix tokens (class / distillation), when there are some,
    stay first and unchanged, as in DeiT's version of that code. No antialiasing when
    downsampling, as PyTorch's bicubic.

    Args:
        pos_embed: (B, N, C) floating-point array (B is 1 in checkpoints).
        new_size: (h', w') of the new grid; an int means square.
        num_prefix_tokens: leading tokens that are not on the grid.
        old_size: (h, w) of the source grid; None means square, side sqrt(N - num_prefix_tokens).

    Returns:
        (B, num_prefix_tokens + h'*w', C) in the input's dtype; the input itself when the grid
        size is unchanged.
    """
    arr = _array(pos_embed, "pos_embed")
    if arr.ndim != 3:
        raise InvalidArgumentError(f"pos_embed must have shape (1, N, C), got {arr.shape}")
    new_size = _size2(new_size, "new_size")
    batch, num_tokens, channels = arr.shape
    if not isinstance(num_prefix_tokens, (int, np.integer)) or not 0 <= num_prefix_tokens < num_tokens:
        raise InvalidArgumentError(f"num_prefix_tokens must be an int in [0, {num_tokens}) for a "
                                   f"pos_embed of shape {arr.shape}, got {num_prefix_tokens!r}")
    grid_tokens = num_tokens - num_prefix_tokens
    if old_size is None:
        side = math.isqrt(grid_tokens)
        if side * side != grid_tokens:
            raise InvalidArgumentError(
                f"pos_embed of shape {arr.shape} with {num_prefix_tokens} prefix tokens has "
                f"{grid_tokens} grid tokens, not a square grid: pass old_size=(h, w), or give a "
                f"pos_embed of shape (1, {num_prefix_tokens} + h*w, C)")
        old_size = (side, side)
    else:
        old_size = _size2(old_size, "old_size")
        if old_size[0] * old_size[1] != grid_tokens:
            raise InvalidArgumentError(
                f"pos_embed for a {old_size[0]}x{old_size[1]} grid with {num_prefix_tokens} prefix "
                f"tokens must have shape ({batch}, {num_prefix_tokens + old_size[0] * old_size[1]}, "
                f"{channels}), got {arr.shape}")
    if old_size == new_size:
        return arr
    grid = arr[:, num_prefix_tokens:].reshape(batch, old_size[0], old_size[1], channels)
    grid = _bicubic_2d(grid, 1, 2, new_size, align_corners=False)
    grid = grid.reshape(batch, new_size[0] * new_size[1], channels)
    return np.concatenate([arr[:, :num_prefix_tokens], grid], axis=1)


# --------------------------------------------------------------------------- GFNet filter

def resize_gfnet_filter(complex_weight, new_hw):
    """Resize a GFNet global filter `complex_weight` (h, w//2+1, C, 2) to a new token grid.

    Mirrors raoyongming/GFNet `main_gfnet.py` (fine-tuning block of `main`, the same lines in
    `main_gfnet_transfer.py`): the filter is viewed as 2*C channels (real and imaginary parts are
    resized as separate channels, `reshape(1, h, w, C * 2).permute(0, 3, 1, 2)`) and resized with
    `torch.nn.functional.interpolate(size=(new_h, new_h // 2 + 1), mode='bicubic',
    align_corners=True)` - align_corners=True, unlike the pos_embed resize beside it.

    Args:
        complex_weight: (h, w//2+1, C, 2) floating-point array, a GlobalFilter's parameter.
        new_hw: the new token grid (new_h, new_w) of that filter's stage (an int means square);
            the filter becomes (new_h, new_w // 2 + 1, C, 2), the rfft2 size of that grid. The
            official code's target is `upsample_h = h * new_size // orig_size` (new_size,
            orig_size: the pos_embed grid sides; for GFNet-H stages h is the stage's grid) and
            `upsample_h // 2 + 1`, i.e. new_hw = upsample_h: square grids only there.

    Returns:
        (new_h, new_w // 2 + 1, C, 2) in the input's dtype; the input itself when the size is
        unchanged (the official interpolation is then an exact identity too).
    """
    arr = _array(complex_weight, "complex_weight")
    if arr.ndim != 4 or arr.shape[-1] != 2:
        raise InvalidArgumentError(
            f"a GFNet complex_weight must have shape (h, w//2+1, C, 2), got {arr.shape}")
    new_h, new_w = _size2(new_hw, "new_hw")
    target = (new_h, new_w // 2 + 1)
    if target == arr.shape[:2]:
        return arr
    return _bicubic_2d(arr, 0, 1, target, align_corners=True)
