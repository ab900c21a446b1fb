"""Format details beyond the conformance run: TFLite input contracts and metadata, ONNX handlers
for what tf2onnx lacks, the real-photo split, the CLI."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import export
from export import photos
from export.tflite import inspect_tflite
from tests.export_helpers import MEAN, STD, tiny_inputs, tiny_model


def test_calibration_and_verification_photos_are_disjoint():
    assert not set(photos.CALIBRATION_PHOTOS) & set(photos.VERIFICATION_PHOTOS)
    calib = {a.tobytes() for a in map(photos.photo, photos.CALIBRATION_PHOTOS)}
    assert not calib & {a.tobytes() for a in map(photos.photo, photos.VERIFICATION_PHOTOS)}
    v = photos.verification_photos(8)
    assert len(v) == 8 and all(a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3 for a in v)


def test_tflite_input_contracts(tmp_path):
    m = tiny_model()
    x = tiny_inputs(3)
    # pixels (default): float32 0..255, normalization folded in, batch 1
    p = export.to_tflite(m, tmp_path / "px.tflite", mean=MEAN, std=STD, labels=[str(i) for i in range(10)])
    info = inspect_tflite(p.read_bytes())
    assert info["inputs"][0]["shape"] == [1, 32, 32, 3] and info["inputs"][0]["type"] == "FLOAT32"
    r = export.verify(m, p, mean=MEAN, std=STD, timing=False)
    assert r.passed and r.max_rel_diff < 1e-4, r.table()
    # preprocessed input, per-channel normalization in the metadata (Task Library; MediaPipe refuses it)
    p2 = export.to_tflite(m, tmp_path / "img.tflite", pixel_input=False, mean=MEAN, std=STD,
                          labels=[str(i) for i in range(10)])
    from export.metadata import read_metadata
    t_in = read_metadata(p2.read_bytes())["json"]["subgraph_metadata"][0]["input_tensor_metadata"][0]
    norm = [u for u in t_in["process_units"] if u["options_type"] == "NormalizationOptions"][0]["options"]
    np.testing.assert_allclose(norm["mean"], np.asarray(MEAN) * 255, rtol=1e-6)
    np.testing.assert_allclose(norm["std"], np.asarray(STD) * 255, rtol=1e-6)
    r2 = export.verify(m, p2, mean=MEAN, std=STD, timing=False)
    assert r2.passed and "skipped" in [c for c in r2.checks if c.name == "MediaPipe ImageClassifier"][0].detail
    # int8 with int8 I/O: pixel - 128, scale 1
    p3 = export.to_tflite(m, tmp_path / "i8.tflite", quantize="int8", int8_io="int8", metadata=False,
                          representative_data=x, mean=MEAN, std=STD)
    inp = inspect_tflite(p3.read_bytes())["inputs"][0]
    assert inp["type"] == "INT8" and inp["scales"].tolist() == [1.0] and inp["zero_points"].tolist() == [-128]
    assert export.verify(m, p3, mean=MEAN, std=STD, timing=False).passed


POOLS = {"avg2": lambda: keras.layers.AveragePooling2D(2, 2, "valid", name="p"),
         "avg3s1": lambda: keras.layers.AveragePooling2D(3, 1, "valid", name="p"),
         "avg2same": lambda: keras.layers.AveragePooling2D(2, 2, "same", name="p"),
         "avg3s1same": lambda: keras.layers.AveragePooling2D(3, 1, "same", name="p"),
         "max1s2": lambda: keras.layers.MaxPooling2D(1, 2, name="p"),
         "max2": lambda: keras.layers.MaxPooling2D(2, 2, name="p")}


@pytest.mark.parametrize("pool,size,quantize,weight", [
    ("avg2", 32, "int8", 1 / 4), ("avg2", 31, "int8", 1 / 4),   # valid drops the last row, as the pool does
    ("avg3s1", 32, "int8-mixed", 1 / 9), ("avg2same", 32, "int8", 1 / 4),   # "same" that pads nothing
    ("avg2same", 31, "int8", None), ("avg3s1same", 32, "int8", None),       # "same" that pads: averages fewer
    ("avg2", 32, "fp32", None), ("avg2", 32, "dynamic", None),             # float XNNPACK runs the pool
    ("max1s2", 32, "fp32", 1.0), ("max1s2", 31, "int8", 1.0), ("max2", 32, "int8", None)])
def test_tflite_runs_pools_as_depthwise_convs(pool, size, quantize, weight):
    """The pools XNNPACK leaves to LiteRT's kernels (1x1 max pools; average pools in int8) go to
    TFLite as the depthwise conv that computes them, proven equal; the others stay pools."""
    from export.tflite import tflite_ready_model
    m = tiny_model(POOLS[pool](), size=size)
    x = tiny_inputs(size=size)
    d, names = tflite_ready_model(m, x, quantize)
    assert names == (["p"] if weight else [])
    if weight:
        conv = d.get_layer("p")
        assert type(conv) is keras.layers.DepthwiseConv2D and conv.padding == "valid"
        np.testing.assert_allclose(conv.get_weights()[0], weight)
        np.testing.assert_allclose(d(x), m(x), rtol=1e-6, atol=1e-6)


def test_xnnpack_coverage_names_what_the_delegate_leaves_out(tmp_path):
    """A 1x1 max pool converted as it is: XNNPACK leaves its MAX_POOL_2D out and runs the graph
    in two pieces around it; exported (as a depthwise conv) it runs every op."""
    from export._cfg import serving_cfg
    from export.tflite import convert, load_interpreter, xnnpack_coverage
    m = tiny_model(POOLS["max1s2"](), size=32)
    m.pretrained_cfg = {"mean": MEAN, "std": STD, "num_classes": 10}
    raw = convert(m, serving_cfg(m), "fp32")
    cov = xnnpack_coverage(load_interpreter(raw))
    assert cov["undelegated"] == {"MAX_POOL_2D": 1} and cov["partitions"] == 2 and cov["nodes"] >= 5
    p = export.to_tflite(m, tmp_path / "m.tflite", metadata=False)
    assert xnnpack_coverage(load_interpreter(p)) == {"nodes": cov["nodes"], "partitions": 1, "undelegated": {}}
    report = export.verify(m, p, timing=False, mediapipe=False)
    assert report.xnnpack["undelegated"] == {} and "runs all" in report.table()


def _onnx_check(m, tmp_path, name):
    p = export.to_onnx(m, tmp_path / f"{name}.onnx")
    r = export.verify(m, p, mean=MEAN, std=STD, timing=False)
    assert r.passed and r.max_rel_diff < 1e-4, r.table()
    import onnx
    g = onnx.load(str(p)).graph
    assert g.input[0].name == "image" and g.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert g.output[0].name == "logits"
    return {n.op_type for n in g.node}


def test_onnx_grouped_convolutions_are_rewritten(tmp_path):
    def grouped(x):
        x = keras.layers.Conv2D(16, 3, padding="same", groups=4, use_bias=True, name="g4")(x)
        x = keras.layers.Conv2D(16, 3, strides=2, padding="valid", groups=16, name="dw")(x)  # depthwise as groups
        return x
    ops = _onnx_check(tiny_model(grouped), tmp_path, "grouped")
    assert "Conv" in ops and not ops & {"StatefulPartitionedCall", "PartitionedCall"}


def test_onnx_exact_gelu(tmp_path):
    ops = _onnx_check(tiny_model(keras.layers.Activation("gelu", name="gelu")), tmp_path, "gelu")
    assert "Erf" in ops and "Erfc" not in ops


def test_onnx_collects_tf2onnx_graph_copies_between_passes(tmp_path):
    """tf2onnx deep-copies the graph before every optimizer pass; the dropped copies are cycles a
    full collection must free before the next copy (parnet_s: 5.8 GB peak without, 2.5 GB with)."""
    import gc

    from tf2onnx import optimizer
    before = dict(optimizer._get_optimizers())
    full = []

    def count(phase, info):
        if phase == "start" and info["generation"] == 2:
            full.append(1)
    gc.callbacks.append(count)
    try:
        export.to_onnx(tiny_model(), tmp_path / "m.onnx", check_inputs=tiny_inputs(2))
    finally:
        gc.callbacks.remove(count)
    assert len(full) >= len(before)   # at least one full collection per pass of the first iteration
    assert optimizer._get_optimizers() == before   # the registry is restored
    assert gc.get_freeze_count() == 0              # and the heap frozen meanwhile is thawed


def test_cli_export_verify_writes_report(tmp_path, capsys):
    from zoo.cli import main
    out = tmp_path / "m.onnx"
    rc = main(["export", "legacy_seresnet18", "--format", "onnx", "--weights", "none", "--img-size", "64",
               "--out", str(out), "--verify"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "result" in text and "PASS" in text and "onnxruntime" in text
    rep = json.loads((tmp_path / "m.onnx.verify.json").read_text())
    assert rep["format"] == "onnx" and rep["passed"] and rep["max_rel_diff"] <= 1e-4


@pytest.mark.parametrize("bad", [None, "x"])
def test_verify_rejects_missing_artifacts(tmp_path, bad):
    from zoo.errors import InvalidArgumentError
    with pytest.raises(InvalidArgumentError):
        export.verify(tiny_model(), tmp_path / "nothing.onnx", mean=MEAN, std=STD)
