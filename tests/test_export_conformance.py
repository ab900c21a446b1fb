"""One model of every registered family x every format: written, then verified in its own runtime.

Models are random weights with data-initialised BatchNorm (export.testing.data_init): no
published weights are reachable here, and a plainly random network gives the same class for
every photo. Gates: fp32 artifacts (SavedModel, ONNX, TF Hub, TFLite fp32) max |diff| <= 1e-4 x
max|logits|, TFLite fp16 <= 1e-2 x; dynamic-range and int8 TFLite report top-1 agreement with
Keras on the verification photos (disjoint from the calibration photos) and must pass every
structural check (builtin ops, XNNPACK, no near-zero scales, metadata, MediaPipe agreement).
"""
from __future__ import annotations

import keras
import pytest

import export
import zoo
from export import photos, testing
from tests.export_helpers import SMALLEST, family_model

CASES = [("saved_model", None), ("onnx", None), ("tfhub", None), ("tflite", "fp32"), ("tflite", "fp16"),
         ("tflite", "dynamic"), ("tflite", "int8")]
_MODELS: dict = {}
# families whose int8 graph has no op that int8 XNNPACK leaves out (the attention families keep
# BATCH_MATMUL, SOFTMAX, RSQRT, GELU in LiteRT's kernels: int8-mixed is their CPU form)
INT8_WHOLE = ("seresnet18", "ecaresnet26t", "legacy_seresnet18", "parnet_s")


def _model(arch):
    if arch not in _MODELS:  # built once per family (a few MB each at 64x64)
        _MODELS[arch] = family_model(arch)
    return _MODELS[arch]


def test_every_family_has_a_conformance_model():
    from zoo import registry
    families = {s.family for s in registry.archs().values()}
    assert families == set(SMALLEST), f"update tests/export_helpers.py SMALLEST for families {families}"
    for fam, arch in SMALLEST.items():
        assert registry.archs()[arch].family == fam


@pytest.mark.parametrize("fmt,quantize", CASES, ids=[f if q is None else f"{f}-{q}" for f, q in CASES])
@pytest.mark.parametrize("arch", list(SMALLEST.values()))
def test_export_and_verify(arch, fmt, quantize, tmp_path, record_property):
    model = _model(arch)
    kw = {}
    if quantize:
        kw["quantize"] = quantize
    if quantize == "int8":
        kw["representative_data"] = photos.calibration_data(model, 128)
    out = tmp_path / {"saved_model": "sm", "onnx": "m.onnx", "tfhub": "hub", "tflite": "m.tflite"}[fmt]
    path = export.to_format(model, out, fmt, **kw)
    report = export.verify(model, path, timing=False)
    record_property("report", report.to_dict())
    print(f"\n{arch} {fmt} {quantize or ''}: rel {report.max_rel_diff:.2g} top1 {report.top1_agreement:.3f}")
    assert report.passed, report.table()
    assert report.quantize == (quantize if fmt == "tflite" else None)
    if fmt != "tflite" or quantize == "fp32":   # fp32 artifacts: diffs ~1e-6 cannot flip a class here
        assert report.top1_agreement == 1.0, report.table()
    names = [c.name for c in report.checks]
    if fmt == "tflite":
        assert "MediaPipe ImageClassifier" in names and "builtin ops only" in names
        # XNNPACK runs every float graph whole, and the CNNs' int8 graphs but for the uint8 I/O conversions
        # (dynamic range: not asserted; XNNPACK runs no depthwise conv with int8 weights and float activations)
        left = report.xnnpack["undelegated"]
        if quantize in ("fp32", "fp16"):
            assert left == {}, report.table()
        elif arch in INT8_WHOLE:
            assert set(left) <= {"QUANTIZE"}, report.table()
    if fmt == "saved_model":
        assert {"serve_uint8 preprocessing", "serve_image_bytes preprocessing", "labels asset"} <= set(names)
    if fmt == "tfhub":
        assert "hub.KerasLayer(trainable=True) fine-tunes" in names


def test_data_init_gives_distinct_predictions():
    """The stand-in weights must make the photos disagree, or top-1 agreement proves nothing."""
    model = _model(SMALLEST["seresnet"])
    cfg = export.serving_cfg(model)
    x = photos.normalize(photos.to_pixels(photos.verification_photos(16), cfg), cfg)
    top1 = model.predict(x, verbose=0).argmax(1)
    assert len(set(top1.tolist())) >= 4


@pytest.mark.parametrize("arch,count,leaf", [("seresnet18", 8, "bn2"), ("legacy_seresnet18", 8, "bn2"),
                                             ("ecaresnet26t", 8, "bn3"), ("skresnet18", 8, "conv2.bn")])
def test_residual_gamma_scales_only_the_last_norm_of_each_branch(arch, count, leaf):
    model = zoo.create(arch, img_size=32)
    last = testing.residual_branch_norms(model)
    assert len(last) == count and all(bn.name.endswith("." + leaf) for bn in last)
    testing.data_init(model, images=photos.calibration_data(model, 4), residual_gamma=0.2)
    ids = {id(bn) for bn in last}
    for bn in (l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)):
        g = bn.gamma.numpy()
        assert (g.max() <= 0.3) if id(bn) in ids else (g.min() >= 0.5), bn.name
