"""`export.verify`: run an artifact in its own runtime on real photos and compare it with Keras.

Runtimes: tf.saved_model (SavedModel), ai-edge-litert with its default delegates and MediaPipe
Tasks ImageClassifier (TFLite), onnxruntime (ONNX), tensorflow_hub's KerasLayer under tf_keras in a
fresh process plus keras.layers.TFSMLayer (TF Hub). The inputs are the verification photos
(never used for int8 calibration), preprocessed with the model's own eval transform, or, with
`data=`, labelled images (a class-folder directory): the report then adds the artifact's and
the Keras model's top-1 accuracy on them (`max_accuracy_drop=` gates the difference).

Gates (`tolerance` in the report): fp32 artifacts max |artifact - keras| <= 1e-4 x max |keras
logits|; fp16 <= 1e-2 x, or <= 1.5 x what rounding the model's own parameters to fp16 changes
(weights that sensitive cannot do better in any fp16 file); dynamic-range and int8 TFLite are judged by top-1 agreement with the
fp32 Keras model, reported, and gated only when `min_top1` is given (int8-mixed files are
int8 files with float islands and are judged the same way). Every artifact must also pass
its structural checks (signatures, dynamic batch, builtin ops only, quantization scales,
metadata, MediaPipe agreement, trainability for TF Hub).
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from zoo._quiet import quiet_stderr
from zoo.errors import ExportError, InvalidArgumentError

from . import photos
from ._cfg import ServingCfg, serving_cfg
from ._io import file_in_folder, size_of, staged
from .deploy import max_rel_diff

FP32_RTOL = 1e-4
FP16_RTOL = 1e-2
# An fp16 file cannot be closer to the float32 model than the model itself with its parameters
# rounded to fp16: past FP16_RTOL the gate is this many times that rounding drift (the file folds
# BatchNorm before rounding, so it is not exactly 1x; measured 0.7-1.1x, benchmarks/fp16_drift.py).
FP16_DRIFT_FACTOR = 1.5
FORMATS = ("saved_model", "tflite", "onnx", "tfhub")


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class VerifyReport:
    """What `verify` measured. `passed` is the gate: the tolerance and every check."""
    format: str
    artifact: str
    runtime: str
    quantize: str | None
    n_images: int
    max_abs_diff: float
    max_rel_diff: float          # max |diff| / max |keras logits|
    top1_agreement: float        # fraction of images whose top-1 class equals Keras'
    top5_agreement: float        # mean fraction of Keras' top-5 classes in the artifact's top-5
    size_bytes: int
    latency_ms: float | None     # artifact, batch 1, median
    keras_latency_ms: float | None   # the Keras model, batch 1, median, same run
    tolerance: str
    passed: bool
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    accuracy: float | None = None        # with data=: top-1 accuracy of the artifact on the labelled images
    keras_accuracy: float | None = None  # ... and of the Keras model, on the same images
    data: str | None = None              # with data=: where the labelled images came from
    # TFLite: what XNNPACK runs, {"nodes", "partitions", "undelegated": {op: count}} (tflite.xnnpack_coverage)
    xnnpack: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, path=None) -> str:
        """The report as JSON text; with `path`, also written there (see `save`; an existing
        report at that path is replaced)."""
        text = json.dumps(self.to_dict(), indent=2, default=float) + "\n"
        if path is not None:
            self.save(path, overwrite=True)
        return text

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write the report as JSON at `path`, or inside it when `path` is a folder (as
        `report_filename(artifact)`); returns the file.
        overwrite: replace an existing verify report there (never another kind of file)."""
        target = file_in_folder(path, report_filename(self.artifact))
        with staged(target, overwrite, "report") as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2, default=float) + "\n", encoding="utf-8")
        return target

    def table(self) -> str:
        ratio = (f"{self.latency_ms / self.keras_latency_ms:.2f}x Keras"
                 if self.latency_ms and self.keras_latency_ms else "-")
        rows = [
            ("artifact", self.artifact),
            ("format", self.format + (f" ({self.quantize})" if self.quantize else "")),
            ("runtime", self.runtime),
            ("images", str(self.n_images)),
            ("max |diff|", f"{self.max_abs_diff:.3g}"),
            ("max |diff| / max|logits|", f"{self.max_rel_diff:.3g}"),
            ("top-1 agreement", f"{self.top1_agreement:.3f}"),
            ("top-5 agreement", f"{self.top5_agreement:.3f}"),
        ]
        if self.accuracy is not None:
            rows += [("accuracy (labelled)", (f"{self.accuracy:.4f} (Keras {self.keras_accuracy:.4f}, "
                                              f"{self.n_images} images of {self.data})"))]
        rows.append(("size", f"{self.size_bytes / 1e6:.2f} MB"))
        if self.xnnpack:
            from .tflite import xnnpack_summary
            rows.append(("XNNPACK", xnnpack_summary(self.xnnpack)))
        rows += [
            ("latency (batch 1)", f"{self.latency_ms:.2f} ms ({ratio})" if self.latency_ms else "-"),
            ("tolerance", self.tolerance),
        ]
        rows += [(f"check: {c.name}", ("ok" if c.passed else "FAILED") + (f"  {c.detail}" if c.detail else ""))
                 for c in self.checks]
        rows += [("note", n) for n in self.notes]
        rows.append(("result", "PASS" if self.passed else "FAIL"))
        w = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def report_filename(artifact) -> str:
    """The report's file name in a folder: `<artifact>.verify.json`, for a SavedModel version
    folder `<name>_<version>.verify.json`."""
    a = Path(artifact)
    stem = f"{a.parent.name}_{a.name}" if a.name.isdigit() and a.parent.name else a.name
    return f"{stem}.verify.json"


