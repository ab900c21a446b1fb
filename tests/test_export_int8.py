"""int8 that keeps accuracy: the labelled data set, quantize="int8-mixed", verify(data=...), the
quantization debugger's per-layer error and the benchmark's table (export/int8_accuracy.py).

Fast: tiny hand-built models at 32x32 with a cfg attached; the full run over the families is
`python benchmarks/int8_accuracy.py` (one trained model end to end here is under -m slow)."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import export
from export import int8_accuracy as q8
from export import photos
from export.tflite import INT8_MIXED_FLOAT_OPS, inspect_tflite, load_interpreter
from zoo.errors import InvalidArgumentError, UnknownModelError

SIZE = 32
CLASSES = ("dark", "light", "stripes")


def _cfg_model(layer_fn=None, classes=CLASSES, seed=0):
    """conv -> relu -> [layer_fn] -> GAP -> dense, with a zoo-style cfg (normalization, labels)."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inp)
    x = keras.layers.ReLU(name="relu")(x)
    if layer_fn is not None:
        x = layer_fn(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(len(classes), name="fc")(x)
    m = keras.Model(inp, out, name="tiny")
    m.pretrained_cfg = {"arch": None, "input_size": (SIZE, SIZE, 3), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25),
                        "crop_pct": 1.0, "interpolation": "bilinear", "num_classes": len(classes),
                        "labels": tuple(classes)}
    return m


def _attention_like(x):
    """LayerNorm -> dense GELU -> a softmax gate: the ops int8-mixed keeps in float."""
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="norm")(x)
    x = keras.layers.Dense(8, activation=keras.activations.gelu, name="mlp")(x)
    g = keras.layers.Softmax(axis=-1, name="gate")(x)
    return keras.layers.Multiply(name="gated")([x, g])


