"""Write tests/fixtures/resample.golden.npz: reference outputs for zoo.resample.

Test-data generator, not part of the package: it needs torch 2.14.1 and timm 1.0.31 (the
`torch` extra), e.g. in a separate venv:

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.14.1 torchvision==0.29.1 timm==1.0.31 numpy
    /tmp/tv/bin/python scripts/make_resample_golden.py            # writes the fixture
    /tmp/tv/bin/python scripts/make_resample_golden.py --check    # compares zoo.resample live, writes nothing

The references, called or mirrored here on seeded random inputs:
- relative position tables: timm 1.0.31 `timm.layers.resize_rel_pos_bias_table` itself
  (pos_embed_rel.py), the call timm/models/maxxvit.py::checkpoint_filter_fn makes, with
  TIMM_USE_SCIPY_INTERP unset (timm's default branch);
- pos_embed: the lines of raoyongming/GFNet main_gfnet.py `main()` under "# interpolate position
  embedding" (reshape(-1, h, w, C).permute(0, 3, 1, 2), F.interpolate(mode='bicubic',
  align_corners=False), permute(0, 2, 3, 1).flatten(1, 2)), generalised to a non-square grid and
  prefix tokens kept first as DeiT's version of those lines does;
- GFNet filters: the lines of main_gfnet.py `main()` under "if 'complex_weight' in name"
  (upsample_h = h * new_size // orig_size, upsample_w = upsample_h // 2 + 1,
  reshape(1, h, w, C * 2).permute(0, 3, 1, 2), F.interpolate(mode='bicubic', align_corners=True),
  permute(0, 2, 3, 1).reshape(upsample_h, upsample_w, C, 2)).

Each case stores `<case>/input`, `<case>/output` and `<case>/args` (JSON: the zoo.resample call's
keyword arguments). float32 cases are computed by the reference in float32 (timm's table resize
always is); float64 cases in float64. float32 bicubic cases also store `<case>/exact`: the same
reference in float64 on the upcast input, rounded to float32 (see make_cases).
"""
import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "resample.golden.npz"
SEED = 20240609


# --------------------------------------------------------------------------- the references

def reference_rel_pos(table, new_window_size, new_bias_shape, old_window_size=None):
    """timm 1.0.31 resize_rel_pos_bias_table, default (non-scipy) branch."""
    import torch
    from timm.layers import pos_embed_rel

    assert not pos_embed_rel._USE_SCIPY, "unset TIMM_USE_SCIPY_INTERP: timm's default branch is the reference"
    out = pos_embed_rel.resize_rel_pos_bias_table(
        torch.from_numpy(np.ascontiguousarray(table)), new_window_size=tuple(new_window_size),
        new_bias_shape=tuple(new_bias_shape),
        old_window_size=None if old_window_size is None else tuple(old_window_size))
    return out.numpy()


def reference_pos_embed(pos_embed, new_size, num_prefix_tokens=0, old_size=None):
    """main_gfnet.py's pos_embed lines (square, no extra tokens there)."""
    import torch

    pos_embed_checkpoint = torch.from_numpy(np.ascontiguousarray(pos_embed))
    embedding_size = pos_embed_checkpoint.shape[-1]
    n = num_prefix_tokens
    if old_size is None:
        side = int((pos_embed_checkpoint.shape[-2] - n) ** 0.5)
        old_size = (side, side)
    new_size = (new_size, new_size) if isinstance(new_size, int) else tuple(new_size)
    extra_tokens = pos_embed_checkpoint[:, :n]
    pos_tokens = pos_embed_checkpoint[:, n:]
    pos_tokens = pos_tokens.reshape(-1, old_size[0], old_size[1], embedding_size).permute(0, 3, 1, 2)
    pos_tokens = torch.nn.functional.interpolate(
        pos_tokens, size=new_size, mode='bicubic', align_corners=False)
    pos_tokens = pos_tokens.permute(0, 2, 3, 1).flatten(1, 2)
    return torch.cat((extra_tokens, pos_tokens), dim=1).numpy()


def reference_gfnet_filter(complex_weight, new_size, orig_size):
    """main_gfnet.py's complex_weight lines; returns (new weight, upsample_h)."""
    import torch

    weight = torch.from_numpy(np.ascontiguousarray(complex_weight))
    h, w, num_heads = weight.shape[0:3]  # h, w, c, 2
    upsample_h = h * new_size // orig_size
    upsample_w = upsample_h // 2 + 1
    origin_weight = weight.reshape(1, h, w, num_heads * 2).permute(0, 3, 1, 2)
    new_weight = torch.nn.functional.interpolate(
        origin_weight, size=(upsample_h, upsample_w), mode='bicubic', align_corners=True
    ).permute(0, 2, 3, 1).reshape(upsample_h, upsample_w, num_heads, 2)
    return new_weight.numpy(), upsample_h


# --------------------------------------------------------------------------- the cases

