"""Fine-tuning (zoo/train.py, `zoo train`): training semantics, freezing, layer decay, the run
folder, resume, distribution. Data: crops of scikit-image's real photos, one class per photo."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import synth
import zoo
from zoo import checkpoint, convert
from zoo import train as training
from zoo.errors import InvalidArgumentError
from tests.test_datasets import make_image_folder

# the end-to-end fine-tune: arch -> input size, the smallest arch of each family
# (tests/export_helpers.SMALLEST); ZOO_TRAIN_ARCHS="arch:size,..." runs others instead
E2E_ARCHS = {"seresnet18": 32}
# -m slow: the smallest model of each newer family (each passed once, 1.5-2.5 min apiece;
# mobilevitv2_050 is left out: its loss stays flat over these 2 epochs at lr 3e-3)
E2E_SLOW = {"coatnet_pico_rw_224": 64, "mobilevit_xxs": 64, "gfnet_ti": 64, "parnet_s": 64}
if os.environ.get("ZOO_TRAIN_ARCHS"):
    E2E_SLOW = {}
    E2E_ARCHS = {a: int(s) for a, s in (item.split(":") for item in os.environ["ZOO_TRAIN_ARCHS"].split(","))}
IMG = 32
ROOT = Path(__file__).resolve().parents[1]


def synthetic_checkpoint(arch: str, path: Path, img_size: int = IMG) -> Path:
    """A zoo Keras-layout weights file of `arch` (1000 classes) whose every float tensor is
    tests/synth.py's draw for its checkpoint key (BN statistics random too)."""
    keras.utils.set_random_seed(0)
    model = zoo.create(arch, img_size=img_size)
    for key, slot in convert.weight_slots(model).items():
        v = slot.variable
        if "seed_generator" in v.path or np.dtype(v.dtype).kind != "f":
            continue
        x = synth.synth_tensor(key, v.shape, seed=7, layout="keras")
        v.assign(x)
    return checkpoint.save_keras_safetensors(model, path)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("photos"), per_class=10, classes=("astronaut", "coffee",
                                                                                      "chelsea"))


def _weights(model):
    return {v.path: np.asarray(v.numpy()) for v in model.weights}


# --- training semantics --------------------------------------------------------------------------

def _batch(n=4, size=IMG, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, size, size, 3)).astype(np.float32), rng.integers(0, 3, n).astype(np.int32)


def test_frozen_groups_keep_weights_and_batchnorm_statistics():
    keras.utils.set_random_seed(0)
    model = zoo.create("seresnet18", num_classes=3, img_size=IMG)
    frozen = zoo.freeze(model, until="stages.1")
    assert frozen == ["stem", "stages.0", "stages.1"]
    groups = training.layer_groups(model)
    assert list(groups) == ["stem", "stages.0", "stages.1", "stages.2", "stages.3", "head"]
    assert not model.get_layer("bn1").trainable and not model.get_layer("layer2.1.bn2").trainable
    assert model.get_layer("layer3.0.bn1").trainable and model.get_layer("fc").trainable
    before = _weights(model)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _batch()
    model.fit(x, y, epochs=1, verbose=0)
    after = _weights(model)
    for layer in (model.get_layer("bn1"), model.get_layer("layer2.1.bn2"), model.get_layer("layer1.0.conv1")):
        for v in layer.weights:   # frozen: no update, and BN ran on its moving statistics
            np.testing.assert_array_equal(after[v.path], before[v.path], err_msg=v.path)
    bn = model.get_layer("layer3.0.bn1")
    assert not np.array_equal(after[bn.moving_mean.path], before[bn.moving_mean.path])
    assert not np.array_equal(after["fc/kernel"], before["fc/kernel"])
    zoo.unfreeze(model)
    assert all(layer.trainable for layer in model.layers)


def test_freeze_by_groups_and_unknown_names():
    model = zoo.create("seresnet18", num_classes=3, img_size=IMG)
    assert zoo.freeze(model, groups=["stem", "head"]) == ["stem", "head"]
    assert not model.get_layer("conv1").trainable and not model.get_layer("fc").trainable
    assert model.get_layer("layer1.0.conv1").trainable
    with pytest.raises(InvalidArgumentError, match=r"'stages.9' is not a layer group.*stem, stages.0, stages.1, "
                                                   r"stages.2, stages.3, head"):
        zoo.freeze(model, until="stages.9")
    with pytest.raises(InvalidArgumentError, match="not both"):
        zoo.freeze(model, until="stem", groups=["head"])
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(InvalidArgumentError, match="zoo model"):
        zoo.freeze(plain, until="stem")


