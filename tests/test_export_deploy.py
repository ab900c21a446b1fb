"""Deploy forms: layers with to_deploy() are swapped in before TFLite/ONNX export, with proof."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import export
from export.deploy import deploy_model
from tests.export_helpers import MEAN, STD, FFTRoundTrip, tiny_inputs, tiny_model
from zoo.errors import ExportError


class TwoScales(keras.layers.Layer):
    """x * a * b with two weight vectors; its deploy form is one Multiply by a * b (as a
    re-parameterised block fuses to one conv)."""

    def __init__(self, wrong=False, **kw):
        super().__init__(**kw)
        self.wrong = wrong

    def build(self, shape):
        c = shape[-1]
        self.a = self.add_weight(shape=(c,), initializer=keras.initializers.RandomUniform(0.5, 1.5, seed=1))
        self.b = self.add_weight(shape=(c,), initializer=keras.initializers.RandomUniform(0.5, 1.5, seed=2))

    def call(self, x):
        return x * self.a * self.b

    def to_deploy(self):
        fused = OneScale(name=self.name + "_fused")
        fused.build((None, None, None, self.a.shape[0]))
        w = keras.ops.convert_to_numpy(self.a) * keras.ops.convert_to_numpy(self.b)
        fused.s.assign(w * (1.1 if self.wrong else 1.0))
        return fused


class OneScale(keras.layers.Layer):
    def build(self, shape):
        self.s = self.add_weight(shape=(shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.s


def test_deploy_form_is_swapped_and_proven():
    m = tiny_model(TwoScales(name="scales"))
    x = tiny_inputs()
    d, swapped, diff = deploy_model(m, x)
    assert swapped == ["scales"] and diff < 1e-6
    assert any(isinstance(l, OneScale) for l in d.layers) and not any(isinstance(l, TwoScales) for l in d.layers)
    np.testing.assert_allclose(d(x), m(x), rtol=1e-5, atol=1e-6)
    # the other layers are reused, weights shared
    assert d.get_layer("conv") is m.get_layer("conv")


def test_wrong_deploy_form_is_refused():
    m = tiny_model(TwoScales(wrong=True, name="scales"))
    with pytest.raises(ExportError, match="changes its outputs.*to_deploy"):
        deploy_model(m, tiny_inputs())


def test_model_without_deploy_forms_is_returned_as_is():
    m = tiny_model()
    d, swapped, diff = deploy_model(m, None)
    assert d is m and swapped == [] and diff is None


def test_exports_use_the_deploy_form(tmp_path):
    """The FFT layer has no TFLite builtin / tf2onnx handler; its deploy form (identity) does,
    so the exports succeed only because the swap happened, and they match the original model."""
    m = tiny_model(FFTRoundTrip(deploy=True, name="fft"))
    p = export.to_tflite(m, tmp_path / "m.tflite", mean=MEAN, std=STD)
    r = export.verify(m, p, mean=MEAN, std=STD, timing=False, mediapipe=False)
    assert r.passed, r.table()
    p = export.to_onnx(m, tmp_path / "m.onnx")
    r = export.verify(m, p, mean=MEAN, std=STD, timing=False)
    assert r.passed, r.table()


# --- nested layers: deploy forms and the grouped-conv rewrite reach sublayers of composites ---

@keras.saving.register_keras_serializable(package="zoo_tests")
class Residual(keras.layers.Layer):
    """x + block(x) with a RepVGG block inside: a composite layer rebuilt from its config."""

    def __init__(self, channels, **kw):
        super().__init__(**kw)
        self.channels = channels
        from zoo.layers import RepVGGBlock
        self.block = RepVGGBlock(channels, channels, name="block")

    def build(self, shape):
        self.block.build(shape)

    def call(self, x):
        return x + self.block(x)

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def _random_bn_statistics(model, seed=0):
    """BN moving statistics away from (0, 1), so that a fused conv differs from an unfused one."""
    rng = np.random.default_rng(seed)
    for l in model._flatten_layers():
        if isinstance(l, keras.layers.BatchNormalization):
            n = l.moving_mean.shape[0]
            l.moving_mean.assign(rng.uniform(-0.5, 0.5, n).astype(np.float32))
            l.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype(np.float32))


@pytest.mark.parametrize("wrap", ["composite", "chain", "sequential"])
def test_nested_deploy_form_is_swapped_and_proven(wrap):
    from zoo.layers import RepVGGBlock
    from zoo.layers._nn import Chain
    children = [RepVGGBlock(8, 8, name="block"), keras.layers.ReLU(name="act")]
    outer = {"composite": lambda: Residual(8, name="res"), "chain": lambda: Chain(children, name="res"),
             "sequential": lambda: keras.Sequential(children, name="res")}[wrap]()
    m = tiny_model(outer)
    _random_bn_statistics(m)
    x = tiny_inputs()
    d, swapped, diff = deploy_model(m, x)
    assert swapped == ["res/block"] and diff < 1e-5
    def block(model):
        return next(l for l in model.get_layer("res")._flatten_layers() if isinstance(l, RepVGGBlock))
    assert block(d).deploy and not block(m).deploy   # the original is left as it was
    np.testing.assert_allclose(d(x), m(x), rtol=1e-5, atol=1e-5)
    # the deploy form holds one fused conv instead of three branches of conv + BN
    assert len(d.get_layer("res").weights) == 2 < len(m.get_layer("res").weights)


def test_composite_without_config_needs_its_own_to_deploy():
    class NoConfig(keras.layers.Layer):
        """Its sublayer is a constructor argument that get_config() does not record."""

        def __init__(self, inner, **kw):
            super().__init__(**kw)
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    m = tiny_model(NoConfig(TwoScales(name="inner"), name="nc"))
    with pytest.raises(ExportError, match="nc.*cannot be rebuilt from its config.*to_deploy"):
        deploy_model(m, tiny_inputs())


def test_data_init_estimates_nested_batchnorms():
    """CoT's BNs live inside Chains inside the layer: their moving statistics must be estimated."""
    from export import testing
    from zoo.layers import CoTAttention
    m = tiny_model(CoTAttention(dim=8, name="cot"))
    bn = m.get_layer("cot").key_embed.children_[1]
    assert isinstance(bn, keras.layers.BatchNormalization)
    momentum = bn.momentum
    testing.data_init(m, images=tiny_inputs(8))
    mean = keras.ops.convert_to_numpy(bn.moving_mean)
    assert np.abs(mean).max() > 1e-3 and bn.momentum == momentum
    # the estimate is the batch mean of what the BN sees (momentum 0)
    conv = m.get_layer("cot").key_embed.children_[0]
    feats = keras.Model(m.input, m.get_layer("relu").output)(tiny_inputs(8))
    np.testing.assert_allclose(mean, keras.ops.convert_to_numpy(conv(feats)).mean((0, 1, 2)), rtol=1e-4, atol=1e-5)


