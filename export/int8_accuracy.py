"""What post-training quantization does to *trained* networks: accuracy, size and latency of every
TFLite variant next to the Keras model's, on held-out labelled images, plus the per-layer error
TensorFlow's quantization debugger measures.

No published weights are reachable here, so each model is trained first: `run()` fine-tunes the
smallest model of each family from random initialisation with `zoo.train.train` (what `zoo train`
runs) on a labelled set of real images, exports fp32 / fp16 / dynamic / int8 / int8-mixed TFLite,
and evaluates each artifact in LiteRT with `export.verify(..., data=TEST_DIR)`.

The bundled data set (`make_dataset`): ten classes, each one real photograph that ships inside
scikit-image's wheel (textures, microscopy, astronomy, a camera man, a page of text). Every image
is a seeded random square crop of its photo; training crops come from the left 55 % of the photo
and held-out crops from the right 40 %, so no test crop overlaps a training crop (the 5 % band
between them is never used). int8 calibration uses training crops only.

    import export.int8_accuracy as q
    rows = q.run(["seresnet18"], epochs=4)      # data=None: the bundled set, written under out_dir
    print(q.markdown(rows))

`python benchmarks/int8_accuracy.py --write-docs` runs every family and regenerates docs/int8.md.
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import numpy as np

from zoo.errors import InvalidArgumentError

from .tflite import INTEGER

# the smallest registered arch of each family (tests/export_helpers.py SMALLEST)
SMALLEST = {
    "seresnet": "seresnet18",
    "ecaresnet": "ecaresnet26t",
    "legacy_senet": "legacy_seresnet18",
    "skresnet": "skresnet18",
    "coatnet": "coatnet_pico_rw_224",
    "gfnet": "gfnet_ti",
    "mobilevit": "mobilevit_xxs",
    "mobilevitv2": "mobilevitv2_050",
    "parnet": "parnet_s",
}
VARIANTS = ("fp32", "fp16", "dynamic", "int8", "int8-mixed")
BAR = 0.01                # int8 within 1 point (absolute) of fp32 accuracy

# --- the bundled data set -------------------------------------------------------------------------

# class name -> scikit-image photo (export.photos.photo); ten real photographs
DATASET_PHOTOS = {
    "brick": "brick", "grass": "grass", "gravel": "gravel", "moon": "moon", "cells": "cell",
    "coins": "coins", "cameraman": "camera", "page": "page", "tissue": "immunohistochemistry",
    "galaxies": "hubble_deep_field",
}
TRAIN_SPAN = (0.0, 0.55)  # share of the photo's width the training crops come from
TEST_SPAN = (0.60, 1.0)   # ... and the held-out crops (disjoint: the band between is unused)
CROP_SCALE = (0.25, 0.8)  # crop side as a share of the region's shorter side
DATASET_VERSION = 1


def _crops(img: np.ndarray, span, n: int, size: int, rng) -> list[np.ndarray]:
    from PIL import Image
    w = img.shape[1]
    x0, x1 = int(round(span[0] * w)), int(round(span[1] * w))
    region = img[:, x0:x1]
    rh, rw = region.shape[:2]
    short = min(rh, rw)
    out = []
    for _ in range(n):
        side = int(round(short * rng.uniform(*CROP_SCALE)))
        side = max(16, min(side, short))
        y, x = int(rng.integers(0, rh - side + 1)), int(rng.integers(0, rw - side + 1))
        crop = region[y:y + side, x:x + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        im = Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.BICUBIC)
        out.append(np.asarray(im))
    return out


def make_dataset(root, *, train_per_class: int = 64, test_per_class: int = 48, size: int = 96, seed: int = 0,
                 progress: bool = False) -> Path:
    """Write the bundled labelled set as PNG class folders: `root/train/<class>/*.png` and
    `root/test/<class>/*.png` (+ `dataset.json` with how it was made). Deterministic for the same
    arguments; an existing set made with the same arguments is reused as it is."""
    from PIL import Image

    from . import photos
    for k, v in (("train_per_class", train_per_class), ("test_per_class", test_per_class), ("size", size)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise InvalidArgumentError(f"{k} must be an int >= 1, got {v!r}")
    root = Path(root)
    spec = {"version": DATASET_VERSION, "photos": DATASET_PHOTOS, "train_span": TRAIN_SPAN, "test_span": TEST_SPAN,
            "crop_scale": CROP_SCALE, "train_per_class": train_per_class, "test_per_class": test_per_class,
            "size": size, "seed": seed, "source": "scikit-image bundled photos (skimage.data)"}
    manifest = root / "dataset.json"
    if manifest.is_file():
        try:
            if json.loads(manifest.read_text()) == json.loads(json.dumps(spec)):
                return root
        except ValueError:
            pass
        raise InvalidArgumentError(f"{root} holds another data set ({manifest} differs): give another folder")
    if root.exists() and any(root.iterdir()):
        raise InvalidArgumentError(f"{root} already holds files and no {manifest.name}: give an empty or new folder")
    items = list(DATASET_PHOTOS.items())
    if progress:
        from tqdm import tqdm
        items = tqdm(items, desc="dataset", unit="class", leave=False)
    tmp = root.with_name(f".{root.name}.tmp")
    if tmp.exists():
        import shutil
        shutil.rmtree(tmp)
    for ci, (cls, name) in enumerate(items):
        img = photos.photo(name)
        for split, span, n in (("train", TRAIN_SPAN, train_per_class), ("test", TEST_SPAN, test_per_class)):
            rng = np.random.default_rng([seed, ci, 0 if split == "train" else 1])
            d = tmp / split / cls
            d.mkdir(parents=True, exist_ok=True)
            for i, c in enumerate(_crops(img, span, n, size, rng)):
                Image.fromarray(c).save(d / f"{cls}_{i:04d}.png")
    (tmp / "dataset.json").write_text(json.dumps(spec, indent=2) + "\n")
    root.parent.mkdir(parents=True, exist_ok=True)
    if root.exists():
        root.rmdir()
    os.replace(tmp, root)
    return root


def splits(data, work_dir) -> tuple[Path, Path]:
    """(train folder, held-out folder) of `data`: a folder with `train/` and `test/` (or `val/`)
    class folders, or one class folder, split here per class (20 %, seeded, the same stratified
    split as zoo train's) into symlinked `work_dir/split/{train,test}` folders."""
    from zoo import datasets
    root = Path(data).expanduser()
    if not root.is_dir():
        raise InvalidArgumentError(f"data {root} is not a folder: give a folder of class subfolders "
                                   f"(or with train/ and test/ class folders)")
    for held in ("test", "val"):
        if (root / "train").is_dir() and (root / held).is_dir():
            return root / "train", root / held
    index = datasets.scan_folder(root)
    out = Path(work_dir) / "split"
    for split in ("train", "test"):
        idx = datasets.split_indices(index.labels, "val" if split == "test" else "train", 0.2, 0)
        for i in idx:
            src = Path(index.files[i]).resolve()
            dst = out / split / index.class_names[index.labels[i]] / src.name
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.symlink_to(src)
    return out / "train", out / "test"


# --- per-layer error: tf.lite.experimental.QuantizationDebugger -----------------------------------

def layer_errors(model, representative_data, *, n_debug: int = 32, top: int = 5, denylisted_ops=(),
                 denylisted_nodes=()) -> list[dict]:
    """Per-layer int8 error of `model` (deploy form), measured by TensorFlow's quantization
    debugger on `n_debug` of the calibration images: for each quantized tensor, the RMSE between
    the float op's output and the int8 op's (both fed the same quantized input) divided by the
    tensor's quantization scale (TF's debugger guide: ~0.29 is pure rounding, 1/sqrt(12); more
    means the int8 range clips or the op's error grows). Returns the `top` worst, worst first:
    {op, tensor, rmse_scale, scale, mean_error, max_abs_error}."""
    import tensorflow as tf

    from ._cfg import serving_cfg
    from .tflite import _as_samples, default_check_inputs, int8_converter, tflite_ready_model
    cfg = serving_cfg(model)
    samples = _as_samples(representative_data, cfg)
    dmodel, _ = tflite_ready_model(model, default_check_inputs(cfg), "int8")
    from zoo._quiet import quiet_stderr
    with int8_converter(dmodel, cfg, samples) as (conv, pixels):
        conv.inference_input_type = tf.float32   # the debug model keeps float I/O
        conv.inference_output_type = tf.float32

        def debug_data():
            for p in pixels[:n_debug]:
                yield [p.astype(np.float32)]
        opts = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=list(denylisted_ops) or None, denylisted_nodes=list(denylisted_nodes) or None)
        import warnings
        with quiet_stderr(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            dbg = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=debug_data,
                                                            debug_options=opts)
            dbg.run()
    buf = io.StringIO()
    dbg.layer_statistics_dump(buf)
    rows = []
    for r in csv.DictReader(io.StringIO(buf.getvalue())):
        scale = float(r["scale"])
        mse = float(r["mean_squared_error"])
        if not np.isfinite(mse) or scale <= 0:
            continue
        rows.append({"op": r["op_name"], "tensor": r["tensor_name"], "rmse_scale": float(np.sqrt(mse) / scale),
                     "scale": scale, "mean_error": float(r["mean_error"]), "max_abs_error": float(r["max_abs_error"])})
    rows.sort(key=lambda r: -r["rmse_scale"])
    return rows[:top] if top else rows


