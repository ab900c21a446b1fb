"""zoo.resample against its references (timm 1.0.31, torch 2.14.1 F.interpolate, GFNet main_gfnet.py).

Golden arrays: tests/fixtures/resample.golden.npz, written by scripts/make_resample_golden.py
(which says which reference lines each case mirrors). Tolerances, absolute:
- every case: 1e-6 against the exact reference in the case's dtype: torch in float64 for the
  float64 bicubic cases; torch in float64 on the upcast input, rounded to float32 (`exact`), for
  the float32 bicubic cases; timm's own float32 result for the relative position tables (timm
  always computes in float32);
- float32 bicubic cases, in addition: 1e-5 against torch's own float32 result, which is itself
  up to ~4e-6 off the exact value for N(0, 1) inputs (float32 coordinates and sums);
- float64 cases, in addition: 1e-12 (the algorithm, not just the rounding, is the reference's).
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zoo import resample
from zoo.errors import InvalidArgumentError, ZooError

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "fixtures" / "resample.golden.npz"
ATOL = 1e-6
ATOL_TORCH_F32 = 1e-5
ATOL_F64 = 1e-12


def _golden():
    with np.load(GOLDEN, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    cases = {}
    for key, value in arrays.items():
        name, part = key.rsplit("/", 1)
        cases.setdefault(name, {})[part] = value
    return cases


GOLDEN_CASES = _golden()


def _maxdiff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def _check_case(name, x, kwargs, function, reference, exact=None):
    got = getattr(resample, function)(x, **kwargs)
    assert isinstance(got, np.ndarray), name
    assert got.shape == reference.shape, (name, got.shape, reference.shape)
    assert got.dtype == x.dtype == reference.dtype, (name, got.dtype)
    if exact is not None:  # float32 bicubic
        assert _maxdiff(got, exact) <= ATOL, (name, _maxdiff(got, exact))
        assert _maxdiff(got, reference) <= ATOL_TORCH_F32, (name, _maxdiff(got, reference))
    else:
        assert _maxdiff(got, reference) <= ATOL, (name, _maxdiff(got, reference))
        if x.dtype == np.float64:
            assert _maxdiff(got, reference) <= ATOL_F64, (name, _maxdiff(got, reference))


def test_golden_covers_each_function():
    functions = {json.loads(str(c["args"]))["function"] for c in GOLDEN_CASES.values()}
    assert functions == set(resample.__all__)
    assert GOLDEN.stat().st_size < 200_000


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden(name):
    case = GOLDEN_CASES[name]
    kwargs = json.loads(str(case["args"]))
    function = kwargs.pop("function")
    _check_case(name, case["input"], kwargs, function, case["output"], case.get("exact"))


# --------------------------------------------------------------------------- identity


def test_identity_returns_input():
    rng = np.random.default_rng(0)
    flat = rng.standard_normal((169, 2)).astype(np.float32)
    assert resample.resize_rel_pos_bias_table(flat, (7, 7), (169, 2)) is flat
    tf_style = rng.standard_normal((2, 13, 13)).astype(np.float32)
    assert resample.resize_rel_pos_bias_table(tf_style, 7, (2, 13, 13)) is tf_style
    extra = rng.standard_normal((172, 2))
    assert resample.resize_rel_pos_bias_table(extra, (7, 7), (172, 2)) is extra
    non_square = rng.standard_normal((13 * 23, 2))  # 7x12 window, as timm infers it
    assert resample.resize_rel_pos_bias_table(non_square, (7, 12), (13 * 23, 2)) is non_square

    pos = rng.standard_normal((1, 197, 4)).astype(np.float32)
    assert resample.resize_pos_embed(pos, 14, num_prefix_tokens=1) is pos
    grid_only = pos[:, 1:]
    assert resample.resize_pos_embed(grid_only, (14, 14)) is grid_only
    rect = rng.standard_normal((1, 60, 3))
    assert resample.resize_pos_embed(rect, (6, 10), old_size=(6, 10)) is rect

    weight = rng.standard_normal((14, 8, 3, 2)).astype(np.float32)
    assert resample.resize_gfnet_filter(weight, 14) is weight
    assert resample.resize_gfnet_filter(weight, (14, 15)) is weight  # 15 // 2 + 1 == 8


# --------------------------------------------------------------------------- properties without torch


@pytest.mark.parametrize("size", [(24, 24), (7, 7), (9, 5)])
def test_constant_stays_constant(size):
    pos = np.full((1, 196, 3), 0.25)
    np.testing.assert_allclose(resample.resize_pos_embed(pos, size), 0.25, rtol=0, atol=1e-14)
    weight = np.full((14, 8, 2, 2), -1.5)
    out = resample.resize_gfnet_filter(weight, size)
    assert out.shape == (size[0], size[1] // 2 + 1, 2, 2)
    np.testing.assert_allclose(out, -1.5, rtol=0, atol=1e-14)
    table = np.full((169, 2), 3.0)
    out = resample.resize_rel_pos_bias_table(table, size, ((2 * size[0] - 1) * (2 * size[1] - 1), 2))
    np.testing.assert_allclose(out, 3.0, rtol=0, atol=1e-14)


def test_prefix_and_extra_tokens_kept():
    rng = np.random.default_rng(1)
    pos = rng.standard_normal((1, 198, 4))
    out = resample.resize_pos_embed(pos, (7, 9), num_prefix_tokens=2)
    assert out.shape == (1, 2 + 63, 4)
    np.testing.assert_array_equal(out[:, :2], pos[:, :2])
    table = rng.standard_normal((169 + 3, 2)).astype(np.float32)
    out = resample.resize_rel_pos_bias_table(table, (12, 12), (529 + 3, 2))
    np.testing.assert_array_equal(out[-3:], table[-3:])


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("call, expected", [
    (lambda: resample.resize_rel_pos_bias_table(np.zeros(169), (7, 7), (169,)), "(num_pos, num_heads)"),
    (lambda: resample.resize_rel_pos_bias_table(np.zeros((2, 13, 13)), (8, 10), (2, 15, 15)), "(2, 15, 19)"),
    (lambda: resample.resize_rel_pos_bias_table(np.zeros((169, 2)), (12, 12), (529, 3)), "(529 + extra tokens, 2)"),
    (lambda: resample.resize_rel_pos_bias_table(np.zeros((170, 2)), (12, 12), (529, 2)), "old_window_size"),
    (lambda: resample.resize_rel_pos_bias_table(np.zeros((169, 2)), (6, 4), (77, 2), old_window_size=(3, 5)),
     "(45, 2)"),
    (lambda: resample.resize_rel_pos_bias_table(np.zeros((169, 2), np.int32), 12, (529, 2)), "floating-point"),
    (lambda: resample.resize_pos_embed(np.zeros((196, 8)), 24), "(1, N, C)"),
    (lambda: resample.resize_pos_embed(np.zeros((1, 61, 3)), 24), "(1, 0 + h*w, C)"),
    (lambda: resample.resize_pos_embed(np.zeros((1, 61, 3)), 24, num_prefix_tokens=1, old_size=(6, 9)),
     "(1, 55, 3)"),
    (lambda: resample.resize_pos_embed(np.zeros((1, 196, 3)), 0), "pair (h, w) of positive ints"),
    (lambda: resample.resize_pos_embed(np.zeros((1, 196, 3)), 24, num_prefix_tokens=-1), "num_prefix_tokens"),
    (lambda: resample.resize_gfnet_filter(np.zeros((14, 8, 3)), 24), "(h, w//2+1, C, 2)"),
    (lambda: resample.resize_gfnet_filter(np.zeros((14, 8, 3, 1)), 24), "(h, w//2+1, C, 2)"),
    (lambda: resample.resize_gfnet_filter(np.zeros((14, 8, 3, 2)), (24, 24, 3)), "pair (h, w)"),
])
def test_bad_arguments_raise(call, expected):
    with pytest.raises(InvalidArgumentError) as info:
        call()
    assert isinstance(info.value, ZooError)
    assert expected in str(info.value), str(info.value)


# --------------------------------------------------------------------------- import isolation


def test_import_pulls_no_framework():
    code = ("import sys, zoo.resample; "
            "print(','.join(m for m in ('tensorflow', 'keras', 'torch', 'timm', 'jax') if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"import zoo.resample imported {done.stdout.strip()}"


# --------------------------------------------------------------------------- live, with the torch extra


@pytest.mark.torch
def test_live_against_timm_and_torch():
    """Fresh random inputs through the references themselves (the generator's reference functions)."""
    pytest.importorskip("torch")
    pytest.importorskip("timm")
    spec = importlib.util.spec_from_file_location("make_resample_golden", ROOT / "scripts" / "make_resample_golden.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    seed = int.from_bytes(os.urandom(4), "little")
    for name, (x, kwargs, reference, exact, function) in generator.make_cases(seed).items():
        _check_case(f"{name} (seed {seed})", x, kwargs, function, reference, exact)
