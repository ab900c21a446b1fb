"""Latency of the Keras model and of each exported artifact, measured in the same process and run.

Only ratios against the Keras model measured in the same run are meaningful: absolute times
depend on the machine, its load and thread settings.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from zoo._quiet import quiet_stderr
from zoo.errors import InvalidArgumentError

from .verification import median_ms

DEFAULT_TARGETS = ("saved_model", "onnx", "tflite:fp32", "tflite:fp16", "tflite:dynamic", "tflite:int8")


def _runner(target, model, art: Path, x, pixels, batch):
    import tensorflow as tf
    fmt, _, q = target.partition(":")
    if fmt == "saved_model":
        from .saved_model import find_saved_model
        f = tf.saved_model.load(str(find_saved_model(art))).signatures["serving_default"]
        xb = tf.constant(x[:batch])
        return lambda: f(image=xb)
    if fmt == "onnx":
        from .onnx import ort_session
        s = ort_session(art)
        xb = x[:batch]
        return lambda: s.run(None, {"image": xb})
    if fmt == "tflite":
        if batch != 1:
            return None  # batch fixed at 1
        from .tflite import load_interpreter
        it = load_interpreter(art)
        d = it.get_input_details()[0]
        v = pixels[:1] if d["dtype"] == np.uint8 else pixels[:1].astype(np.float32)

        def run():
            it.set_tensor(d["index"], v)
            it.invoke()
        return run
    raise InvalidArgumentError(f"unknown bench target {target!r}")


def bench(model, targets=DEFAULT_TARGETS, *, batches=(1, 8), warmup: int = 3, repeats: int = 20,
          progress: bool = True) -> list[dict]:
    """Export `model` to each target (a format, or tflite:<quantize>) in a temp folder and time
    batch-1 (and batch-N where the artifact has a dynamic batch) inference against Keras.
    Returns rows {target, batch, ms, ratio_vs_keras}."""
    import tensorflow as tf

    from . import photos
    from ._cfg import serving_cfg

    cfg = serving_cfg(model)
    raw = photos.verification_photos(max(batches))
    pixels = photos.to_pixels(raw, cfg)
    x = photos.normalize(pixels, cfg)
    fwd = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
    rows, keras_ms = [], {}
    for b in batches:
        xb = tf.constant(x[:b])
        keras_ms[b] = median_ms(lambda: fwd(xb).numpy(), warmup, repeats)
        rows.append({"target": "keras", "batch": b, "ms": keras_ms[b], "ratio_vs_keras": 1.0})
    it = targets
    if progress:
        from tqdm import tqdm
        it = tqdm(targets, desc="bench", unit="artifact")
    with tempfile.TemporaryDirectory() as d:
        for target in it:
            art = Path(d) / target.replace(":", "_")
            with quiet_stderr():   # converters' and graph exports' routine warnings
                art = _export(model, target, art)
            for b in batches:
                run = _runner(target, model, art, x, pixels, b)
                if run is None:
                    continue
                ms = median_ms(run, warmup, repeats)
                rows.append({"target": target, "batch": b, "ms": ms, "ratio_vs_keras": ms / keras_ms[b]})
    return rows


def _export(model, target: str, art: Path) -> Path:
    from . import photos, to_onnx, to_saved_model, to_tflite
    fmt, _, q = target.partition(":")
    if fmt == "saved_model":
        return to_saved_model(model, art, signatures=("float",))
    if fmt == "onnx":
        return to_onnx(model, art.with_suffix(".onnx"))
    if fmt == "tflite":
        q = q or "fp32"
        rep = photos.calibration_data(model, 64) if q == "int8" else None
        return to_tflite(model, art.with_suffix(".tflite"), quantize=q, representative_data=rep, metadata=False)
    raise InvalidArgumentError(f"unknown bench target {target!r}; use {list(DEFAULT_TARGETS)}")


def format_rows(rows) -> str:
    lines = [f"{'target':16s} {'batch':>5s} {'median ms':>10s} {'vs Keras':>9s}"]
    for r in rows:
        lines.append(f"{r['target']:16s} {r['batch']:5d} {r['ms']:10.2f} {r['ratio_vs_keras']:8.2f}x")
    return "\n".join(lines)