def test_drop_path_acts_only_in_training():
    keras.utils.set_random_seed(0)
    model = zoo.create("seresnet18", num_classes=3, img_size=IMG, drop_path_rate=0.5)
    x, _ = _batch(8)
    a, b = model(x, training=False), model(x, training=False)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    s, t = model(x, training=True), model(x, training=True)    # BN on batch statistics either way
    assert not np.allclose(np.asarray(s), np.asarray(t))       # only the dropped paths differ


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_float32_logits(policy):
    old = keras.config.dtype_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = zoo.create("seresnet18", num_classes=3, img_size=IMG)
        assert model.get_layer("fc").compute_dtype == policy.split("_")[1]
        assert model.get_layer("fc").variable_dtype == "float32"
        assert model.outputs[0].dtype == "float32"
        x, y = _batch()
        assert np.asarray(model(x)).dtype == np.float32
        if policy == "mixed_bfloat16":   # a training step in bfloat16 is slow on CPU; float16 trains below
            return
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        loss = model.train_on_batch(x, y)
        assert np.isfinite(loss)
    finally:
        keras.mixed_precision.set_global_policy(old)
    assert zoo.create("seresnet18", num_classes=3, img_size=IMG).outputs[0].dtype == "float32"


def test_layer_decay_scales_each_groups_learning_rate():
    import tensorflow as tf
    keras.utils.set_random_seed(0)
    model = zoo.create("seresnet18", num_classes=3, img_size=IMG)
    scales = training.layer_decay_scales(model, 0.5)
    assert scales == {"stem": 0.5 ** 5, "stages.0": 0.5 ** 4, "stages.1": 0.5 ** 3, "stages.2": 0.25,
                      "stages.3": 0.5, "head": 1.0}
    x, y = _batch()
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model(x, training=False))
    grads = tape.gradient(loss, model.trainable_variables)
    start = [np.asarray(v.numpy()) for v in model.trainable_variables]
    opt = training.with_layer_decay(keras.optimizers.SGD(0.1), model, 0.5)
    opt.apply(grads, model.trainable_variables)
    group_of = {id(v): g for g, layers in training.layer_groups(model).items() for layer in layers
                for v in layer.trainable_weights}
    for v, g, w0 in zip(model.trainable_variables, grads, start):
        expected = w0 - 0.1 * scales[group_of[id(v)]] * np.asarray(g)
        np.testing.assert_allclose(np.asarray(v.numpy()), expected, rtol=1e-5, atol=1e-7, err_msg=v.path)
    with pytest.raises(InvalidArgumentError, match="layer decay"):
        training.layer_decay_scales(model, 1.5)


# --- the run: fine-tune, best checkpoint, export, resume ---------------------------------------

class _Predictions(keras.callbacks.Callback):
    """The model's logits on a fixed batch at each epoch end (to check best.keras against)."""

    def __init__(self, x):
        super().__init__()
        self.x, self.by_epoch = x, {}

    def on_epoch_end(self, epoch, logs=None):
        self.by_epoch[epoch + 1] = np.asarray(self.model(self.x, training=False))