# ---------------------------------------------------------------------------------------------
# shared pieces

def _compare(ref, out) -> dict:
    ref = np.asarray(ref, np.float64)
    out = np.asarray(out, np.float64)
    if ref.shape != out.shape:
        raise ExportError(f"artifact output shape {out.shape} differs from Keras' {ref.shape}")
    k = min(5, ref.shape[1])
    t_ref = np.argsort(-ref, axis=1, kind="stable")[:, :k]
    t_out = np.argsort(-out, axis=1, kind="stable")[:, :k]
    return {
        "max_abs_diff": float(np.max(np.abs(out - ref))),
        "max_rel_diff": max_rel_diff(ref, out),
        "top1_agreement": float(np.mean(t_ref[:, 0] == t_out[:, 0])),
        "top5_agreement": float(np.mean([len(set(a) & set(b)) / k for a, b in zip(t_ref, t_out)])),
    }


def median_ms(fn, warmup: int = 2, repeats: int = 10) -> float:
    """Median wall time of `fn()` in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts) * 1e3)


def _keras_reference(model, x):
    import tensorflow as tf
    fwd = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
    ref = np.concatenate([fwd(tf.constant(x[i:i + 8])).numpy() for i in range(0, len(x), 8)])
    x1 = tf.constant(x[:1])
    return ref, (lambda: fwd(x1).numpy())


def fp16_rounding_drift(model, x, ref=None) -> float:
    """max |Keras(float params rounded to fp16) - Keras| / max |Keras| on x: the error fp16 weights
    cause by themselves (ref: the model's logits on x when already computed). The parameters are
    restored afterwards."""
    if ref is None:
        ref, _ = _keras_reference(model, x)
    saved = [w.numpy() for w in model.weights]
    try:
        for w, v in zip(model.weights, saved):
            if v.dtype == np.float32:
                w.assign(v.astype(np.float16).astype(np.float32))
        rounded, _ = _keras_reference(model, x)
    finally:
        for w, v in zip(model.weights, saved):
            w.assign(v)
    return float(np.abs(rounded - ref).max() / max(np.abs(ref).max(), 1e-12))


def detect_format(path) -> str:
    p = Path(path)
    if p.is_file():
        if p.suffix == ".tflite":
            return "tflite"
        if p.suffix == ".onnx":
            return "onnx"
        head = p.read_bytes()[:8]
        if head[4:8] == b"TFL3":
            return "tflite"
        raise InvalidArgumentError(f"cannot tell the format of {p}: expected .tflite, .onnx or a SavedModel folder")
    if p.is_dir():
        from .saved_model import find_saved_model, read_info
        info = read_info(find_saved_model(p)) or {}
        return "tfhub" if info.get("format") == "tfhub" else "saved_model"
    raise InvalidArgumentError(f"no artifact at {p}")


# ---------------------------------------------------------------------------------------------
# per-format runners: each returns (outputs on x, batch-1 callable, runtime, checks, notes, report fields
# it alone knows: TFLite's quantize mode and XNNPACK coverage)

def _run_saved_model(path, cfg: ServingCfg, x, pixels, raw_images):
    import tensorflow as tf

    from .saved_model import SIGNATURE_KEYS, find_saved_model, read_info
    sm = find_saved_model(path)
    loaded = tf.saved_model.load(str(sm))
    sigs = loaded.signatures
    info = read_info(sm) or {}
    checks, notes = [], []
    if "serving_default" not in sigs:
        raise ExportError(f"{sm} has no serving_default signature (signatures: {list(sigs)})")
    f = sigs["serving_default"]
    in_specs = f.structured_input_signature[1]
    name, spec = next(iter(in_specs.items()))
    checks.append(Check("serving_default input", spec.dtype == tf.float32 and spec.shape[0] is None,
                        f"{name}: {spec.dtype.name}{list(spec.shape)} (batch dynamic)"))
    out_key = "features" if "features" in f.structured_outputs else "logits"
    out = f(**{name: tf.constant(x)})[out_key].numpy()
    one = f(**{name: tf.constant(x[:1])})[out_key].numpy()
    d1 = max_rel_diff(out[:1], one)
    checks.append(Check("batch 1 == batch N", d1 <= FP32_RTOL, f"rel diff {d1:.2g}"))
    if "top_k_labels" in f.structured_outputs and cfg.labels:
        got = f(**{name: tf.constant(x[:2])})["top_k_labels"].numpy()[:, 0]
        want = [cfg.labels[i].encode() for i in np.argmax(out[:2], axis=1)]
        checks.append(Check("labels asset", list(got) == want, "top_k_labels[0] == labels[argmax(logits)]"))
    # the preprocessing signatures, on crops whose shorter side already is the resize target
    # (no resampling, so in-graph and PIL preprocessing must agree exactly)
    crops = _unresampled_crops(raw_images, cfg)
    ref_crops = photos.normalize(photos.to_pixels(crops, cfg), cfg) if crops else None
    if SIGNATURE_KEYS["uint8"] in sigs and crops:
        g = sigs[SIGNATURE_KEYS["uint8"]]
        o = np.concatenate([g(images=tf.constant(c[None]))[out_key].numpy() for c in crops])
        r = f(**{name: tf.constant(ref_crops)})[out_key].numpy()
        d = max_rel_diff(r, o)
        checks.append(Check("serve_uint8 preprocessing", d <= FP32_RTOL, f"rel diff {d:.2g} vs zoo.preprocess"))
    if SIGNATURE_KEYS["bytes"] in sigs and crops:
        from PIL import Image
        g = sigs[SIGNATURE_KEYS["bytes"]]
        blobs = []
        for c in crops:
            buf = io.BytesIO()
            Image.fromarray(c).save(buf, format="PNG")
            blobs.append(buf.getvalue())
        o = g(image_bytes=tf.constant(blobs))[out_key].numpy()
        r = f(**{name: tf.constant(ref_crops)})[out_key].numpy()
        d = max_rel_diff(r, o)
        checks.append(Check("serve_image_bytes preprocessing", d <= FP32_RTOL, f"PNG, rel diff {d:.2g}"))
    if info:
        want = set(info.get("signatures", {}))
        checks.append(Check("signatures", want <= set(sigs), ", ".join(sorted(sigs))))
    x1 = tf.constant(x[:1])
    return out, (lambda: f(**{name: x1})), f"tf.saved_model (TensorFlow {tf.__version__})", checks, notes, {}


def _unresampled_crops(raw_images, cfg: ServingCfg):
    th, tw = cfg.input_size[:2]
    s_h, s_w = int(np.floor(th / cfg.crop_pct)), int(np.floor(tw / cfg.crop_pct))
    if s_h != s_w:
        return []
    out = []
    for img in raw_images[:4]:
        h, w = img.shape[:2]
        if min(h, w) < s_h:
            continue
        out.append(np.ascontiguousarray(img[:s_h, :max(s_h, min(w, int(s_h * 1.25)))]))
    return out


def _run_tflite(path, cfg: ServingCfg, x, pixels, raw_images, use_mediapipe=True):
    from .tflite import PIXELS_INPUT, inspect_tflite, load_interpreter, quantize_mode, xnnpack_coverage
    data = Path(path).read_bytes()
    info = inspect_tflite(data)
    q = quantize_mode(info)
    checks, notes = [], []
    checks.append(Check("builtin ops only", not info["flex_or_custom"],
                        f"{len(info['ops'])} op types" + (f"; non-builtin {info['flex_or_custom']}"
                                                          if info["flex_or_custom"] else "")))
    if q == "int8":
        checks.append(Check("no near-zero quantization scales", not info["near_zero_scales"],
                            f"{len(info['near_zero_scales'])} tensors" if info["near_zero_scales"] else ""))
        notes.append("float islands (ops left in float32): " + (", ".join(info["float_islands"]) or "none"))
    it = load_interpreter(path)   # default delegates (XNNPACK), as on devices
    checks.append(Check("loads with default delegates", True, "ai-edge-litert Interpreter + XNNPACK"))
    xnnpack = xnnpack_coverage(it)
    inp, outd = it.get_input_details()[0], it.get_output_details()[0]
    sig = it.get_signature_list().get("serving_default", {})
    takes_pixels = (sig.get("inputs") or [""])[0] == PIXELS_INPUT or inp["dtype"] in (np.uint8, np.int8)
    shape = [int(d) for d in inp["shape"]]
    checks.append(Check("batch fixed at 1", shape[:1] == [1], f"input {shape} {np.dtype(inp['dtype']).name}"))

    def feed(i):
        if inp["dtype"] == np.uint8:
            return pixels[i:i + 1]
        if inp["dtype"] == np.int8:
            return (pixels[i:i + 1].astype(np.int16) - 128).astype(np.int8)
        return pixels[i:i + 1].astype(np.float32) if takes_pixels else x[i:i + 1]

    def run(i):
        it.set_tensor(inp["index"], feed(i))
        it.invoke()
        o = it.get_tensor(outd["index"])
        scale, zp = outd["quantization"]
        return (o.astype(np.float32) - zp) * scale if scale else o.astype(np.float32)

    out = np.concatenate([run(i) for i in range(len(x))])
    md = None
    try:
        from .metadata import read_metadata
        md = read_metadata(data)
    except ExportError:
        pass
    if md is not None:
        checks.append(Check("metadata", True, f"associated files {md['files']}"))
        if use_mediapipe:
            checks.append(_mediapipe_check(path, pixels, out, cfg, takes_pixels))
    else:
        notes.append("no TFLite metadata (MediaPipe / Task Library cannot read normalization or labels)")
    from ai_edge_litert import __version__ as litert_version
    return out, (lambda: run(0)), f"ai-edge-litert {litert_version} (default delegates)", checks, notes, \
        {"quantize": q, "xnnpack": xnnpack}


def mediapipe_top_k(path, pixels, k=5):
    """MediaPipe ImageClassifier's top-k [(index, name, score)] per image (images at model size)."""
    try:
        import mediapipe as mp
        from mediapipe.tasks import python as mpt
        from mediapipe.tasks.python import vision
    except ImportError as e:
        raise ExportError(f"the MediaPipe check needs mediapipe (pip install mediapipe): {e}") from None
    opts = vision.ImageClassifierOptions(base_options=mpt.BaseOptions(model_asset_path=str(path)), max_results=k)
    res = []
    with quiet_stderr(), vision.ImageClassifier.create_from_options(opts) as clf:
        for p in pixels:
            r = clf.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(p)))
            res.append([(c.index, c.category_name, float(c.score)) for c in r.classifications[0].categories])
    return res