# --- grouped convolutions: native / per group in Keras, split for ONNX, builtin CONV_2D in TFLite ---

def test_split_group_conv_keeps_pytorch_padding():
    """SplitGroupConv2D replacing a zoo Conv2d pads like it (a stride-2 conv, explicit padding 1)."""
    from export.onnx import SplitGroupConv2D
    from zoo.layers._nn import Conv2d
    x = np.random.default_rng(3).standard_normal((2, 9, 9, 4)).astype(np.float32)
    for kw in (dict(stride=2, padding=1), dict(stride=1, padding=2, dilation=2), dict(stride=1, padding=1)):
        conv = Conv2d(8, 3, groups=2, name="c", **kw)
        ref = conv(x)
        split = SplitGroupConv2D(conv)
        assert tuple(split.compute_output_shape(x.shape)) == tuple(ref.shape), kw
        np.testing.assert_allclose(split(x), ref, rtol=1e-5, atol=1e-5)


def test_nested_grouped_conv_is_split_for_onnx():
    """CoT's grouped key conv sits in a Chain inside the layer: the rewrite reaches it."""
    from export.onnx import SplitGroupConv2D, onnx_ready_model
    from zoo.layers import CoTAttention
    m = tiny_model(CoTAttention(dim=8, name="cot"))
    x = tiny_inputs()
    g, swapped = onnx_ready_model(m, x)
    assert swapped == ["cot/key_embed/0"]
    assert isinstance(g.get_layer("cot").key_embed.children_[0], SplitGroupConv2D)
    np.testing.assert_allclose(g(x), m(x), rtol=1e-5, atol=1e-5)


