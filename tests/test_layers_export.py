"""Every attention layer, wrapped in a tiny model, converts to TFLite with builtin ops only and to
ONNX, and runs in LiteRT and onnxruntime with the Keras outputs (fp32: 1e-4 of the scale)."""
import pytest

import layer_cases as C
from layer_export import RTOL, measure


@pytest.mark.parametrize("name", sorted(C.CASES))
def test_layer_exports(name):
    r = measure(name)
    assert "tflite_error" not in r, r["tflite_error"]
    assert "onnx_error" not in r, r["onnx_error"]
    assert not any(op.startswith("Flex") for op in r["tflite_ops"]), r["tflite_ops"]
    assert r["tflite"] <= RTOL, r
    assert r["onnx"] <= RTOL, r