def compare_top_k(mp_cats, scores, labels, k=5, atol=1e-4) -> tuple[bool, bool]:
    """(consistent, strict) for MediaPipe's top-k vs the interpreter's scores of one image.
    consistent: same labels, and the same ranked scores (equal scores may come in either order);
    strict: the very same index order."""
    scores = np.asarray(scores, np.float64)
    order = np.argsort(-scores, kind="stable")[:k]
    if len(mp_cats) != len(order):
        return False, False
    for (idx, name, s), want in zip(mp_cats, scores[order]):
        if labels is not None and name != labels[idx]:
            return False, False
        tol = atol * max(1.0, abs(want))
        if abs(s - want) > tol or abs(scores[idx] - s) > tol:
            return False, False
    return True, [c[0] for c in mp_cats] == list(order)


def _mediapipe_check(path, pixels, out, cfg, takes_pixels) -> Check:
    if not takes_pixels:
        return Check("MediaPipe ImageClassifier", True,
                     "skipped: the model takes preprocessed input (per-channel NormalizationOptions, "
                     "which MediaPipe 1.2 refuses)")
    try:
        cats = mediapipe_top_k(path, pixels)
    except ExportError as e:
        return Check("MediaPipe ImageClassifier", False, str(e))
    except Exception as e:  # noqa: BLE001 - MediaPipe's own refusal is the finding
        return Check("MediaPipe ImageClassifier", False, f"{type(e).__name__}: {e}")
    res = [compare_top_k(c, o, cfg.labels) for c, o in zip(cats, out)]
    ok = all(r[0] for r in res)
    strict = sum(r[1] for r in res)
    return Check("MediaPipe ImageClassifier", ok,
                 f"same top-5 labels and scores as LiteRT on {sum(r[0] for r in res)}/{len(res)} images "
                 f"({strict} in the same order; the rest differ only among equal scores)")