def test_grouped_conv_paths_agree(monkeypatch):
    """GroupedConv2D computes Keras' Conv2D(groups) on each path: TensorFlow's grouped Conv2D
    directly (one op), one conv per group, and the probe picks one of them here, "direct" on an
    x86 build with oneDNN (the default; TF_ENABLE_ONEDNN_OPTS=0 turns it off)."""
    from zoo.layers import _nn
    x = np.random.default_rng(4).standard_normal((2, 10, 10, 8)).astype(np.float32)
    keras.utils.set_random_seed(0)
    ref = keras.layers.Conv2D(12, 3, strides=2, groups=4, name="g")
    want = keras.ops.convert_to_numpy(ref(x))
    monkeypatch.setattr(_nn, "_GROUPED_PATH", None)   # first asked while a tf.function traces
    import tensorflow as tf
    traced = tf.function(lambda: tf.constant(_nn.grouped_conv_path()))().numpy().decode()
    # the same answer as the probe run plainly eagerly (it once always failed under init_scope,
    # where gradient tapes do not record, and every host ran one conv per group)
    assert traced == ("direct" if _nn._direct_grouped_works() else "per-group")
    for path, n_convs in (("per-group", 4), ("direct", 1)):
        monkeypatch.setattr(_nn, "_GROUPED_PATH", path)
        conv = _nn.GroupedConv2D.from_config(ref.get_config())
        conv.build(x.shape)
        conv.set_weights(ref.get_weights())
        np.testing.assert_allclose(conv(x), want, rtol=1e-5, atol=1e-5)
        import tensorflow as tf
        graph = tf.function(conv).get_concrete_function(tf.TensorSpec(x.shape)).graph
        convs = [op for op in graph.get_operations() if op.type == "Conv2D"]
        assert len(convs) == n_convs
    import os
    import platform
    if platform.system() == "Linux" and platform.machine() == "x86_64" and os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0":
        assert traced == "direct"


def test_seresnext_builds_grouped_convs_with_pytorch_padding():
    """ResNeXt's grouped 3x3 convs are GroupedConv2D; a stride-2 one keeps its `.pad` layer."""
    import zoo
    from zoo.layers._nn import GroupedConv2D
    m = zoo.create("seresnext26d_32x4d", img_size=64)
    grouped = [l for l in m.layers if getattr(l, "groups", 1) > 1]
    assert grouped and all(type(l) is GroupedConv2D for l in grouped)
    strided = [l for l in grouped if l.strides == (2, 2)]
    assert strided and all(l.padding == "valid" and m.get_layer(f"{l.name}.pad").padding == ((1, 1), (1, 1))
                           for l in strided)


def test_tflite_converts_a_nested_grouped_conv_to_builtin_ops(tmp_path):
    """A zoo layer with a grouped conv (CoT, groups=4) exports to TFLite with builtin ops only and
    matches Keras; no rewrite is needed there (the native form converts to one CONV_2D, the
    per-group form to SPLIT / CONV_2D / CONCATENATION)."""
    from export.tflite import inspect_tflite, load_interpreter
    from zoo.layers import CoTAttention
    m = tiny_model(CoTAttention(dim=8, name="cot"))
    x = tiny_inputs(2)
    p = export.to_tflite(m, tmp_path / "m.tflite", pixel_input=False, metadata=False, check_inputs=x)
    buf = p.read_bytes()
    info = inspect_tflite(buf)
    assert not info["flex_or_custom"] and "CONV_2D" in info["ops"], info["ops"]
    it = load_interpreter(buf, default_delegates=False)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    it.set_tensor(i["index"], x[:1])
    it.invoke()
    np.testing.assert_allclose(it.get_tensor(o["index"]), m(x[:1]), rtol=1e-4, atol=1e-4)
