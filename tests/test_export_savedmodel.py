"""SavedModel for TF Serving: saved_model_cli lists the signatures; a fresh process without our
code reloads it and answers TF Serving REST `instances` bodies, {"b64": ...} included."""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

import export
from export import photos
from tests.export_helpers import MEAN, STD, tiny_model

LABELS = [f"class {i}" for i in range(10)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("serving")
    m = tiny_model(size=32)
    ver = export.to_saved_model(m, base, name="tiny", mean=MEAN, std=STD, labels=LABELS)
    return m, base, ver


def _cfg():
    return export.serving_cfg(tiny_model(size=32), mean=MEAN, std=STD, labels=LABELS)


def test_layout_and_saved_model_cli(served):
    m, base, ver = served
    assert ver == base / "tiny" / "1" and (ver / "saved_model.pb").is_file()
    assert (ver / "assets" / "labels.txt").read_text().splitlines() == LABELS
    r = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir", str(ver),
                        "--all"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    for sig, inp, dtype in [("serving_default", "image", "DT_FLOAT"), ("serve_uint8", "images", "DT_UINT8"),
                            ("serve_image_bytes", "image_bytes", "DT_STRING")]:
        block = out.split(f"signature_def['{sig}']:")[1].split("signature_def[")[0]
        assert f"inputs['{inp}'] tensor_info:" in block and dtype in block
        for o in ("logits", "probabilities", "top_k_ids", "top_k_labels"):
            assert f"outputs['{o}']" in block
    assert "shape: (-1, 32, 32, 3)" in out.split("signature_def['serving_default']:")[1]   # dynamic batch


_SERVER_SHIM = r'''
# A fresh process, without attention-zoo: load the SavedModel and answer TF Serving REST
# "predict" bodies the way TF Serving's REST layer decodes them (row format "instances": one
# value per instance, {"b64": ...} objects become DT_STRING bytes; values cast to the input dtype).
import base64, json, sys
import numpy as np
import tensorflow as tf

def decode_instances(body, sig):
    (name, spec), = sig.structured_input_signature[1].items()
    rows = []
    for inst in body["instances"]:
        if isinstance(inst, dict) and set(inst) == {name}:
            inst = inst[name]               # {"input_name": value} form
        if isinstance(inst, dict) and set(inst) == {"b64"}:
            inst = base64.b64decode(inst["b64"])
        rows.append(inst)
    if spec.dtype == tf.string:
        return {name: tf.constant(rows, tf.string)}
    return {name: tf.constant(np.asarray(rows), spec.dtype)}

def encode(v):
    v = v.numpy()
    if v.dtype == object:
        return [[s.decode("utf-8") for s in row] for row in v]
    return v.tolist()

model = tf.saved_model.load(sys.argv[1])
out = []
for req in json.load(open(sys.argv[2])):
    sig = model.signatures[req.get("signature_name", "serving_default")]
    res = sig(**decode_instances(req, sig))
    names = sorted(res)
    n = len(req["instances"])
    enc = {k: encode(res[k]) for k in names}
    out.append({"predictions": [{k: enc[k][i] for k in names} for i in range(n)]})
assert not any(m.split(".")[0] in ("zoo", "export") for m in sys.modules), "our code was imported"
json.dump(out, open(sys.argv[3], "w"))
'''


def _b64(img, fmt):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue(), base64.b64encode(buf.getvalue()).decode("ascii")


def test_fresh_process_answers_rest_instances(served, tmp_path):
    m, base, ver = served
    cfg = _cfg()
    # crops whose shorter side is the resize target (36 = floor(32 / 0.875)): no resampling
    raw = [np.ascontiguousarray(p[:36, :40]) for p in photos.verification_photos(3)]
    pixels = photos.to_pixels(raw, cfg)
    x = photos.normalize(pixels, cfg)
    ref = np.asarray(m(x))
    big = photos.photo("chelsea")                   # full photo: resized in the graph (JPEG)
    jpeg, jpeg_b64 = _b64(big, "JPEG")
    png_b64 = [_b64(r, "PNG")[1] for r in raw]
    requests = [
        {"instances": x.tolist()},
        {"signature_name": "serve_uint8", "instances": [{"images": r.tolist()} for r in raw]},
        {"signature_name": "serve_image_bytes", "instances": [{"b64": b} for b in png_b64] + [{"b64": jpeg_b64}]},
    ]
    (tmp_path / "req.json").write_text(json.dumps(requests))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", _SERVER_SHIM, str(ver), str(tmp_path / "req.json"),
                        str(tmp_path / "resp.json")], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    resp = json.loads((tmp_path / "resp.json").read_text())
    scale = np.abs(ref).max()
    for i, body in enumerate(resp):
        logits = np.asarray([p["logits"] for p in body["predictions"]][:3])
        assert np.abs(logits - ref).max() <= 1e-4 * scale, (i, np.abs(logits - ref).max())
        for p in body["predictions"][:3]:
            assert p["top_k_labels"][0] == LABELS[int(np.argmax(p["logits"]))]
            np.testing.assert_allclose(sum(p["probabilities"]), 1.0, rtol=1e-5)
    # JPEG of the whole photo: decoded and resized in the graph vs PIL + zoo's preprocessing
    ref_big = np.asarray(m(photos.normalize(photos.to_pixels([np.asarray(Image.open(io.BytesIO(jpeg)))], cfg), cfg)))
    got_big = np.asarray(resp[2]["predictions"][3]["logits"])
    assert np.abs(got_big - ref_big[0]).max() <= 0.05 * np.abs(ref_big).max()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("tensorflow_model_server") is None,
                    reason="needs tensorflow_model_server (Docker image tensorflow/serving or the tensorflow-serving "
                           "APT repo); neither is reachable from this machine (docs/export.md, TF Serving)")
