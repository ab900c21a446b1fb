"""Each attention layer, wrapped in a tiny image model, exported to TFLite and ONNX and run there.

Used by tests/test_layers_export.py (the gate) and scripts/gen_docs.py (the layer x format table
in docs/layers.md). The wrapper: an NHWC image input, reshaped to tokens for token layers, the
layer (random weights, random BN statistics), its output flattened: what `export` takes.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import numpy as np

import layer_cases as C

RTOL = 1e-4   # fp32 artifacts: max |artifact - keras| <= RTOL x max |keras|


def wrapped(name: str):
    """(model, inputs): the layer of case `name` in a single-input single-output image model."""
    case = C.CASES[name]
    layer, _ = C.built(case)
    shape = case.shape[1:]
    if len(shape) == 2:                    # tokens (N, d): an image of N = h*w pixels, d channels
        n, d = shape
        h = int(np.sqrt(n))
        assert h * h == n, name
        inp = keras.Input((h, h, d), name="image")
        x = keras.layers.Reshape((n, d))(inp)
    else:
        inp = keras.Input(shape, name="image")
        x = inp
    y = keras.layers.Flatten()(layer(x))
    model = keras.Model(inp, y, name=name.lower())
    xs = C.sample((3, *inp.shape[1:]), seed=5)
    return model, xs


def _rel(ref, out):
    return float(np.abs(ref - out).max() / max(1e-6, np.abs(ref).max()))


def measure(name: str) -> dict:
    """Export the wrapped layer to fp32 TFLite (batch 1, builtin ops) and ONNX (dynamic batch),
    run each in its runtime, and return the relative max differences (or the error)."""
    import export
    from export.onnx import ort_session
    from export.tflite import inspect_tflite, load_interpreter

    model, xs = wrapped(name)
    ref = model.predict(xs, verbose=0)
    result = {"layer": name}
    with tempfile.TemporaryDirectory() as d:
        try:
            path = export.to_tflite(model, Path(d) / "m.tflite", quantize="fp32", pixel_input=False,
                                    metadata=False, check_inputs=xs)
            buf = path.read_bytes()
            interp = load_interpreter(buf)
            inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
            outs = []
            for x in xs:
                interp.set_tensor(inp["index"], x[None])
                interp.invoke()
                outs.append(interp.get_tensor(out["index"])[0])
            result["tflite"] = _rel(ref, np.stack(outs))
            result["tflite_ops"] = sorted(inspect_tflite(buf)["ops"])
        except Exception as e:  # noqa: BLE001 - recorded: the table says why
            result["tflite_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        try:
            path = export.to_onnx(model, Path(d) / "m.onnx", check_inputs=xs)
            sess = ort_session(path)
            feed = {sess.get_inputs()[0].name: xs}
            result["onnx"] = _rel(ref, sess.run(None, feed)[0])   # batch 3 through the dynamic batch
        except Exception as e:  # noqa: BLE001
            result["onnx_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    keras.backend.clear_session()
    return result


def table(results: list[dict]) -> str:
    lines = ["| layer | TFLite fp32 (builtin ops, batch 1) | ONNX (onnxruntime, batch 3) |", "|---|---|---|"]
    for r in results:
        cells = []
        for fmt in ("tflite", "onnx"):
            cells.append(f"{r[fmt]:.1e}" if fmt in r else f"fails: {r[fmt + '_error']}")
        lines.append(f"| `{r['layer']}` | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"
