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
