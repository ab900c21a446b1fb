"""Quiet by default: no TensorFlow start-up lines, converter or runtime chatter, or graph-export
warnings; real messages still pass; -v (ZOO_VERBOSE=1) shows everything."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import numpy as np

import export
from tests.export_helpers import MEAN, STD, tiny_inputs, tiny_model
from zoo import _quiet

START_UP = ("absl::InitializeLog", "oneDNN custom operations", "cuInit", "Could not find cuda drivers")

_API = r"""
import sys
from zoo import _quiet
_quiet.install()          # what zoo/__init__.py does on import
import keras
keras.ops.ones(2)         # device discovery
import tensorflow as tf
tf.get_logger().warning("Issue encountered when serializing table_initializer.")
tf.get_logger().warning("a real warning")
print("done", file=sys.stderr)
"""


def _run(code, **env):
    e = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", _quiet.ENV_VERBOSE)}
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=e)


def test_python_api_starts_quietly_and_verbose_brings_it_back():
    p = _run(_API)
    assert p.returncode == 0, p.stderr[-2000:]
    assert not [s for s in START_UP if s in p.stderr], p.stderr
    assert "Issue encountered" not in p.stderr and "a real warning" in p.stderr and "done" in p.stderr
    loud = _run(_API, ZOO_VERBOSE="1")
    assert loud.returncode == 0 and "oneDNN custom operations" in loud.stderr and "Issue encountered" in loud.stderr


def test_quiet_stderr_holds_noise_and_passes_real_lines(capfd):
    with _quiet.quiet_stderr():
        os.write(2, b"I0000 00:00:1 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: UINT8\n")
        os.write(2, b"E0000 something really broke\n")
    err = capfd.readouterr().err
    assert "oneDNN" not in err and "fully_quantize" not in err and "something really broke" in err


def test_int8_conversion_and_litert_are_quiet(tmp_path, capfd):
    m = tiny_model()
    capfd.readouterr()
    p = export.to_tflite(m, tmp_path / "m.tflite", quantize="int8", representative_data=tiny_inputs(8),
                         mean=MEAN, std=STD, metadata=False)
    err = capfd.readouterr().err
    assert p.is_file() and "fully_quantize" not in err and "XNNPACK delegate" not in err, err


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_bench_is_quiet(capfd):
    from export.bench import bench_model
    m = tiny_model()
    m.pretrained_cfg = {"mean": MEAN, "std": STD, "num_classes": 10, "labels": [f"c{i}" for i in range(10)]}
    rec = _Records()
    logging.getLogger("tensorflow").removeFilter(_quiet._FILTER)   # bench must install what it needs
    logging.getLogger("tensorflow").addHandler(rec)
    try:
        rows = bench_model("tiny", model=m, targets=("keras:function", "saved_model", "onnx", "tflite:fp32"),
                           batches=(1,), warmup=1, repeats=1, progress=False)["rows"]
    finally:
        logging.getLogger("tensorflow").removeHandler(rec)
    assert {r["target"] for r in rows} == {"keras:function", "saved_model", "onnx", "tflite:fp32"}
    assert not [s for s in rec.messages if "Issue encountered" in s], rec.messages
    assert "XNNPACK delegate" not in capfd.readouterr().err
    assert np.isfinite([r["ms"] for r in rows]).all()