def _run_onnx(path, cfg: ServingCfg, x, pixels, raw_images):
    import onnx
    import onnxruntime as ort
    from onnx import checker

    from .onnx import scan_ops, ort_session
    checks, notes = [], []
    proto = onnx.load(str(path))
    try:
        checker.check_model(proto, full_check=True)
        checks.append(Check("onnx.checker (full)", True, f"opset {proto.opset_import[0].version}"))
    except Exception as e:  # noqa: BLE001
        checks.append(Check("onnx.checker (full)", False, str(e)[:200]))
    bad = scan_ops(proto)
    checks.append(Check("supported ops only", not bad, f"{sorted({n.op_type for n in proto.graph.node}).__len__()} "
                        f"op types" + (f"; unsupported {bad}" if bad else "")))
    s = ort_session(path)
    name = s.get_inputs()[0].name
    out = s.run(None, {name: x})[0]
    one = s.run(None, {name: x[:1]})[0]
    d1 = max_rel_diff(out[:1], one)
    checks.append(Check("batch 1 == batch N", d1 <= FP32_RTOL, f"N={len(x)}, rel diff {d1:.2g}"))
    x1 = x[:1]
    return out, (lambda: s.run(None, {name: x1})), f"onnxruntime {ort.__version__} (CPU)", checks, notes, {}


