"""The fp16 gate: an fp16 TFLite file passes when it is within 1e-2 of the Keras logits, or within
1.5x of what rounding the model's own parameters to fp16 does (stand-in weights can be that
sensitive); a file of other weights fails either way."""
import numpy as np

import export
from export.verification import fp16_rounding_drift
from tests.export_helpers import MEAN, STD, tiny_inputs, tiny_model


def test_rounding_drift_is_zero_for_fp16_exact_weights_and_restores_them():
    model = tiny_model()
    x = tiny_inputs()
    before = [w.numpy().copy() for w in model.weights]
    assert fp16_rounding_drift(model, x) > 0
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))
    for w in model.weights:
        w.assign(w.numpy().astype(np.float16).astype(np.float32))
    assert fp16_rounding_drift(model, x) == 0.0


def test_fp16_file_of_other_weights_fails(tmp_path):
    model = tiny_model(seed=0)
    labels = [str(i) for i in range(10)]
    path = export.to_tflite(model, tmp_path / "m.tflite", quantize="fp16", mean=MEAN, std=STD, labels=labels)
    assert export.verify(model, path, timing=False, mean=MEAN, std=STD).passed
    other = tiny_model(seed=1)
    report = export.verify(other, path, timing=False, mean=MEAN, std=STD)
    assert not report.passed and "fp16-rounded parameters" in report.tolerance