class _StopAt(keras.callbacks.Callback):
    """Simulates an interruption (Ctrl-C) in the middle of epoch `epoch` (1-based)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch + 1

    def on_train_batch_begin(self, batch, logs=None):
        if self.current == self.epoch and batch == 1:
            raise KeyboardInterrupt


RUN = dict(epochs=2, batch_size=6, lr=3e-3, val_fraction=0.2, seed=0, jit_compile=False, verbose=0)


@pytest.fixture(scope="module", params=[*E2E_ARCHS, *(pytest.param(a, marks=pytest.mark.slow) for a in E2E_SLOW)])
def finetuned(request, photos, tmp_path_factory):
    arch = request.param
    size = {**E2E_ARCHS, **E2E_SLOW}[arch]
    root = tmp_path_factory.mktemp(f"run_{arch}")
    ckpt = synthetic_checkpoint(arch, root / "synthetic.safetensors", size)
    x = zoo.data.image_folder(photos, arch, split="val", img_size=size, batch_size=6)
    xval = np.concatenate([b.numpy() for b, _ in x])
    preds = _Predictions(xval)
    result = training.train(arch, photos, out=root / "run", pretrained=str(ckpt), img_size=size,
                            callbacks=[preds], **RUN)
    return dict(arch=arch, size=size, root=root, ckpt=ckpt, result=result, preds=preds, xval=xval)


def test_finetune_learns_and_writes_the_run_folder(finetuned):
    r = finetuned["result"]
    out = Path(r.out)
    losses = [row["loss"] for row in r.history]
    assert len(r.history) == 2 and losses[-1] < losses[0], losses
    assert {"best.keras", "metrics.csv", "curves.png", "summary.md", "labels.txt", "resume"} <= set(os.listdir(out))
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,") and "val_accuracy" in rows[0] and len(rows) == 3
    assert (out / "labels.txt").read_text().split() == ["astronaut", "chelsea", "coffee"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (out / "summary.md").read_text()
    assert f"# {finetuned['arch']} fine-tuned" in card and f"best: epoch {r.best_epoch}" in card
    assert "synthetic.safetensors" in card
    assert r.images_per_second and r.images_per_second > 0


def test_best_checkpoint_reloads_and_zoo_export_makes_a_tflite_of_it(finetuned, tmp_path, capsys):
    """best.keras reloads with the outputs the model had at that epoch; `zoo export best.keras`
    writes a TFLite file (pixels in, the normalization inside) that predicts the same classes."""
    from zoo.cli import main
    r = finetuned["result"]
    best = training.load(r.best_path)
    cfg = zoo.pretrained_cfg(best)
    assert cfg["labels"] == ("astronaut", "chelsea", "coffee") and cfg["arch"] == finetuned["arch"]
    assert getattr(best, "optimizer", None) is None     # an inference model: no optimizer state inside
    logits = best.predict(finetuned["xval"], verbose=0)
    np.testing.assert_allclose(logits, finetuned["preds"].by_epoch[r.best_epoch], rtol=1e-5, atol=1e-5)

    assert main(["export", str(r.best_path), "--format", "tflite", "--out", str(tmp_path)]) == 0
    path = tmp_path / f"{finetuned['arch']}_fp32.tflite"
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    inp, outp = it.get_input_details()[0], it.get_output_details()[0]
    pixels = finetuned["xval"] * np.float32(cfg["std"]) * 255 + np.float32(cfg["mean"]) * 255
    lite = []
    for img in pixels:
        it.set_tensor(inp["index"], img[None].astype(np.float32))
        it.invoke()
        lite.append(it.get_tensor(outp["index"])[0])
    assert np.array_equal(np.argmax(lite, 1), np.argmax(logits, 1))
    np.testing.assert_allclose(np.asarray(lite), logits, atol=1e-3 * max(1.0, np.abs(logits).max()))
    assert main(["export", str(r.best_path), "--format", "onnx", "--img-size", "64", "--out", str(tmp_path)]) == 1
    assert "drop --weights/--img-size" in capsys.readouterr().err


def test_resume_after_an_interruption_matches_the_uninterrupted_run(finetuned, photos):
    """Stopped in the middle of epoch 2, resumed by `zoo train --resume`: the same metrics and
    the same best checkpoint as the run that never stopped."""
    arch, ckpt = finetuned["arch"], finetuned["ckpt"]
    out = finetuned["root"] / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        training.train(arch, photos, out=out, pretrained=str(ckpt), img_size=finetuned["size"], callbacks=[_StopAt(2)],
                       **RUN)
    state = json.loads((out / "resume" / "state.json").read_text())
    assert state["epoch"] == 1 and len(state["history"]) == 1
    from zoo.cli import main
    rc = main(["train", arch, str(photos), "--epochs", "2", "--out", str(out), "--weights", str(ckpt),
               "--img-size", str(finetuned["size"]), "--batch-size", "6", "--lr", "3e-3", "--no-jit", "--resume"])
    assert rc == 0
    full = finetuned["result"]
    resumed = json.loads((out / "resume" / "state.json").read_text())["history"]
    assert [r["epoch"] for r in resumed] == [1, 2]
    for a, b in zip(full.history, resumed):
        for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            np.testing.assert_allclose(b[k], a[k], rtol=1e-5, atol=1e-6, err_msg=k)
    again = training.load(out / "best.keras")
    np.testing.assert_allclose(again.predict(finetuned["xval"], verbose=0),
                               finetuned["preds"].by_epoch[full.best_epoch], rtol=1e-4, atol=1e-5)
    with pytest.raises(InvalidArgumentError, match="already completed 2 epochs"):
        training.train(arch, photos, out=out, pretrained=str(ckpt), img_size=finetuned["size"], resume=True, **RUN)


# --- bad input ---------------------------------------------------------------------------------

def _cli(*args):
    from zoo.cli import main
    return main(["train", *map(str, args)])


def test_cli_bad_input_is_one_clear_error(photos, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert _cli("seresnet18", tmp_path / "empty", "--epochs", "1", "--out", tmp_path / "o1", "--weights", "none") == 1
    assert "no class subfolders" in capsys.readouterr().err
    assert _cli("seresnet18", tmp_path / "nope", "--epochs", "1", "--out", tmp_path / "o2", "--weights", "none") == 1
    assert "does not exist" in capsys.readouterr().err
    assert _cli("seresnet18", photos, "--epochs", "1", "--out", tmp_path / "o3", "--weights", "none",
                "--img-size", IMG, "--freeze-until", "stages.7") == 1
    err = capsys.readouterr().err
    assert "'stages.7' is not a layer group" in err and "stages.3, head" in err
    assert _cli("seresnet18", photos, "--epochs", "1", "--out", tmp_path / "o4") == 1
    assert "--weights none" in capsys.readouterr().err           # no published weights: CLI words
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    assert _cli("seresnet18", photos, "--epochs", "1", "--out", tmp_path / "busy", "--weights", "none") == 1
    assert "--resume" in capsys.readouterr().err
    assert _cli("seresnet18", photos, "--epochs", "2", "--out", tmp_path / "o5", "--weights", "none", "--resume") == 1
    assert "no run to resume" in capsys.readouterr().err


def test_model_with_another_class_count_is_refused(photos, tmp_path):
    model = zoo.create("seresnet18", num_classes=5, img_size=IMG)
    with pytest.raises(InvalidArgumentError, match="5 classes but .* 3 class folders"):
        training.train(model, photos, out=tmp_path / "o", epochs=1, verbose=0)


def test_multiworker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(InvalidArgumentError, match="TF_CONFIG"):
        training.make_strategy("multiworker")
    with pytest.raises(InvalidArgumentError, match="strategy must be one of"):
        training.make_strategy("tpu")


# --- distribution (subprocesses: devices must be configured before TensorFlow starts) ------------

MIRRORED = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, zoo
    from zoo import train as training

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 3, 8).astype(np.int32)

    def one_step(strategy):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = zoo.create("seresnet18", num_classes=3, img_size=32)
            if strategy.num_replicas_in_sync > 1:
                training.sync_batch_norm(model)
            model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        return {v.path: np.asarray(v.numpy()) for v in model.weights if "seed" not in v.path}

    single = one_step(tf.distribute.get_strategy())
    mirrored = training.make_strategy("mirrored")
    multi = one_step(mirrored)
    worst = max(float(np.abs(single[k] - multi[k]).max() / (np.abs(single[k]).max() + 1e-12)) for k in single)
    print("RESULT " + json.dumps({"replicas": mirrored.num_replicas_in_sync, "worst_rel": worst,
                                  "keys": len(single)}))
""")