_HUB_SCRIPT = r"""
import os, sys, json
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
import tf_keras
import tensorflow_hub as hub
path, data = sys.argv[1], sys.argv[2]
x = np.load(data)
layer = hub.KerasLayer(path, trainable=True)
model = tf_keras.Sequential([tf_keras.Input(x.shape[1:]), layer])
out = model(x, training=False).numpy()
frozen = hub.KerasLayer(path, signature="serving_default", output_key=sys.argv[3])(x).numpy()
n_train = len(model.trainable_weights)
model.compile(optimizer=tf_keras.optimizers.SGD(1e-3),
              loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
before = [w.numpy().copy() for w in model.trainable_weights]
hist = model.fit(x[:4], np.argmax(out[:4], 1), epochs=1, batch_size=2, verbose=0)
changed = sum(bool(np.any(w.numpy() != b)) for w, b in zip(model.trainable_weights, before))
np.save(data + ".out.npy", out)
np.save(data + ".frozen.npy", frozen)
print(json.dumps({"trainable": n_train, "changed": changed, "loss": float(hist.history["loss"][-1]),
                  "hub": hub.__version__}))
"""


def _run_tfhub(path, cfg: ServingCfg, x, pixels, raw_images):
    import keras

    from .saved_model import read_info
    info = read_info(path) or {}
    out_key = info.get("output_key", "logits")
    checks, notes = [], []
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "x.npy")
        np.save(data, x)
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
        r = subprocess.run([sys.executable, "-c", _HUB_SCRIPT, str(path), data, out_key], capture_output=True,
                           text=True, env=env, cwd=d, timeout=900)
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
            hint = " (tensorflow_hub needs setuptools<82)" if "pkg_resources" in r.stderr else ""
            raise ExportError(f"hub.KerasLayer (tf_keras) could not load/train {path}{hint}: {' | '.join(tail)}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        out = np.load(data + ".out.npy")
        frozen = np.load(data + ".frozen.npy")
    checks.append(Check("hub.KerasLayer(trainable=True) fine-tunes", res["changed"] > 0 and np.isfinite(res["loss"]),
                        f"{res['trainable']} trainable variables, {res['changed']} changed by one SGD step "
                        f"(fresh process, tf_keras)"))
    d = max_rel_diff(out, frozen)
    checks.append(Check("signature serving_default == __call__", d <= FP32_RTOL, f"output_key={out_key!r}"))
    layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    o3 = np.asarray(layer(x)[out_key])
    d3 = max_rel_diff(out, o3)
    checks.append(Check("keras.layers.TFSMLayer (Keras 3)", d3 <= FP32_RTOL, f"rel diff {d3:.2g}"))
    x1 = x[:1]
    return out, (lambda: layer(x1)), f"tensorflow_hub {res['hub']} KerasLayer (tf_keras, subprocess)", \
        checks, notes, {}


_RUNNERS = {"saved_model": _run_saved_model, "tflite": _run_tflite, "onnx": _run_onnx, "tfhub": _run_tfhub}


def _labelled(data, limit):
    """(raw images, labels, class names or None, description) of verify's data= argument."""
    if isinstance(data, (str, os.PathLike)):
        imgs, labs, names = photos.labelled_folder(data, limit=limit)
        return imgs, np.asarray(labs), names, str(data)
    if isinstance(data, tuple) and len(data) in (2, 3):
        imgs, labs = list(data[0]), np.asarray(data[1])
        names = list(data[2]) if len(data) == 3 else None
        if len(imgs) != len(labs) or not len(imgs) or labs.ndim != 1 or not np.issubdtype(labs.dtype, np.integer):
            raise InvalidArgumentError(f"data=(images, labels): {len(imgs)} images and labels of shape {labs.shape} "
                                       f"{labs.dtype}; give as many int labels as images")
        return imgs, labs, names, f"{len(imgs)} labelled images"
    raise InvalidArgumentError(f"data must be a folder of class subfolders or (images, labels[, class_names]); "
                               f"got {type(data).__name__}")


def _label_map(names, cfg: ServingCfg, n_out: int, notes: list) -> np.ndarray | None:
    """Output index of each data class: by name through the model's labels, else (as many
    classes as outputs) in order."""
    if names is None:
        return None
    if cfg.labels and all(n in cfg.labels for n in names):
        return np.asarray([list(cfg.labels).index(n) for n in names])
    if len(names) == n_out:
        notes.append(f"the model's labels do not name the data's classes: class i of the data is output i "
                     f"({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})")
        return np.arange(n_out)
    raise InvalidArgumentError(
        f"the labelled data has {len(names)} classes ({', '.join(names[:6])}) and the model {n_out} outputs whose "
        f"labels do not name them: give data with the model's classes (zoo train's class folders)")


def verify(model, artifact_path, *, format: str | None = None, images=None, n_images: int = 16,
           min_top1: float | None = None, mediapipe: bool = True, timing: bool = True,
           mean=None, std=None, labels=None, crop_pct=None, interpolation=None, data=None, data_limit=None,
           max_accuracy_drop: float | None = None) -> VerifyReport:
    """Run the artifact at `artifact_path` in its runtime and compare it with `model` (Keras).

    images: raw HxWx3 uint8 images (default: `n_images` views of the verification photos, which
        int8 calibration never sees). format: detected from the path when None.
    mean/std/labels/crop_pct/interpolation: override model.pretrained_cfg, as for the exports.
    min_top1: gate for dynamic-range / int8 TFLite (top-1 agreement with Keras); None reports it
        without gating. mediapipe: also run TFLite files with metadata in MediaPipe ImageClassifier.
    data: labelled images: a folder with one subfolder per class (zoo train's layout; at most
        `data_limit` per class), or (images, labels[, class_names]). The artifact then runs on
        these images instead of the verification photos (every comparison and check is made on
        them) and the report adds `accuracy` (the artifact's top-1 accuracy) and `keras_accuracy`
        (the Keras model's, same images). Classes map to outputs by name through the model's
        labels (zoo train writes them), else in order when the counts match.
    max_accuracy_drop: with data, also gate on accuracy >= keras_accuracy - max_accuracy_drop
        (e.g. 0.01 for one point); None reports accuracy without gating it.
    Returns a VerifyReport (`.passed`, `.table()`, `.to_json(path)`).
    """
    p = Path(artifact_path)
    if not p.exists():
        raise InvalidArgumentError(f"no artifact at {p}")
    fmt = format or detect_format(p)
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"unsupported format {fmt!r}; choose from {list(FORMATS)}")
    cfg = serving_cfg(model, mean=mean, std=std, labels=labels, crop_pct=crop_pct, interpolation=interpolation)
    cfg.require_normalization("verify (it feeds real photos)")
    if data is not None and images is not None:
        raise InvalidArgumentError("pass images= (unlabelled) or data= (labelled), not both")
    if max_accuracy_drop is not None and (data is None or not isinstance(max_accuracy_drop, (int, float))
                                          or max_accuracy_drop < 0):
        raise InvalidArgumentError("max_accuracy_drop gates the accuracy on data=: give data= and a number >= 0")
    y = names = where = None
    if data is not None:
        raw, y, names, where = _labelled(data, data_limit)
    else:
        raw = list(images) if images is not None else photos.verification_photos(n_images)
    pixels = photos.to_pixels(raw, cfg)
    x = photos.normalize(pixels, cfg)
    ref, keras_one = _keras_reference(model, x)
    runner = _RUNNERS[fmt]
    kw = {"use_mediapipe": mediapipe} if fmt == "tflite" else {}
    out, one, runtime, checks, notes, fields = runner(p, cfg, x, pixels, raw, **kw)
    q = (fields.get("quantize") or "fp32") if fmt == "tflite" else None
    m = _compare(ref, out)
    acc = {}
    if y is not None:
        if ref.ndim != 2:
            raise InvalidArgumentError("data= measures classification accuracy: this model outputs features")
        to_out = _label_map(names, cfg, ref.shape[1], notes)
        want = to_out[y] if to_out is not None else y
        if want.min() < 0 or want.max() >= ref.shape[1]:
            raise InvalidArgumentError(f"labels must be in 0..{ref.shape[1] - 1} (the model's outputs)")
        acc = {"accuracy": float(np.mean(np.argmax(out, 1) == want)),
               "keras_accuracy": float(np.mean(np.argmax(ref, 1) == want)), "data": where}
    if fmt != "tflite" or q == "fp32":
        tol_ok, tol = m["max_rel_diff"] <= FP32_RTOL, f"max |diff| <= {FP32_RTOL:g} x max|logits|"
    elif q == "fp16":
        tol_ok, tol = m["max_rel_diff"] <= FP16_RTOL, f"max |diff| <= {FP16_RTOL:g} x max|logits|"
        if not tol_ok:   # weights this sensitive to rounding: judge the export, not the weights
            drift = fp16_rounding_drift(model, x, ref)
            tol_ok = m["max_rel_diff"] <= FP16_DRIFT_FACTOR * drift
            tol = (f"max |diff| <= {FP16_RTOL:g} x max|logits|, or <= {FP16_DRIFT_FACTOR:g} x the drift of "
                   f"the Keras model with fp16-rounded parameters ({drift:.2g})")
    elif min_top1 is not None:
        tol_ok, tol = m["top1_agreement"] >= min_top1, f"top-1 agreement >= {min_top1:g}"
    else:
        tol_ok, tol = True, "top-1 agreement reported, not gated (pass min_top1 to gate)"
    if max_accuracy_drop is not None:
        acc_ok = acc["accuracy"] >= acc["keras_accuracy"] - max_accuracy_drop - 1e-12
        tol_ok = tol_ok and acc_ok
        tol += f"; accuracy >= Keras accuracy - {max_accuracy_drop:g}"
    lat = klat = None
    if timing:
        lat = median_ms(one)
        klat = median_ms(keras_one)
    return VerifyReport(format=fmt, artifact=str(p), runtime=runtime, quantize=q,
                        n_images=len(x), size_bytes=size_of(p), latency_ms=lat, keras_latency_ms=klat,
                        tolerance=tol, passed=bool(tol_ok and all(c.passed for c in checks)),
                        checks=checks, notes=notes, xnnpack=fields.get("xnnpack"), **m, **acc)
