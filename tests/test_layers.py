"""The contract every layer of `zoo.layers` keeps, checked on a tiny configuration of each
(tests/layer_cases.py): shapes with a dynamic batch, gradients to every weight, config and
`.keras` round trips, XLA, mixed precision, and clear errors on bad input."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from layer_cases import CASES, built, randomize, sample

NAMES = sorted(CASES)
SOFTMAX_BLIND = {"ParallelPolarizedSelfAttention": "ch_wq/bias", "SequentialPolarizedSelfAttention": "ch_wq/bias"}


def _functional(layer, shape):
    inp = keras.Input(shape[1:], name="x")
    return keras.Model(inp, layer(inp))


@pytest.mark.parametrize("name", NAMES)
def test_shape_and_dynamic_batch(name):
    case = CASES[name]
    layer, _ = built(case)
    model = _functional(layer, case.shape)                   # built with batch None
    assert tuple(model.output.shape) == (None,) + tuple(case.out_shape[1:])
    assert tuple(layer.compute_output_shape((None,) + tuple(case.shape[1:]))) == (None,) + tuple(case.out_shape[1:])
    x3 = sample((3,) + tuple(case.shape[1:]), seed=5)
    y3 = np.asarray(model(x3, training=False))
    y1 = np.asarray(model(x3[:1], training=False))
    assert y3.shape == (3,) + tuple(case.out_shape[1:]) and y1.shape == (1,) + tuple(case.out_shape[1:])
    assert np.isfinite(y3).all()
    np.testing.assert_allclose(y1[0], y3[0], rtol=1e-5, atol=1e-5)   # samples do not mix


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_weight(name):
    case = CASES[name]
    layer, x = built(case)
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=False)
        # a random weighting: a plain sum would be blind to weights that only permute outputs
        loss = tf.reduce_sum(tf.square(y) * tf.random.stateless_uniform(y.shape, (1, 2)))
    grads = tape.gradient(loss, layer.trainable_weights + [x])
    assert layer.trainable_weights or name == "SimAM"
    # a bias the softmax after it is blind to (softmax over the axis it is constant on): its
    # gradient is zero but for rounding, in PyTorch's PSA too; that it stays ~0 is what holds
    blind = {w.path for w in layer.trainable_weights if name in SOFTMAX_BLIND and w.path.endswith(SOFTMAX_BLIND[name])}
    for w, g in zip(layer.trainable_weights, grads):
        if w.path in blind:
            top = max(float(np.max(np.abs(np.asarray(v)))) for v in grads if v is not None)
            assert g is None or float(np.max(np.abs(np.asarray(g)))) <= 1e-5 * top, w.path
    dead = [w.path for w, g in zip(layer.trainable_weights, grads)
            if w.path not in blind and (g is None or not np.any(np.asarray(g)))]
    assert not dead, f"no gradient reaches {dead}"
    assert np.any(np.asarray(grads[-1])), "no gradient reaches the input"


@pytest.mark.parametrize("name", NAMES)
def test_config_and_keras_file_round_trip(name, tmp_path):
    case = CASES[name]
    layer, x = built(case)
    expected = np.asarray(layer(x, training=False))
    clone = type(layer).from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(np.asarray(clone(x, training=False)), expected)

    model = _functional(layer, case.shape)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.layers[-1]) is type(layer)
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), expected)


@pytest.mark.parametrize("name", NAMES)
def test_xla(name):
    case = CASES[name]
    layer, x = built(case)
    expected = np.asarray(layer(x, training=False))
    fn = tf.function(lambda t: layer(t, training=False), jit_compile=True)
    np.testing.assert_allclose(np.asarray(fn(tf.constant(x))), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_mixed_float16(name):
    case = CASES[name]
    ref, x = built(case)
    layer = case.make(dtype="mixed_float16")
    layer(x)
    layer.set_weights(ref.get_weights())
    y = layer(x, training=False)
    assert y.dtype == "float16", f"{name} returns {y.dtype} under mixed_float16"
    assert all(w.dtype == "float32" for w in layer.weights), "variables stay float32"
    y, y32 = np.asarray(y, np.float32), np.asarray(ref(x, training=False))
    assert np.isfinite(y).all()
    scale = max(1.0, float(np.abs(y32).max()))
    assert np.abs(y - y32).max() <= 1.5e-2 * scale, f"max |fp16 - fp32| = {np.abs(y - y32).max():.3g}"


def _expect_error(layer, shape, name):
    with pytest.raises(ValueError) as info:
        layer(np.zeros(shape, np.float32))
    msg = str(info.value)
    assert name in msg and "(batch" in msg, f"unhelpful error: {msg}"


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_refused(name):
    case = CASES[name]
    shape = case.shape
    _expect_error(case.make(), shape[:1] + shape[-1:], name)                       # rank 2
    other = shape[:1] + (4,) + shape[1:] if len(shape) == 3 else shape[:2] + shape[3:]
    if len(other) not in case.accepted_ranks:
        _expect_error(case.make(), other, name)
    if case.channels_checked:
        _expect_error(case.make(), shape[:-1] + (shape[-1] + 1,), name)
    if case.fixed_hw:                                                              # H or token count
        _expect_error(case.make(), shape[:1] + (shape[1] + 1,) + shape[2:], name)


def test_every_layer_is_registered_for_serialization():
    for name in NAMES:
        layer = CASES[name].make()
        assert keras.saving.get_registered_name(type(layer)) == f"zoo>{name}"


def test_randomize_changes_every_weight():
    layer, _ = built(CASES["BAMBlock"])
    before = [np.asarray(w).copy() for w in layer.weights]
    randomize(layer, seed=9)
    assert all(not np.array_equal(b, np.asarray(w)) for b, w in zip(before, layer.weights))