# --- one model ----------------------------------------------------------------------------------

def _images(folder) -> tuple[list[np.ndarray], list[int]]:
    from .photos import labelled_folder
    imgs, labels, _ = labelled_folder(folder)
    return imgs, labels


def latency_ms(path, threads: int = 2, repeats: int = 20) -> float:
    """Batch-1 median ms of a TFLite file in LiteRT (default delegates: XNNPACK) with `threads`."""
    from .tflite import load_interpreter
    from .verification import median_ms
    it = load_interpreter(path, num_threads=threads)
    d = it.get_input_details()[0]
    x = np.zeros(d["shape"], d["dtype"])
    it.set_tensor(d["index"], x)

    def one():
        it.set_tensor(d["index"], x)
        it.invoke()
    return median_ms(one, warmup=3, repeats=repeats)


def _keras_latency(model, x, repeats=20) -> float:
    import tensorflow as tf

    from .verification import median_ms
    fwd = tf.function(lambda t: model(t, training=False))
    x1 = tf.constant(x[:1])
    return median_ms(lambda: fwd(x1).numpy(), warmup=3, repeats=repeats)


def evaluate_model(model, name: str, train_dir, test_dir, out_dir, *, variants=VARIANTS, n_calibration: int = 128,
                   seed: int = 0, progress: bool = True) -> dict:
    """Export `model` to each TFLite variant in `out_dir`, verify each on the held-out folder and
    measure size and latency; the int8 per-layer error from the quantization debugger."""
    from . import photos, to_tflite, verify
    from ._cfg import serving_cfg
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = serving_cfg(model)
    train_imgs, _ = _images(train_dir)
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(train_imgs))[:n_calibration]
    calib = photos.normalize(photos.to_pixels([train_imgs[i] for i in pick], cfg), cfg)
    row = {"arch": name, "img_size": int(cfg.input_size[0]), "variants": {}, "n_calibration": len(calib),
           "n_train_images": len(train_imgs)}
    steps = list(variants) + ["debugger"]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(steps), desc=f"{name}: export+verify", unit="step", leave=False)
    keras_done = False
    for q in variants:
        if bar is not None:
            bar.set_postfix_str(q)
        path = out_dir / f"{name}_{q}.tflite"
        t0 = time.perf_counter()
        to_tflite(model, path, quantize=q, representative_data=calib if q in INTEGER else None,
                  metadata=False, overwrite=True)
        t_export = time.perf_counter() - t0
        rep = verify(model, path, data=test_dir, mediapipe=False, timing=False)
        if not keras_done:
            row["keras"] = {"accuracy": rep.keras_accuracy}
            row["n_test"] = rep.n_images
            keras_done = True
        from .tflite import inspect_tflite
        info = inspect_tflite(path.read_bytes())
        row["variants"][q] = {
            "accuracy": rep.accuracy, "top1_agreement": rep.top1_agreement, "max_rel_diff": rep.max_rel_diff,
            "size_mb": path.stat().st_size / 1e6, "latency_ms": latency_ms(path), "verify_passed": rep.passed,
            "tolerance": rep.tolerance, "export_s": t_export, "float_islands": info["float_islands"]}
        if bar is not None:
            bar.update(1)
    x = photos.normalize(photos.to_pixels(train_imgs[:1], cfg), cfg)
    row["keras"]["latency_ms"] = _keras_latency(model, x)
    if bar is not None:
        bar.set_postfix_str("quantization debugger")
    try:
        row["worst_layers"] = layer_errors(model, calib)
    except Exception as e:  # noqa: BLE001 - the debugger is experimental; the table says it failed
        row["worst_layers"] = []
        row["debugger_error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"
    if bar is not None:
        bar.update(1)
        bar.close()
    return row


def _EpochBar(name, epochs):
    """A tqdm bar over zoo train's epochs (its own Keras bars are off: one line per model)."""
    import keras
    from tqdm import tqdm

    class Bar(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, desc=f"{name}: zoo train", unit="epoch", leave=False)

        def on_epoch_end(self, epoch, logs=None):
            self.bar.set_postfix_str(f"loss {float((logs or {}).get('loss', float('nan'))):.3f}")
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()
    return Bar()


def _judge(row: dict) -> None:
    v = row["variants"]
    fp32 = v.get("fp32", {}).get("accuracy")
    drops = {q: fp32 - v[q]["accuracy"] for q in INTEGER if q in v and fp32 is not None}
    row["int8_drop"] = drops.get("int8")
    row["int8_mixed_drop"] = drops.get("int8-mixed")
    best = min(drops.values()) if drops else None
    row["meets_bar"] = best is not None and best <= BAR + 1e-9


def run(names=None, data=None, out_dir="build/int8-accuracy", epochs: int = 6, progress: bool = True, *,
        img_size: int = 64, batch_size: int = 32, lr: float = 2e-3, warmup_epochs: float = 1, seed: int = 0,
        variants=VARIANTS, n_calibration: int = 128) -> list[dict]:
    """Fine-tune each model (default: the smallest of each family, `SMALLEST`) from random
    initialisation on `data` with zoo.train, export every TFLite variant and measure each one's
    held-out accuracy, size and latency next to the Keras model's; returns one row per model.

    data: None (the bundled scikit-image set, written to out_dir/data), a folder with `train/` and
        `test/` class folders, or one class folder (split 80/20 per class here).
    out_dir: the work folder: data/, runs/<arch>/ (zoo train's run), tflite/<arch>/ and results.json
        (rewritten after each model).
    epochs, img_size, batch_size, lr, warmup_epochs, seed: zoo train's (AdamW, cosine decay; the
        learning rate is a from-scratch one, since the models start from random weights).
    n_calibration: int8 calibration images, drawn (seeded) from the training split; at most all of it.
    """
    import export  # noqa: F401  (export's quiet TensorFlow start)
    from zoo import registry
    from zoo.train import train

    names = list(SMALLEST.values()) if names is None else ([names] if isinstance(names, str) else list(names))
    if not names:
        raise InvalidArgumentError("names is empty: give arch names, or None for the smallest of each family")
    for n in names:
        registry.resolve(n)   # an unknown name fails here, with suggestions, before any training
    for q in variants:
        if q not in VARIANTS:
            raise InvalidArgumentError(f"unknown variant {q!r}; choose from {list(VARIANTS)}")
    if not isinstance(n_calibration, int) or isinstance(n_calibration, bool) or n_calibration < 1:
        raise InvalidArgumentError(f"n_calibration must be an int >= 1, got {n_calibration!r}")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise InvalidArgumentError(f"epochs must be an int >= 1, got {epochs!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = make_dataset(out / "data", progress=progress)
        data_label = "bundled scikit-image crops (export.int8_accuracy.make_dataset)"
    else:
        data_label = str(data)
    train_dir, test_dir = splits(data, out)
    rows = []
    it = names
    if progress:
        from tqdm import tqdm
        it = tqdm(names, desc="int8 accuracy", unit="model")
    for name in it:
        spec, _ = registry.resolve(name)
        t0 = time.perf_counter()
        run_dir = out / "runs" / name
        if run_dir.exists():
            import shutil
            shutil.rmtree(run_dir)
        import keras
        keras.backend.clear_session()
        cbs = [_EpochBar(name, epochs)] if progress else []
        res = train(name, train_dir, out=run_dir, epochs=epochs, batch_size=batch_size, pretrained=False,
                    img_size=img_size, val_fraction=0.0, seed=seed, lr=lr, warmup_epochs=warmup_epochs, verbose=0,
                    callbacks=cbs)
        t_train = time.perf_counter() - t0
        row = evaluate_model(res.model, name, train_dir, test_dir, out / "tflite" / name, variants=variants,
                             n_calibration=n_calibration, seed=seed, progress=progress)
        row.update(family=spec.family, epochs=epochs, lr=lr, train_s=t_train, total_s=time.perf_counter() - t0,
                   train_accuracy=res.history[-1].get("accuracy"), data=data_label)
        _judge(row)
        rows.append(row)
        (out / "results.json").write_text(json.dumps(rows, indent=2, default=float) + "\n")
    return rows


# --- the table ----------------------------------------------------------------------------------

def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def markdown(rows) -> str:
    """The accuracy table (per model: Keras and each TFLite variant on the held-out split, the
    int8 drop against fp32 and whether it meets the 1-point bar), the size/latency table and the
    debugger's worst layers, as markdown."""
    qs = [q for q in VARIANTS if any(q in r["variants"] for r in rows)]
    head = ["family", "model", "Keras"] + [f"TFLite {q}" for q in qs] + ["int8 drop", "int8-mixed drop", "within 1 pt"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        v = r["variants"]
        cells = [r.get("family", ""), f"`{r['arch']}` @{r['img_size']}", _pct(r["keras"]["accuracy"])]
        cells += [_pct(v[q]["accuracy"]) if q in v else "-" for q in qs]

        def drop(x):
            return "-" if x is None else f"{100 * x:+.1f}".replace("+", "") if x <= 0 else f"{100 * x:.1f}"
        cells += [drop(r.get("int8_drop")), drop(r.get("int8_mixed_drop")), "yes" if r.get("meets_bar") else "**no**"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", ("Size (MB) and batch-1 latency (median ms, LiteRT + XNNPACK, 2 threads; Keras: tf.function, "
                   "same run):"), ""]
    head = ["model", "Keras ms"] + [f"{q} MB / ms" for q in qs]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        v = r["variants"]
        cells = [f"`{r['arch']}`", f"{r['keras'].get('latency_ms', float('nan')):.2f}"]
        cells += [f"{v[q]['size_mb']:.2f} / {v[q]['latency_ms']:.2f}" if q in v else "-" for q in qs]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Worst int8 layers by the quantization debugger (RMSE / scale; 0.29 is pure rounding):", ""]
    lines += ["| model | worst tensors (op: RMSE/scale) |", "|---|---|"]
    for r in rows:
        if r.get("debugger_error"):
            cell = f"debugger failed: {r['debugger_error']}"
        else:
            cell = "; ".join(f"{w['op']} `{_short(w['tensor'])}`: {w['rmse_scale']:.2f}" for w in r["worst_layers"])
        lines.append(f"| `{r['arch']}` | {cell or '-'} |")
    return "\n".join(lines) + "\n"


def _short(tensor: str, n: int = 60) -> str:
    t = tensor.split(";")[0]
    return t if len(t) <= n else "..." + t[-n:]