def _rel_pos_cases(rng):
    """(name, input, zoo kwargs); flat tables are (num_pos, heads), RelPosBiasTf's are 3-D."""
    def flat(win, heads, extra=0):
        return rng.standard_normal(((2 * win[0] - 1) * (2 * win[1] - 1) + extra, heads)).astype(np.float32)

    def shape(win, heads, extra=0):
        return [(2 * win[0] - 1) * (2 * win[1] - 1) + extra, heads]

    return [
        ("rel_pos_7_to_12", flat((7, 7), 3), {"new_window_size": [12, 12], "new_bias_shape": shape((12, 12), 3)}),
        ("rel_pos_14_to_7", flat((14, 14), 2), {"new_window_size": [7, 7], "new_bias_shape": shape((7, 7), 2)}),
        ("rel_pos_7_to_7x12", flat((7, 7), 2), {"new_window_size": [7, 12], "new_bias_shape": shape((7, 12), 2)}),
        ("rel_pos_extra3_7_to_10", flat((7, 7), 2, extra=3),
         {"new_window_size": [10, 10], "new_bias_shape": shape((10, 10), 2, extra=3)}),
        ("rel_pos_old_3x5_to_6x4", flat((3, 5), 2),
         {"new_window_size": [6, 4], "new_bias_shape": shape((6, 4), 2), "old_window_size": [3, 5]}),
        ("rel_pos_tf_7_to_8x10", rng.standard_normal((2, 13, 13)).astype(np.float32),
         {"new_window_size": [8, 10], "new_bias_shape": [2, 15, 19]}),
    ]


def _pos_embed_cases(rng):
    def pe(tokens, channels, dtype=np.float64):
        return rng.standard_normal((1, tokens, channels)).astype(dtype)

    return [
        ("pos_embed_14_to_24", pe(196, 3), {"new_size": [24, 24]}),
        ("pos_embed_14_to_7", pe(196, 3), {"new_size": [7, 7]}),
        ("pos_embed_6x10_to_9x7_prefix1", pe(61, 3), {"new_size": [9, 7], "num_prefix_tokens": 1, "old_size": [6, 10]}),
        ("pos_embed_14_to_24_f32", pe(196, 2, np.float32), {"new_size": [24, 24]}),
    ]


def _gfnet_cases(rng):
    """(name, input, new_size, orig_size): the official call's pos_embed grid sides."""
    def cw(h, channels, dtype=np.float64):
        return rng.standard_normal((h, h // 2 + 1, channels, 2)).astype(dtype)

    return [
        ("gfnet_224_to_384", cw(14, 3), 24, 14),             # 14x8 -> 24x13
        ("gfnet_224_to_160", cw(14, 3), 10, 14),             # 14x8 -> 10x6
        ("gfnet_h_stage2_224_to_384", cw(28, 1), 96, 56),    # GFNet-H: 28x15 -> 48x25
        ("gfnet_224_to_384_f32", cw(14, 2, np.float32), 24, 14),
    ]


def make_cases(seed=SEED):
    """{case: (input, zoo kwargs, reference output, exact output or None, zoo function name)}.

    `exact` (float32 bicubic cases only): the same reference run in float64 on the upcast input,
    rounded to float32. PyTorch's float32 bicubic is itself up to ~4e-6 off that for N(0, 1)
    inputs (float32 source coordinates and sums); zoo.resample computes in float64.
    """
    rng = np.random.default_rng(seed)
    cases = {}
    for name, x, kw in _rel_pos_cases(rng):
        cases[name] = (x, kw, reference_rel_pos(x, **kw), None, "resize_rel_pos_bias_table")
    for name, x, kw in _pos_embed_cases(rng):
        exact = None
        if x.dtype == np.float32:
            exact = reference_pos_embed(x.astype(np.float64), **kw).astype(np.float32)
        cases[name] = (x, kw, reference_pos_embed(x, **kw), exact, "resize_pos_embed")
    for name, x, new_size, orig_size in _gfnet_cases(rng):
        out, upsample_h = reference_gfnet_filter(x, new_size, orig_size)
        exact = None
        if x.dtype == np.float32:
            exact = reference_gfnet_filter(x.astype(np.float64), new_size, orig_size)[0].astype(np.float32)
        cases[name] = (x, {"new_hw": [upsample_h, upsample_h]}, out, exact, "resize_gfnet_filter")
    return cases


def check(cases):
    """Compare zoo.resample with the references computed now; the worst |difference| (vs exact where stored)."""
    sys.path.insert(0, str(ROOT))
    import zoo.resample

    def maxdiff(a, b):
        return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))

    worst = 0.0
    for name, (x, kw, ref, exact, fn) in cases.items():
        got = getattr(zoo.resample, fn)(x, **kw)
        assert got.shape == ref.shape and got.dtype == ref.dtype, (name, got.shape, ref.shape, got.dtype)
        diff = maxdiff(got, ref)
        line = f"{name:30s} {x.dtype!s:7s} {x.shape!s:16s} -> {ref.shape!s:16s} max|diff| {diff:.3e}"
        if exact is not None:
            diff = maxdiff(got, exact)
            line += f" (vs torch float32); {diff:.3e} vs torch float64"
        worst = max(worst, diff)
        print(line)
    return worst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--check", action="store_true", help="compare zoo.resample live; write nothing")
    args = parser.parse_args(argv)
    os.environ.pop("TIMM_USE_SCIPY_INTERP", None)
    cases = make_cases(args.seed)
    if args.check:
        print(f"worst max|diff| {check(cases):.3e}")
        return
    arrays = {}
    for name, (x, kw, ref, exact, fn) in cases.items():
        arrays[f"{name}/input"] = x
        arrays[f"{name}/output"] = ref
        if exact is not None:
            arrays[f"{name}/exact"] = exact
        arrays[f"{name}/args"] = np.array(json.dumps({"function": fn, **kw}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
