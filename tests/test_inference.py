"""zoo.inference_model: batch norms folded into their convolutions, re-parameterised blocks fused,
the same outputs (proved inside, checked here again on other inputs), and only where it is exact."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from export import testing
from export_helpers import SMALLEST
from zoo.inference import Folded, inference_model

# the smallest model of each family at 64 px (gfnet_ti: its filter is built for a 14x14 grid)
SIZES = {"gfnet_ti": 224}


def _bns(model):
    return [layer for layer in model.layers if type(layer) is keras.layers.BatchNormalization]


@pytest.mark.parametrize("name", SMALLEST.values())
def test_inference_model_gives_the_same_outputs(name):
    model = testing.data_init(zoo.create(name, img_size=SIZES.get(name, 64)))
    fused = inference_model(model)
    x = np.random.default_rng(1).standard_normal((2, *model.input_shape[1:])).astype(np.float32)
    ref = model.predict(x, verbose=0)
    out = fused.predict(x, verbose=0)
    assert np.max(np.abs(out - ref)) <= 1e-5 * np.max(np.abs(ref))
    assert zoo.pretrained_cfg(fused) == zoo.pretrained_cfg(model)
    folded = [layer for layer in fused.layers if isinstance(layer, Folded)]
    assert len(_bns(fused)) + len(folded) == len(_bns(model))
    if name.startswith(("seresnet", "ecaresnet", "legacy_seresnet", "mobilevit")):
        assert not _bns(fused), [b.name for b in _bns(fused)]   # every BN follows a conv there
    if name == "parnet_s":
        assert not any(getattr(layer, "deploy", True) is False for layer in fused.layers)


def test_a_batch_norm_on_a_shared_conv_output_is_kept():
    """A conv whose output also feeds something else cannot absorb the BN (the other consumer
    needs the unnormalized value); nor can a BN whose input is not a conv."""
    inp = keras.Input((8, 8, 3))
    c = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    a = keras.layers.BatchNormalization(name="bn_shared")(c)
    b = keras.layers.ReLU(name="relu")(c)
    d = keras.layers.BatchNormalization(name="bn_after_relu")(b)
    e = keras.layers.Conv2D(4, 1, name="conv2")(keras.layers.Add()([a, d]))
    f = keras.layers.BatchNormalization(name="bn_ok")(e)
    model = keras.Model(inp, f)
    for bn in _bns(model):
        n = bn.gamma.shape[0]
        bn.set_weights([np.linspace(0.5, 1.5, n), np.linspace(-1, 1, n), np.linspace(-0.2, 0.2, n),
                        np.linspace(0.5, 2, n)])
    fused = inference_model(model)
    assert sorted(b.name for b in _bns(fused)) == ["bn_after_relu", "bn_shared"]
    assert [layer.name for layer in fused.layers if isinstance(layer, Folded)] == ["bn_ok"]
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(fused.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_depthwise_fold_and_nothing_to_fuse():
    inp = keras.Input((8, 8, 4))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=False, name="dw")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inp, x)
    bn = model.get_layer("bn")
    bn.set_weights([np.linspace(0.5, 1.5, 8), np.linspace(-1, 1, 8), np.linspace(-0.2, 0.2, 8), np.linspace(0.5, 2, 8)])
    fused = inference_model(model)
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 4)).astype(np.float32)
    np.testing.assert_allclose(fused.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    plain = keras.Model(inp, keras.layers.ReLU()(inp))
    assert inference_model(plain) is plain


def test_inference_model_rejects_what_is_not_a_functional_model():
    with pytest.raises(zoo.ZooError, match="functional"):
        inference_model(keras.layers.Dense(3))


def _graph_ops(fn_graph):
    return {op.type for op in fn_graph.get_operations()}


@pytest.mark.parametrize("name", ["seresnet18", "mobilevit_xxs"])
def test_inference_function_is_the_model_with_its_weights_as_constants(name):
    """The frozen forward pass gives the model's outputs, reads no variable, and keeps its own
    weights: changing the model afterwards does not change it."""
    import tensorflow as tf
    model = testing.data_init(zoo.create(name, img_size=64))
    fn = zoo.inference_function(model)
    x = np.random.default_rng(2).standard_normal((3, 64, 64, 3)).astype(np.float32)
    ref = model.predict(x, verbose=0)
    out = fn(x).numpy()
    assert out.shape == ref.shape
    assert np.max(np.abs(out - ref)) <= 1e-5 * np.max(np.abs(ref))
    graph = tf.function(fn).get_concrete_function(tf.TensorSpec((None, 64, 64, 3), tf.float32)).graph
    assert not _graph_ops(graph) & {"ReadVariableOp", "VarHandleOp", "ResourceGather"}
    for v in model.weights:
        v.assign(np.zeros(v.shape, v.dtype))
    np.testing.assert_array_equal(fn(x).numpy(), out)


def test_inference_function_keeps_the_output_nesting_and_checks_its_arguments():
    model = zoo.create("seresnet18", img_size=64, features_only=True, out_indices=(1, 3))
    x = np.random.default_rng(3).standard_normal((2, 64, 64, 3)).astype(np.float32)
    ref = model.predict(x, verbose=0)
    out = zoo.inference_function(model, batch_size=2, fuse=False)(x)
    assert isinstance(out, list) and len(out) == len(ref) == 2
    for a, b in zip(out, ref):
        assert np.max(np.abs(a.numpy() - b)) <= 1e-5 * np.max(np.abs(b))
    with pytest.raises(zoo.ZooError, match="batch_size"):
        zoo.inference_function(model, batch_size=0)
    a, b = keras.Input((4,)), keras.Input((4,))
    with pytest.raises(zoo.ZooError, match="one input"):
        zoo.inference_function(keras.Model([a, b], keras.layers.Add()([a, b])))