def test_real_tensorflow_model_server(served):
    m, base, ver = served
    port = _free_port()
    proc = subprocess.Popen(["tensorflow_model_server", f"--rest_api_port={port}", "--model_name=tiny",
                             f"--model_base_path={(base / 'tiny').resolve()}"])
    try:
        x = photos.normalize(photos.to_pixels(photos.verification_photos(2), _cfg()), _cfg())
        body = json.dumps({"instances": x.tolist()}).encode()
        for _ in range(60):
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/tiny:predict", data=body)
                resp = json.loads(urllib.request.urlopen(req, timeout=5).read())
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("tensorflow_model_server did not answer")
        logits = np.asarray([p["logits"] for p in resp["predictions"]])
        ref = np.asarray(m(x))
        assert np.abs(logits - ref).max() <= 1e-4 * np.abs(ref).max()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _variables_bytes(folder):
    return sum(f.stat().st_size for f in (folder / "variables").rglob("*") if f.is_file())


def test_every_variable_is_written_once(tmp_path):
    """TF Serving and TF Hub users ship these folders: the variables must take about the float32
    size of the weights (Keras 3 variables wrap tf.Variables; tracking both wrote each one twice)."""
    import keras
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(64, 3, name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)     # non-trainable statistics count too
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(1024, activation="relu", name="fc1")(x)
    m = keras.Model(inp, keras.layers.Dense(1000, name="fc2")(x), name="wide")
    weight_bytes = 4 * sum(int(np.prod(v.shape)) for v in m.weights)
    assert weight_bytes > 4_000_000
    sm = export.to_saved_model(m, tmp_path / "serving", mean=MEAN, std=STD)
    hub = export.to_tfhub(m, tmp_path / "hub", mean=MEAN, std=STD)
    for folder in (sm, hub):
        size = _variables_bytes(folder)
        assert weight_bytes <= size <= 1.1 * weight_bytes, (folder, size, weight_bytes)
    import tensorflow as tf
    loaded = tf.saved_model.load(str(hub))
    assert len(loaded.trainable_variables) == len(m.trainable_weights) == 8
    assert len(loaded.variables) == len(m.weights)
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.signatures["serving_default"](image=tf.constant(x))["logits"].numpy(),
                               np.asarray(m(x)), rtol=1e-5, atol=1e-5)
