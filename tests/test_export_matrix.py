"""`-m slow`: every registered arch x every format, exported and verified (the docs' matrix).

Each case writes its record (gate result, max |diff| / max|logits|, top-1/top-5 agreement, size,
export time, or the error) to $EXPORT_MATRIX_DIR (default build/export-matrix/), which
`python benchmarks/export_matrix.py` renders into docs/export-matrix.md. Input size:
$EXPORT_MATRIX_IMG_SIZE (default 64, to keep a 2-core run within hours). Weights: random with
data-initialised BatchNorm (export.testing.data_init); no published weights are reachable here.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import export
import zoo
from export import photos

pytestmark = pytest.mark.slow

CASES = [("saved_model", None), ("onnx", None), ("tfhub", None), ("tflite", "fp32"), ("tflite", "fp16"),
         ("tflite", "dynamic"), ("tflite", "int8")]
IMG_SIZE = int(os.environ.get("EXPORT_MATRIX_IMG_SIZE", "64"))
OUT = Path(os.environ.get("EXPORT_MATRIX_DIR", "build/export-matrix"))
_CACHE: dict = {}


def _model(arch):
    if arch not in _CACHE:
        import gc

        import keras
        _CACHE.clear()
        keras.backend.clear_session()
        gc.collect()
        from export import testing
        keras.utils.set_random_seed(0)
        _CACHE[arch] = testing.data_init(zoo.create(arch, img_size=IMG_SIZE))
    return _CACHE[arch]


@pytest.mark.parametrize("fmt,quantize", CASES, ids=[f if q is None else f"{f}-{q}" for f, q in CASES])
@pytest.mark.parametrize("arch", zoo.list_models())
def test_matrix(arch, fmt, quantize, tmp_path):
    rec = {"arch": arch, "format": fmt, "quantize": quantize, "img_size": IMG_SIZE}
    t = time.perf_counter()
    try:
        model = _model(arch)
        kw = {"quantize": quantize} if quantize else {}
        if quantize == "int8":
            kw["representative_data"] = photos.calibration_data(model, 128)
        out = tmp_path / {"saved_model": "sm", "onnx": "m.onnx", "tfhub": "hub", "tflite": "m.tflite"}[fmt]
        path = export.to_format(model, out, fmt, **kw)
        rec["export_s"] = round(time.perf_counter() - t, 1)
        report = export.verify(model, path, timing=False)
        rec.update(passed=report.passed, max_rel_diff=report.max_rel_diff, top1=report.top1_agreement,
                   top5=report.top5_agreement, size_bytes=report.size_bytes, tolerance=report.tolerance,
                   failed_checks=[c.name for c in report.checks if not c.passed],
                   float_islands=[n for n in report.notes if n.startswith("float islands")])
    except Exception as e:  # noqa: BLE001 - recorded, then re-raised
        rec.update(passed=False, error=f"{type(e).__name__}: {str(e)[:300]}")
        raise
    finally:
        rec["total_s"] = round(time.perf_counter() - t, 1)
        OUT.mkdir(parents=True, exist_ok=True)
        name = f"{arch}__{fmt}{'-' + quantize if quantize else ''}.json"
        (OUT / name).write_text(json.dumps(rec, indent=1, default=float) + "\n")
    assert report.passed, report.table()