def _images(n, kind, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if kind == "dark":
            a = rng.integers(0, 90, (40, 40, 3))
        elif kind == "light":
            a = rng.integers(160, 256, (40, 40, 3))
        else:
            a = np.zeros((40, 40, 3), int) + (np.arange(40)[None, :, None] // 4 % 2) * 220 + rng.integers(0, 30, (40, 40, 3))
        out.append(np.clip(a, 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    from PIL import Image
    root = tmp_path_factory.mktemp("labelled")
    for ci, c in enumerate(CLASSES):
        (root / c).mkdir()
        for i, a in enumerate(_images(4, c, ci)):
            Image.fromarray(a).save(root / c / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def trained(labelled):
    """The tiny attention-like model fitted for a few steps on the labelled folder (it learns it)."""
    m = _cfg_model(_attention_like)
    imgs, labels, _ = photos.labelled_folder(labelled)
    cfg = export.serving_cfg(m)
    x = photos.normalize(photos.to_pixels(imgs, cfg), cfg)
    m.compile(optimizer=keras.optimizers.Adam(0.02), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(x, np.asarray(labels), epochs=40, batch_size=12, verbose=0)
    return m, x


# --- the bundled data set --------------------------------------------------------------------

def test_crops_come_from_their_own_part_of_the_photo():
    img = np.zeros((200, 400, 3), np.uint8)
    img[:, int(0.55 * 400):] = 128          # the unused band and the test part
    img[:, int(0.60 * 400):] = 255          # the test part
    rng = np.random.default_rng(0)
    train = q8._crops(img, q8.TRAIN_SPAN, 20, 24, rng)
    test = q8._crops(img, q8.TEST_SPAN, 20, 24, rng)
    assert all(c.shape == (24, 24, 3) for c in train + test)
    assert max(int(c.max()) for c in train) == 0, "a training crop reached past the training part"
    assert min(int(c.min()) for c in test) == 255, "a held-out crop reached outside the test part"


def test_make_dataset_is_deterministic_and_reused(tmp_path):
    a = q8.make_dataset(tmp_path / "a", train_per_class=2, test_per_class=1, size=24)
    b = q8.make_dataset(tmp_path / "b", train_per_class=2, test_per_class=1, size=24)
    files = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert len(files) == 3 * len(q8.DATASET_PHOTOS)
    assert {p.parts[0] for p in files} == {"train", "test"}
    assert sorted(p.relative_to(b) for p in b.rglob("*.png")) == files
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    mtime = (a / files[0]).stat().st_mtime_ns
    q8.make_dataset(tmp_path / "a", train_per_class=2, test_per_class=1, size=24)   # reused, not rewritten
    assert (a / files[0]).stat().st_mtime_ns == mtime
    with pytest.raises(InvalidArgumentError, match="another data set"):
        q8.make_dataset(tmp_path / "a", train_per_class=3, test_per_class=1, size=24)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x.txt").write_text("x")
    with pytest.raises(InvalidArgumentError, match="already holds files"):
        q8.make_dataset(tmp_path / "c", train_per_class=1, test_per_class=1, size=24)
    spec = json.loads((a / "dataset.json").read_text())
    assert spec["train_span"][1] < spec["test_span"][0]


def test_splits_of_one_class_folder_are_disjoint(labelled, tmp_path):
    train, test = q8.splits(labelled, tmp_path)
    tr = {p.resolve() for p in train.rglob("*.png")}
    te = {p.resolve() for p in test.rglob("*.png")}
    assert tr and te and not tr & te
    assert len(tr) + len(te) == 4 * len(CLASSES)
    assert sorted(p.name for p in test.iterdir()) == sorted(CLASSES)
    with pytest.raises(InvalidArgumentError, match="not a folder"):
        q8.splits(tmp_path / "missing", tmp_path)


# --- int8-mixed ---------------------------------------------------------------------------------

def test_int8_mixed_keeps_the_stated_ops_in_float(trained, tmp_path):
    m, x = trained
    p8 = export.to_tflite(m, tmp_path / "int8.tflite", quantize="int8", representative_data=x, metadata=False)
    pm = export.to_tflite(m, tmp_path / "mixed.tflite", quantize="int8-mixed", representative_data=x, metadata=False)
    i8, im = inspect_tflite(p8.read_bytes()), inspect_tflite(pm.read_bytes())
    assert not set(i8["float_islands"]) & {"SOFTMAX", "GELU", "MEAN"}
    kept = set(im["float_islands"])
    assert {"SOFTMAX", "GELU"} <= kept, kept
    # the op set, and LayerNorm's elementwise ops between its float MEAN/RSQRT
    assert kept <= set(INT8_MIXED_FLOAT_OPS) | {"SUB", "MUL", "ADD", "NEG", "RESHAPE"}, kept
    assert "CONV_2D" not in kept, "the convolution outside the op set must stay int8"
    inp = im["inputs"][0]
    assert inp["type"] == "UINT8" and inp["scales"][0] == 1.0 and inp["zero_points"][0] == 0
    load_interpreter(pm)   # XNNPACK
    rep = export.verify(m, pm, mediapipe=False, timing=False, min_top1=0.5)
    assert rep.quantize == "int8" and rep.passed, rep.table()
    assert any("SOFTMAX" in n for n in rep.notes)


def test_int8_mixed_by_nodes_and_arguments(trained, tmp_path):
    m, x = trained
    p = export.to_tflite(m, tmp_path / "none.tflite", quantize="int8-mixed", representative_data=x, metadata=False,
                         float_ops=())
    assert not set(inspect_tflite(p.read_bytes())["float_islands"]) & {"SOFTMAX", "GELU"}
    worst = q8.layer_errors(m, x, n_debug=4, top=0)
    conv = next(w["tensor"] for w in worst if w["op"] == "CONV_2D")
    p = export.to_tflite(m, tmp_path / "node.tflite", quantize="int8-mixed", representative_data=x, metadata=False,
                         float_ops=(), float_nodes=[conv])
    assert "CONV_2D" in inspect_tflite(p.read_bytes())["float_islands"]
    with pytest.raises(InvalidArgumentError, match="apply to quantize"):
        export.to_tflite(m, tmp_path / "bad.tflite", quantize="int8", representative_data=x, float_ops=["SOFTMAX"])
    with pytest.raises(InvalidArgumentError, match="builtin op names"):
        export.to_tflite(m, tmp_path / "bad.tflite", quantize="int8-mixed", representative_data=x,
                         float_ops=["tf.nn.softmax"])
    with pytest.raises(export.ExportError, match="representative_data"):
        export.to_tflite(m, tmp_path / "bad.tflite", quantize="int8-mixed")


def test_layer_errors_rank_by_rmse_over_scale(trained):
    m, x = trained
    rows = q8.layer_errors(m, x, n_debug=4, top=0)
    assert rows and {"op", "tensor", "rmse_scale", "scale"} <= set(rows[0])
    vals = [r["rmse_scale"] for r in rows]
    assert vals == sorted(vals, reverse=True)
    assert all(np.isfinite(v) and v >= 0 for v in vals)
    assert {r["op"] for r in rows} & {"CONV_2D", "FULLY_CONNECTED"}
    assert len(q8.layer_errors(m, x, n_debug=4, top=2)) == 2


# --- verify(data=...) ---------------------------------------------------------------------------

def test_verify_reports_accuracy_on_labelled_data(trained, labelled, tmp_path):
    m, x = trained
    p = export.to_tflite(m, tmp_path / "fp32.tflite", metadata=False)
    rep = export.verify(m, p, data=labelled, mediapipe=False, timing=False, max_accuracy_drop=0.0)
    imgs, labels, _ = photos.labelled_folder(labelled)
    want = float(np.mean(np.argmax(m.predict(x, verbose=0), 1) == np.asarray(labels)))
    assert rep.n_images == len(imgs)
    assert rep.keras_accuracy == pytest.approx(want)
    assert rep.accuracy == pytest.approx(want) and rep.passed
    assert want >= 0.9, "the fixture model should have learnt the three classes"
    assert "accuracy (labelled)" in rep.table() and rep.to_dict()["accuracy"] == rep.accuracy
    # (images, labels) with every label shifted: the artifact is then always wrong
    wrong = export.verify(m, p, data=(imgs, (np.asarray(labels) + 1) % 3), mediapipe=False, timing=False,
                          max_accuracy_drop=0.0)
    assert wrong.accuracy == pytest.approx(1 - want, abs=0.34) and wrong.accuracy < want


def test_verify_data_maps_classes_by_label_name(trained, labelled, tmp_path):
    m, _ = trained
    p = export.to_tflite(m, tmp_path / "fp32.tflite", metadata=False)
    imgs, labels, names = photos.labelled_folder(labelled)
    perm = [2, 0, 1]                    # the data's class order differs from the model's
    names2 = [names[i] for i in perm]
    labels2 = [perm.index(lab) for lab in labels]
    a = export.verify(m, p, data=(imgs, labels, names), mediapipe=False, timing=False)
    b = export.verify(m, p, data=(imgs, labels2, names2), mediapipe=False, timing=False)
    assert a.accuracy == b.accuracy and a.keras_accuracy == b.keras_accuracy
    with pytest.raises(InvalidArgumentError, match="classes"):
        export.verify(m, p, data=(imgs, labels, ["a", "b"]), mediapipe=False, timing=False)
    with pytest.raises(InvalidArgumentError, match="not both"):
        export.verify(m, p, data=labelled, images=imgs, mediapipe=False, timing=False)
    with pytest.raises(InvalidArgumentError, match="max_accuracy_drop"):
        export.verify(m, p, max_accuracy_drop=0.01, mediapipe=False, timing=False)


def test_verify_accuracy_gate_fails_a_worse_artifact(trained, labelled, tmp_path):
    m, _ = trained
    other = _cfg_model(_attention_like, seed=5)     # untrained: another network's file
    p = export.to_tflite(other, tmp_path / "other.tflite", metadata=False)
    rep = export.verify(m, p, data=labelled, mediapipe=False, timing=False, max_accuracy_drop=0.01)
    assert rep.accuracy < rep.keras_accuracy - 0.01 and not rep.passed


# --- the table ----------------------------------------------------------------------------------

def test_markdown_says_which_families_meet_the_bar():
    def row(arch, fp32, int8, mixed):
        v = {q: {"accuracy": a, "size_mb": 1.0, "latency_ms": 2.0} for q, a in
             (("fp32", fp32), ("fp16", fp32), ("dynamic", fp32), ("int8", int8), ("int8-mixed", mixed))}
        r = {"arch": arch, "family": arch, "img_size": 64, "keras": {"accuracy": fp32, "latency_ms": 3.0},
             "variants": v, "worst_layers": [{"op": "SOFTMAX", "tensor": "t;x", "rmse_scale": 1.5}]}
        q8._judge(r)
        return r
    rows = [row("good", 0.80, 0.795, 0.80), row("mixed_saves", 0.80, 0.70, 0.80), row("bad", 0.80, 0.60, 0.65)]
    assert [r["meets_bar"] for r in rows] == [True, True, False]
    assert rows[1]["int8_drop"] == pytest.approx(0.10) and rows[2]["int8_mixed_drop"] == pytest.approx(0.15)
    md = q8.markdown(rows)
    lines = {ln.split("|")[2].strip(): ln for ln in md.splitlines() if ln.startswith("| ") and "@64" in ln}
    assert lines["`bad` @64"].rstrip().endswith("**no** |") and "15.0" in lines["`bad` @64"]
    assert lines["`good` @64"].rstrip().endswith("yes |")
    assert "SOFTMAX `t`: 1.50" in md and "1.00 / 2.00" in md


def test_run_rejects_bad_arguments(tmp_path):
    with pytest.raises(UnknownModelError):
        q8.run(["no_such_arch_xyz"], out_dir=tmp_path, progress=False)
    with pytest.raises(InvalidArgumentError, match="variant"):
        q8.run(["seresnet18"], out_dir=tmp_path, variants=("int4",), progress=False)
    with pytest.raises(InvalidArgumentError, match="epochs"):
        q8.run(["seresnet18"], out_dir=tmp_path, epochs=0, progress=False)
    assert set(q8.SMALLEST.values()) >= {"seresnet18", "mobilevit_xxs", "coatnet_pico_rw_224"}


@pytest.mark.slow
def test_run_one_family_end_to_end(tmp_path, labelled):
    rows = q8.run(["seresnet18"], data=labelled, out_dir=tmp_path, epochs=1, progress=False, img_size=32,
                  batch_size=4, warmup_epochs=0)
    (r,) = rows
    assert set(r["variants"]) == set(q8.VARIANTS)
    assert all(v["verify_passed"] for v in r["variants"].values())
    assert r["variants"]["fp32"]["accuracy"] == pytest.approx(r["keras"]["accuracy"])
    assert (tmp_path / "results.json").is_file()