def _run_py(code: str, env=None, timeout=400):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})


def _result(proc):
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(line[len("RESULT "):])


@pytest.mark.slow
def test_mirrored_two_devices_equal_one_device_on_the_global_batch():
    """MirroredStrategy over two logical CPU devices (4 images each, BatchNorm synchronized) gives
    the weights one device gets from the 8-image batch, after one SGD step."""
    res = _result(_run_py(MIRRORED))
    print(f"\nmirrored vs one device: worst relative weight difference {res['worst_rel']:.2g} over {res['keys']} tensors")
    assert res["replicas"] == 2
    assert res["worst_rel"] < 1e-4, res


def _free_ports(n):
    import socket
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multiworker_two_processes_train_one_epoch_to_identical_weights(tmp_path):
    """Two `zoo train --strategy multiworker` processes on 127.0.0.1 (TF_CONFIG set here) train
    one epoch together; both end with the same weights."""
    import h5py
    data = make_image_folder(tmp_path / "data", per_class=8, classes=("astronaut", "coffee"), size=(40, 48))
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
        cmd = [sys.executable, "-m", "zoo", "train", "seresnet18", str(data), "--epochs", "1", "--out",
               str(tmp_path / f"out{i}"), "--batch-size", "4", "--img-size", "32", "--weights", "none",
               "--val-fraction", "0.25", "--no-jit", "--strategy", "multiworker"]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=480)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    chief = tmp_path / "out0" / "resume" / "state.weights.h5"
    worker = tmp_path / "out1" / "worker-1" / "resume" / "state.weights.h5"
    assert chief.is_file() and worker.is_file(), "\n".join(log[-3000:] for log in logs)
    assert (tmp_path / "out0" / "best.keras").is_file() and not (tmp_path / "out1" / "best.keras").exists()

    def arrays(path):
        out = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
        return out

    a, b = arrays(chief), arrays(worker)
    assert a.keys() == b.keys() and len(a) > 100
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    hist = [json.loads((d / "state.json").read_text())["history"] for d in (chief.parent, worker.parent)]
    assert hist[0][0]["loss"] == hist[1][0]["loss"]
