"""SavedModel for TF Serving: `dir/<name>/<version>/`, named signatures, labels asset.

Signatures (all batch-major with a dynamic batch, so TF Serving's batching works):
  serving_default   image: float32[N, H, W, C], already preprocessed (what the Keras model takes)
  serve_uint8       images: uint8[N, h, w, 3], any h x w (one size per request); the model's
                    eval transform runs in the graph (resize the shorter side to size / crop_pct,
                    center crop, (x / 255 - mean) / std)
  serve_image_bytes image_bytes: string[N], encoded JPEG / PNG / BMP / GIF, each decoded and
                    preprocessed in the graph (REST clients send {"b64": "..."})
Outputs of a classifier: logits float32[N, K], probabilities float32[N, K], top_k_ids int32[N, k]
and, when the model has labels, top_k_labels string[N, k] (k = min(5, K)), looked up in the
labels asset (assets/labels.txt). A num_classes=0 model returns features float32[N, D].
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from zoo.errors import ExportError, InvalidArgumentError
from zoo.factory import pretrained_cfg
from zoo.inference import inference_model, is_functional

from ._cfg import ServingCfg, serving_cfg
from ._io import staged

INPUT_NAME = "image"
SIGNATURES = ("float", "uint8", "bytes")
SIGNATURE_KEYS = {"float": "serving_default", "uint8": "serve_uint8", "bytes": "serve_image_bytes"}
INFO_FILE = "assets.extra/zoo_export.json"
TOP_K = 5

_RESIZE = {"bicubic": "bicubic", "bilinear": "bilinear", "nearest": "nearest"}


def _tf():
    import tensorflow as tf
    return tf


def resize_center_crop(image, cfg: ServingCfg):
    """In-graph twin of zoo.data's eval resize + center crop for one HxWx3 uint8 image (or a batch
    of equally sized ones): returns float32 pixels 0..255 at the model's size, rounded like PIL's
    uint8 output. Resize: tf.image.resize with antialiasing (close to PIL, not bit-exact)."""
    tf = _tf()
    th, tw = cfg.input_size[:2]
    s_h, s_w = int(np.floor(th / cfg.crop_pct)), int(np.floor(tw / cfg.crop_pct))
    shape = tf.shape(image)
    h, w = shape[-3], shape[-2]
    hf, wf = tf.cast(h, tf.float64), tf.cast(w, tf.float64)
    if s_h == s_w:  # shorter side to s, aspect kept, int() truncation as torchvision does
        s = tf.constant(float(s_h), tf.float64)
        nh = tf.where(w <= h, tf.cast(tf.floor(s * hf / wf), tf.int32), s_h)
        nw = tf.where(w <= h, s_w, tf.cast(tf.floor(s * wf / hf), tf.int32))
    else:           # timm ResizeKeepRatio: the side needing the larger ratio decides, rounded
        ratio = tf.maximum(s_h / hf, s_w / wf)
        nh = tf.cast(tf.round(hf * ratio), tf.int32)
        nw = tf.cast(tf.round(wf * ratio), tf.int32)
    x = tf.cast(image, tf.float32)
    x = tf.cond(tf.logical_and(tf.equal(nh, h), tf.equal(nw, w)), lambda: x,
                lambda: tf.clip_by_value(tf.round(tf.image.resize(
                    x, tf.stack([nh, nw]), method=_RESIZE[cfg.interpolation], antialias=True)), 0.0, 255.0))
    top = tf.cast(tf.round(tf.cast(nh - th, tf.float64) / 2.0), tf.int32)
    left = tf.cast(tf.round(tf.cast(nw - tw, tf.float64) / 2.0), tf.int32)
    x = x[..., top:top + th, left:left + tw, :]
    return tf.ensure_shape(x, [None, th, tw, 3] if image.shape.rank == 4 else [th, tw, 3])


def _normalize(pixels, cfg: ServingCfg):
    tf = _tf()
    mean = tf.constant(np.asarray(cfg.mean, np.float32) * 255.0)
    std = tf.constant(np.asarray(cfg.std, np.float32) * 255.0)
    return (pixels - mean) / std


def _outputs_fn(model, cfg: ServingCfg, labels_table, features: bool):
    tf = _tf()
    k = min(TOP_K, cfg.num_outputs)

    def outputs(x):
        y = model(x, training=False)
        if features:
            return {"features": y}
        out = {"logits": y, "probabilities": tf.nn.softmax(y, axis=-1)}
        ids = tf.math.top_k(y, k=k).indices
        out["top_k_ids"] = ids
        if labels_table is not None:
            out["top_k_labels"] = labels_table.lookup(tf.cast(ids, tf.int64))
        return out
    return outputs


def _labels_table(labels, workdir: Path):
    tf = _tf()
    path = workdir / "labels.txt"
    path.write_text("\n".join(labels) + "\n", encoding="utf-8")
    init = tf.lookup.TextFileInitializer(
        str(path), tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE)
    return tf.lookup.StaticHashTable(init, default_value="")


def _resolve_signatures(signatures, cfg: ServingCfg) -> tuple[str, ...]:
    if signatures in (None, "auto"):
        return SIGNATURES if cfg.mean is not None else ("float",)
    if isinstance(signatures, str):
        signatures = (signatures,)
    sigs = tuple(signatures)
    bad = [s for s in sigs if s not in SIGNATURES]
    if bad:
        raise InvalidArgumentError(f"unknown signature(s) {bad}; choose from {list(SIGNATURES)}")
    if "float" not in sigs:
        sigs = ("float",) + sigs   # serving_default is always there
    if any(s != "float" for s in sigs):
        cfg.require_normalization("the uint8 / image-bytes serving signatures")
    return sigs


def tf_variable(v):
    """The tf.Variable behind a Keras 3 variable (itself for a tf.Variable). A SavedModel must track
    only these: a Keras variable saves its tf.Variable's value under its own name, so tracking both
    writes every weight twice."""
    inner = getattr(v, "_value", None)
    return inner if isinstance(inner, _tf().Variable) else v


def _unique(variables) -> list:
    seen, out = set(), []
    for v in variables:
        v = tf_variable(v)
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def track_variables(root, model, concrete_fns=()):
    """Give `root` the model's variables as tf.Variables, each once: `variables`,
    `trainable_variables`, `non_trainable_variables` (the reusable-SavedModel attributes), and
    every other variable the traced functions read (Keras 3 variables wrap tf.Variables; one left
    untracked would surface as a READ_VARIABLE op in TFLite and an uninitialized read)."""
    root.variables = _unique(model.variables)
    root.trainable_variables = _unique(model.trainable_variables)
    root.non_trainable_variables = _unique(model.non_trainable_variables)
    known = {id(v) for v in root.variables}
    extra = [v for fn in concrete_fns for v in _unique(list(fn.trainable_variables) + list(fn.variables))
             if id(v) not in known]
    root._extra_variables = _unique(extra)


def build_root(model, cfg: ServingCfg, workdir: Path, signatures=("float",), features: bool = False):
    """The object tf.saved_model.save writes: the model's variables, the labels table and one
    tf.function per signature. Returns (root, {signature key: concrete function})."""
    tf = _tf()

    h, w, c = cfg.input_size
    root = tf.__internal__.tracking.AutoTrackable()
    table = _labels_table(cfg.labels, workdir) if (cfg.labels and not features) else None
    if table is not None:
        root.labels_table = table
    outputs = _outputs_fn(model, cfg, table, features)

    fns = {}

    @tf.function(input_signature=[tf.TensorSpec((None, h, w, c), tf.float32, name=INPUT_NAME)])
    def serve(image):
        return outputs(image)
    root.serve = serve
    fns["serving_default"] = serve.get_concrete_function()

    if "uint8" in signatures:
        @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8, name="images")])
        def serve_uint8(images):
            return outputs(_normalize(resize_center_crop(images, cfg), cfg))
        root.serve_uint8 = serve_uint8
        fns[SIGNATURE_KEYS["uint8"]] = serve_uint8.get_concrete_function()

    if "bytes" in signatures:
        def decode_one(b):
            img = tf.io.decode_image(b, channels=3, dtype=tf.uint8, expand_animations=False)
            return resize_center_crop(img, cfg)

        @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")])
        def serve_image_bytes(image_bytes):
            px = tf.map_fn(decode_one, image_bytes, fn_output_signature=tf.TensorSpec((h, w, 3), tf.float32))
            return outputs(_normalize(px, cfg))
        root.serve_image_bytes = serve_image_bytes
        fns[SIGNATURE_KEYS["bytes"]] = serve_image_bytes.get_concrete_function()
    track_variables(root, model, fns.values())
    return root, fns


def write_info(saved_dir: Path, fmt: str, cfg: ServingCfg, signatures: dict, extra: dict | None = None):
    info = {"format": fmt, "cfg": cfg.to_dict(), "input": INPUT_NAME,
            "signatures": {k: sorted(v.structured_outputs) for k, v in signatures.items()}}
    info.update(extra or {})
    p = saved_dir / INFO_FILE
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(info, indent=2) + "\n")


def read_info(saved_dir) -> dict | None:
    p = Path(saved_dir) / INFO_FILE
    return json.loads(p.read_text()) if p.is_file() else None


def to_saved_model(model, path, *, name: str | None = None, version: int = 1, signatures="auto",
                   overwrite: bool = False, mean=None, std=None, labels=None, crop_pct=None,
                   interpolation=None) -> Path:
    """Write `model` as a TF Serving SavedModel at `path/<name>/<version>/`; returns that folder.

    name: the serving model name (default: the arch, from model.pretrained_cfg, else model.name).
    version: a positive integer (TF Serving serves the highest one it finds under path/<name>/).
    signatures: "auto" (all three when the model's normalization is known, else only the float
        one), or a subset of ("float", "uint8", "bytes"); see the module docstring.
    mean/std/labels/crop_pct/interpolation: override model.pretrained_cfg.
    overwrite: replace an existing version folder, if it is a SavedModel (never other files).
    The graph is the model's inference form (`zoo.inference_model`: batch norms folded into their
    convolutions, proven equal), which TF Serving runs faster.
    """
    tf = _tf()
    cfg = serving_cfg(model, name=name, mean=mean, std=std, labels=labels, crop_pct=crop_pct,
                      interpolation=interpolation)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidArgumentError(f"version must be a positive integer (TF Serving's layout); got {version!r}")
    sigs = _resolve_signatures(signatures, cfg)
    features = (pretrained_cfg(model) or {}).get("num_classes") == 0
    target = Path(path) / cfg.name / str(version)
    if is_functional(model):   # serving only: batch norms folded into their convs (zoo.inference_model)
        model = inference_model(model)
    with staged(target, overwrite, "saved_model") as tmp, tempfile.TemporaryDirectory() as work:
        root, fns = build_root(model, cfg, Path(work), sigs, features=features)
        try:
            tf.saved_model.save(root, str(tmp), signatures=fns)
        except Exception as e:  # noqa: BLE001
            raise ExportError(f"tf.saved_model.save failed for {model.name}: {type(e).__name__}: {e}") from e
        write_info(tmp, "saved_model", cfg, fns, {"version": version})
    return target


def find_saved_model(path) -> Path:
    """The SavedModel folder at `path`: itself, or the highest version under path/ or path/<name>/."""
    p = Path(path)
    if (p / "saved_model.pb").is_file():
        return p
    for base in [p] + sorted(d for d in p.iterdir() if d.is_dir()) if p.is_dir() else []:
        versions = sorted((int(d.name), d) for d in base.iterdir()
                          if d.is_dir() and d.name.isdigit() and (d / "saved_model.pb").is_file())
        if versions:
            return versions[-1][1]
    raise InvalidArgumentError(f"no SavedModel (saved_model.pb) at {p} or in a <name>/<version>/ folder under it")
