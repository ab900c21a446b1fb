"""Fine-tuning a zoo model: freezing by group, layer-wise learning-rate decay, distribution
strategies, and the run behind `zoo train` (checkpoints, metrics.csv, curves.png, summary, resume).

Training semantics of a `zoo.create(...)` model under plain `model.fit`:
- a frozen layer (`layer.trainable = False`, what `freeze` sets) keeps its BatchNorm in inference
  mode: Keras 3 BatchNormalization uses its moving statistics, and does not update them, unless
  it is both called with training=True and trainable;
- DropPath (drop_path_rate) and Dropout (drop_rate) act only when training=True;
- under a mixed precision policy (`keras.mixed_precision.set_global_policy("mixed_float16")` or
  "mixed_bfloat16") the logits come out in float32 (zoo.create casts the classifier output).

Groups are the family's group_matcher names (`zoo.registry.ArchSpec.layer_group`): "stem",
"stages.0" ... "stages.N", "head", in network order. A layer with weights outside every group
belongs to the group of the layer before it.

Data order and augmentation are a function of (seed, epoch) (zoo/datasets.py), the optimizer
state, the epoch and the random-generator states of DropPath/Dropout are checkpointed at each epoch
end, so a run resumed after an interruption continues exactly as the uninterrupted run.
"""
from __future__ import annotations

import csv
import json
import os
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from . import registry
from .errors import InvalidArgumentError

STRATEGIES = ("auto", "mirrored", "multiworker", "none")
OPTIMIZERS = ("adamw", "sgd")
PRECISIONS = (None, "float32", "mixed_float16", "mixed_bfloat16")
STATE_DIR = "resume"
STATE_WEIGHTS = "state.weights.h5"
STATE_JSON = "state.json"
BEST = "best.keras"


# --- groups, freezing, layer-wise learning-rate decay -----------------------------------------

def _spec_of(model) -> registry.ArchSpec:
    from .factory import pretrained_cfg
    cfg = pretrained_cfg(model)
    if cfg is None or not cfg.get("arch"):
        raise InvalidArgumentError("freeze and layer decay need a zoo model (zoo.create(...) or a .keras file of one): "
                                   "this model carries no arch, so its groups are unknown.")
    spec, _ = registry.resolve(cfg["arch"])
    if not spec.group_matcher:
        raise InvalidArgumentError(f"the {spec.family} family defines no group_matcher: its layers have no groups.")
    return spec


def _group_order(name: str) -> tuple:
    if name == "stem":
        return (0, 0)
    if name == "head":
        return (2, 0)
    return (1, int(name.split(".")[1]))


def layer_groups(model) -> dict[str, list[keras.layers.Layer]]:
    """Group name -> the model's layers in it, groups in network order (stem, stages.i, head).
    Layers outside every group take the group of the layer before them (the stem for leading ones)."""
    spec = _spec_of(model)
    out: dict[str, list] = {}
    current = "stem"
    for layer in model.layers:
        g = spec.layer_group(layer.name)
        if g is None:
            if not layer.weights:
                continue
            g = current
        current = g
        out.setdefault(g, []).append(layer)
    return dict(sorted(out.items(), key=lambda kv: _group_order(kv[0])))


def _check_group(name, groups) -> None:
    if name not in groups:
        raise InvalidArgumentError(
            f"{name!r} is not a layer group of this model; its groups are: {', '.join(groups)} "
            f"(freeze(model, until='stages.1') freezes the stem and stages 0-1).")


def freeze(model, until: str | None = None, *, groups=None) -> list[str]:
    """Freeze (trainable=False) the groups up to and including `until`, or the listed `groups`;
    every other layer becomes trainable. Returns the frozen group names.

    Frozen BatchNorm layers run in inference mode under fit (Keras 3). Call before compile (Keras
    compiles the trainable set). freeze(model) with neither argument unfreezes everything.
    """
    found = layer_groups(model)
    names = list(found)
    if until is not None and groups is not None:
        raise InvalidArgumentError("pass until= or groups=, not both")
    if until is not None:
        if not isinstance(until, str):
            raise InvalidArgumentError(f"until must be a group name such as 'stages.2', got {until!r}")
        _check_group(until, found)
        frozen = names[:names.index(until) + 1]
    elif groups is not None:
        groups = [groups] if isinstance(groups, str) else list(groups)
        for g in groups:
            _check_group(g, found)
        frozen = [g for g in names if g in groups]
    else:
        frozen = []
    for g, layers in found.items():
        for layer in layers:
            layer.trainable = g not in frozen
    return frozen


def unfreeze(model) -> None:
    """Every layer trainable again."""
    for layer in model.layers:
        layer.trainable = True


def layer_decay_scales(model, decay: float) -> dict[str, float]:
    """timm's layer-wise learning-rate decay: group i of n (stem first, head last) gets
    decay ** (n - 1 - i) times the learning rate (the head 1.0)."""
    if not (isinstance(decay, (int, float)) and 0.0 < decay <= 1.0):
        raise InvalidArgumentError(f"layer decay must be in (0, 1], got {decay!r}")
    names = list(layer_groups(model))
    n = len(names)
    return {g: float(decay) ** (n - 1 - i) for i, g in enumerate(names)}


class _LayerDecayMixin:
    """Scales the learning rate of each variable by its group's factor (the weight decay of AdamW
    keeps the base rate)."""

    def _set_scales(self, scales_by_id: dict[int, float]):
        self._zoo_scales_by_id = scales_by_id

    def build(self, variables):
        super().build(variables)
        self._zoo_scales = [self._zoo_scales_by_id.get(id(v), 1.0) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        scale = self._zoo_scales[self._get_variable_index(variable)]
        if scale != 1.0:
            learning_rate = learning_rate * scale
        return super().update_step(gradient, variable, learning_rate)


def with_layer_decay(optimizer: keras.optimizers.Optimizer, model, decay: float) -> keras.optimizers.Optimizer:
    """A copy of `optimizer` (same class and config) whose learning rate is scaled per group by
    `layer_decay_scales(model, decay)`. Build it before compile: model.compile(optimizer=...)."""
    scales = layer_decay_scales(model, decay)
    by_id = {}
    for g, layers in layer_groups(model).items():
        for layer in layers:
            for v in layer.trainable_weights:
                by_id[id(v)] = scales[g]
    cls = type(f"LayerDecay{type(optimizer).__name__}", (_LayerDecayMixin, type(optimizer)), {})
    opt = cls.from_config(optimizer.get_config())
    opt._set_scales(by_id)
    return opt


# --- distribution --------------------------------------------------------------------------------

def _tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return {}
    try:
        cfg = json.loads(raw)
    except ValueError as e:
        raise InvalidArgumentError(f"TF_CONFIG is not valid JSON ({e}): see docs/fine-tuning.md") from None
    return cfg if isinstance(cfg, dict) else {}


def _workers(cfg: dict) -> int:
    cluster = cfg.get("cluster") or {}
    return sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))


def make_strategy(name: str = "auto"):
    """auto: MultiWorkerMirroredStrategy when TF_CONFIG names several workers, MirroredStrategy
    with several GPUs, else the default strategy. mirrored: every local GPU (without one, every
    logical CPU device: tf.config.set_logical_device_configuration makes several). multiworker: needs TF_CONFIG. none: the default (one device). Create it before any other
    TensorFlow work in the process (MultiWorkerMirroredStrategy must)."""
    import tensorflow as tf
    if name not in STRATEGIES:
        raise InvalidArgumentError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    cfg = _tf_config()
    if name == "multiworker" or (name == "auto" and _workers(cfg) > 1):
        if not cfg.get("cluster"):
            raise InvalidArgumentError(
                "--strategy multiworker needs TF_CONFIG (the cluster and this worker's task) in the environment: "
                "see docs/fine-tuning.md for the two-machine commands.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":   # every GPU; without one, every logical CPU device
        return tf.distribute.MirroredStrategy(None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")])
    if name == "auto" and len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy=None) -> bool:
    """True on the worker that writes the run's files (task 0, or the 'chief' task)."""
    cfg = _tf_config()
    task = cfg.get("task") or {}
    if not task or _workers(cfg) <= 1:
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and "chief" not in cfg.get("cluster", {})


def _task_index() -> int:
    return int((_tf_config().get("task") or {}).get("index", 0))


def sync_batch_norm(model, on: bool = True) -> int:
    """Set `synchronized` on every BatchNormalization (the ones inside composite layers too): with
    several replicas, batch statistics over the global batch (what one device would compute) rather
    than over each replica's share. Returns how many were set."""
    n = 0
    for top in model.layers:
        for layer in top._flatten_layers():
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = on
                n += 1
    return n


# --- the run -------------------------------------------------------------------------------------

@dataclass
class TrainResult:
    """What `train` did: the trained model (last epoch), the per-epoch metrics, where the files are."""
    model: keras.Model
    history: list[dict]
    out: Path
    best_path: Path | None
    best_epoch: int | None
    class_names: list[str]
    images_per_second: float | None
    resumed_from: int | None = None
    skipped: list = field(default_factory=list)


def _set_labels(model, class_names):
    """The class names become the model's labels (exported artifacts carry them)."""
    from .models._common import ImageInput
    cfg = dict(model.pretrained_cfg) if getattr(model, "pretrained_cfg", None) is not None else None
    for layer in model.layers:
        if isinstance(layer, ImageInput) and layer.model_cfg is not None:
            layer.model_cfg = {**layer.model_cfg, "labels": list(class_names)}
            cfg = {**(cfg or layer.model_cfg), "labels": tuple(class_names)}
    if cfg is not None:
        model.pretrained_cfg = types.MappingProxyType(cfg)


def _inference_copy(model):
    """The trained layers as an uncompiled functional model (best.keras: no optimizer inside)."""
    copy = keras.Model(model.inputs, model.outputs, name=model.name)
    if getattr(model, "pretrained_cfg", None) is not None:
        copy.pretrained_cfg = model.pretrained_cfg
    return copy


def _atomic_write(path: Path, text: str):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_csv(path: Path, history: list[dict]):
    keys = ["epoch"] + sorted({k for row in history for k in row} - {"epoch"})
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for row in history:
            w.writerow({k: row.get(k, "") for k in keys})
    os.replace(tmp, path)


def plot_curves(history: list[dict], path: Path) -> str | None:
    """Loss and accuracy per epoch (train and val) to `path` (PNG); returns why not when matplotlib
    is missing (None when written)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): curves.png not written; metrics.csv has the numbers"
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            vals = [r.get(prefix + metric) for r in history]
            if any(v is not None for v in vals):
                ax.plot(epochs, [np.nan if v is None else v for v in vals], style, label=(prefix or "train_") + metric)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return None


class _RunCallback(keras.callbacks.Callback):
    """At each epoch end: the metrics row (with training images/second), best.keras when the
    monitored metric improved, the resume state (weights + optimizer + epoch), metrics.csv and
    curves.png. Only the chief writes the run's files; other workers keep their own resume state."""

    def __init__(self, run):
        super().__init__()
        self.run = run
        self._t0 = self._t_last = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._t_last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        run = self.run
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        if self._t0 is not None and self._t_last is not None and self._t_last > self._t0:
            row["train_images_per_s"] = run.steps * run.batch_size / (self._t_last - self._t0)
        row["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        run.history.append(row)
        value = row.get(run.monitor)
        improved = value is not None and (run.best is None or (value > run.best if run.mode == "max" else value < run.best))
        if improved:
            run.best, run.best_epoch = value, epoch + 1
            if run.chief:
                run.save_best(self.model)
        run.save_state(self.model, epoch + 1)
        if run.chief:
            _write_csv(run.out / "metrics.csv", run.history)
            why = plot_curves(run.history, run.out / "curves.png")
            if why and not run.plot_note:
                run.plot_note = why
                print(f"[zoo] note: {why}", file=sys.stderr)


class _Run:
    def __init__(self, out: Path, chief: bool, state_dir: Path, monitor: str, mode: str, steps: int, batch_size: int):
        self.out, self.chief, self.state_dir = out, chief, state_dir
        self.monitor, self.mode, self.steps, self.batch_size = monitor, mode, steps, batch_size
        self.history: list[dict] = []
        self.best = self.best_epoch = None
        self.plot_note = None
        self.settings: dict = {}

    def save_best(self, model):
        sync = _bn_sync_state(model)
        sync_batch_norm(model, False)
        try:
            path = self.out / BEST
            tmp = path.with_name(f".tmp.{BEST}")
            _inference_copy(model).save(tmp)
            os.replace(tmp, path)
        finally:
            _restore_bn_sync(model, sync)

    def save_state(self, model, epoch: int):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        w = self.state_dir / STATE_WEIGHTS
        tmp = w.with_name(f".tmp.{STATE_WEIGHTS}")
        model.save_weights(tmp)          # model and optimizer variables, the layers' RNG states
        os.replace(tmp, w)
        _atomic_write(self.state_dir / STATE_JSON, json.dumps(
            {"epoch": epoch, "best": self.best, "best_epoch": self.best_epoch, "history": self.history,
             "settings": self.settings}, indent=1))


def _bn_sync_state(model):
    return [(l, l.synchronized) for top in model.layers for l in top._flatten_layers()
            if isinstance(l, keras.layers.BatchNormalization)]


def _restore_bn_sync(model, state):
    for layer, on in state:
        layer.synchronized = on


def _build_state(model, strat, transform):
    """Build the optimizer, loss and metric variables now, inside the strategy's scope, from an
    all-zero batch. Keras 3.15's fit would otherwise build them from the first batch of the
    training iterator (under a strategy): it draws that batch and drops it (the run would not see
    the data order the seed decides), and it cannot reduce a MultiWorkerMirroredStrategy batch
    (ValueError on PerReplica). fit then runs inside the scope, where Keras finds the strategy."""
    h, w = transform.size
    c = int(model.inputs[0].shape[-1])
    with strat.scope():
        model._symbolic_build(data_batch=(np.zeros((2, h, w, c), np.float32), np.zeros((2,), np.int32)))
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model._distribute_strategy = None
    import tensorflow as tf
    if isinstance(strat, tf.distribute.MultiWorkerMirroredStrategy):
        _vector_logs(model)


def _vector_logs(model):
    """Keras 3.15 reduces each step's logs across MultiWorkerMirroredStrategy workers with
    strategy.reduce("MEAN", v, axis=0), which fails on the scalar logs of train_step/test_step
    (ValueError: Invalid reduction dimension 0): give them shape (1,), the mean across workers is
    then a scalar again."""
    import tensorflow as tf

    def wrap(step):
        def vector_step(data):
            return {k: tf.reshape(v, [1]) for k, v in step(data).items()}
        return vector_step

    model.train_step = wrap(model.train_step)
    model.test_step = wrap(model.test_step)


def _check_train_args(epochs, batch_size, lr, optimizer, precision, strategy, layer_decay, warmup_epochs,
                      weight_decay):
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise InvalidArgumentError(f"epochs must be an int >= 1, got {epochs!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidArgumentError(f"batch size must be an int >= 1, got {batch_size!r}")
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0):
        raise InvalidArgumentError(f"learning rate must be > 0, got {lr!r}")
    if optimizer not in OPTIMIZERS:
        raise InvalidArgumentError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    if precision not in PRECISIONS:
        raise InvalidArgumentError(f"mixed precision must be one of mixed_float16, mixed_bfloat16 (or float32), "
                                   f"got {precision!r}")
    if strategy not in STRATEGIES:
        raise InvalidArgumentError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if layer_decay is not None and not (isinstance(layer_decay, (int, float)) and 0 < layer_decay <= 1):
        raise InvalidArgumentError(f"layer decay must be in (0, 1], got {layer_decay!r}")
    if not (isinstance(warmup_epochs, (int, float)) and 0 <= warmup_epochs < epochs):
        raise InvalidArgumentError(f"warmup epochs must be in [0, epochs), got {warmup_epochs!r}")
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
        raise InvalidArgumentError(f"weight decay must be >= 0, got {weight_decay!r}")


def _check_out(out: Path, resume: bool, chief: bool):
    state = out / STATE_DIR / STATE_JSON
    if resume:
        return state.is_file()
    if chief and out.exists() and any(out.iterdir()):
        raise InvalidArgumentError(
            f"{out} already holds files" + (" of a run (resume/state.json)" if state.is_file() else "")
            + ": pass --resume to continue that run, or give another --out.")
    return False


def train(model_or_name, data_dir, *, out, epochs: int, batch_size: int = 32, lr: float | None = None,
          optimizer: str = "adamw", weight_decay: float = 0.05, freeze_until: str | None = None,
          layer_decay: float | None = None, img_size=None, pretrained=True, mixed_precision: str | None = None,
          strategy="auto", resume: bool = False, seed: int = 0, val_fraction: float = 0.2, augment=True,
          warmup_epochs: float = 0, drop_path_rate: float = 0.0, drop_rate: float = 0.0,
          jit_compile="auto", callbacks=(), verbose: int | str = "auto") -> TrainResult:
    """Fine-tune a zoo model on a class-per-subfolder image folder; what `zoo train` runs.

    model_or_name: an arch name (built with `pretrained`, num_classes = the folder's classes), or
        a zoo model whose classifier already has that many classes.
    out: the run folder: best.keras (the best validation accuracy; an inference model with its
        cfg and class names), metrics.csv, curves.png, summary.md, labels.txt and resume/ (weights,
        optimizer state and epoch, written at every epoch end).
    lr: peak learning rate (default 1e-3 x batch_size / 256 for AdamW, 0.1 x batch_size / 256
        for SGD), cosine decay to 0 after `warmup_epochs` of linear warm-up.
    freeze_until: freeze the groups up to and including this one ("stem", "stages.2", ...).
    layer_decay: layer-wise learning-rate decay factor per group (timm's), None for none.
    mixed_precision: "mixed_float16" / "mixed_bfloat16" (logits and loss stay float32).
    strategy: "auto" | "mirrored" | "multiworker" | "none" (see make_strategy), or a
        tf.distribute.Strategy. With several replicas BatchNorm statistics are synchronized.
    resume: continue the run in `out` from its last completed epoch (same result as not stopping).
    seed: the initialisation of the new head, the split, the data order and every augmentation.
    jit_compile: Keras' compile option ("auto": XLA where Keras chooses it).
    callbacks: more Keras callbacks for fit (after the run's own, which writes the files).
    """
    from . import create, datasets

    _check_train_args(epochs, batch_size, lr, optimizer, mixed_precision, strategy if isinstance(strategy, str)
                      else "auto", layer_decay, warmup_epochs, weight_decay)
    if not (isinstance(val_fraction, (int, float)) and 0.0 <= val_fraction < 1.0):
        raise InvalidArgumentError(f"val fraction must be in [0, 1), got {val_fraction!r}")
    strat = make_strategy(strategy) if isinstance(strategy, str) else strategy
    chief = is_chief(strat)
    out = Path(out).expanduser()
    has_state = _check_out(out, resume, chief)
    if chief:
        out.mkdir(parents=True, exist_ok=True)
    state_dir = out / STATE_DIR if chief else out / f"worker-{_task_index()}" / STATE_DIR
    state = json.loads((state_dir / STATE_JSON).read_text()) if resume and (state_dir / STATE_JSON).is_file() else None
    if resume and state is None and not has_state:
        raise InvalidArgumentError(f"--resume: {out} holds no run to resume (no {STATE_DIR}/{STATE_JSON}); "
                                   f"drop --resume to start one.")
    start_epoch = int(state["epoch"]) if state else 0
    if state and start_epoch >= epochs:
        raise InvalidArgumentError(f"The run in {out} already completed {start_epoch} epochs (--epochs {epochs}): "
                                   f"pass a larger --epochs to train further.")

    index = datasets.scan_folder(data_dir)
    n_cls = len(index.class_names)
    previous_policy = keras.config.dtype_policy()
    if mixed_precision:
        keras.mixed_precision.set_global_policy(mixed_precision)
    try:
        keras.utils.set_random_seed(seed)
        with strat.scope():
            if isinstance(model_or_name, str):
                model = create(model_or_name, pretrained=pretrained, num_classes=n_cls, img_size=img_size,
                               drop_rate=drop_rate, drop_path_rate=drop_path_rate)
                name = model_or_name
            else:
                model = model_or_name
                name = model.name
            transform, model_classes = datasets.model_transform(model)
            if model_classes != n_cls:
                raise InvalidArgumentError(
                    f"The model's classifier has {model_classes} classes but {index.root} has {n_cls} class folders: "
                    f"create it with num_classes={n_cls}.")
            _set_labels(model, index.class_names)
            frozen = freeze(model, until=freeze_until) if freeze_until else []
            train_ds = datasets.image_folder(index.root, model, split="train" if val_fraction else None,
                                             val_fraction=val_fraction or 0.5, augment=augment, seed=seed,
                                             batch_size=batch_size, start_epoch=start_epoch, index=index,
                                             training=True)
            val_ds = (datasets.image_folder(index.root, model, split="val", val_fraction=val_fraction, seed=seed,
                                            batch_size=batch_size, index=index) if val_fraction else None)
            steps = train_ds.steps_per_epoch
            peak = lr if lr is not None else (1e-3 if optimizer == "adamw" else 0.1) * batch_size / 256
            warm = int(round(warmup_epochs * steps))
            schedule = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=peak if not warm else 0.0, decay_steps=max(1, epochs * steps - warm),
                alpha=0.0, warmup_target=peak if warm else None, warmup_steps=warm)
            opt = (keras.optimizers.AdamW(schedule, weight_decay=weight_decay) if optimizer == "adamw"
                   else keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True))
            if optimizer == "adamw":
                # timm: no weight decay on norms and biases
                opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
            if layer_decay is not None:
                opt = with_layer_decay(opt, model, layer_decay)
            replicas = strat.num_replicas_in_sync
            if replicas > 1:
                sync_batch_norm(model, True)
            model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"], jit_compile=jit_compile)
            _build_state(model, strat, transform)
            if state:
                model.load_weights(state_dir / STATE_WEIGHTS)
    finally:
        if mixed_precision:
            keras.mixed_precision.set_global_policy(previous_policy)

    monitor, mode = ("val_accuracy", "max") if val_ds is not None else ("loss", "min")
    run = _Run(out, chief, state_dir, monitor, mode, steps, batch_size)
    run.settings = {
        "model": name, "arch": dict(model.pretrained_cfg)["arch"], "weights": dict(model.pretrained_cfg).get("weights"),
        "data": str(index.root), "classes": index.class_names, "train_images": train_ds.num_images,
        "val_images": val_ds.num_images if val_ds is not None else 0, "skipped": len(index.skipped),
        "epochs": epochs, "batch_size": batch_size, "steps_per_epoch": steps, "optimizer": optimizer, "lr": peak,
        "weight_decay": weight_decay, "warmup_epochs": warmup_epochs, "schedule": "cosine",
        "freeze_until": freeze_until, "frozen_groups": frozen, "layer_decay": layer_decay,
        "mixed_precision": mixed_precision or "float32", "strategy": type(strat).__name__, "replicas": replicas,
        "img_size": list(transform.size), "augment": augment, "seed": seed, "val_fraction": val_fraction,
        "drop_path_rate": drop_path_rate, "drop_rate": drop_rate,
    }
    if state:
        run.history = list(state["history"])
        run.best, run.best_epoch = state.get("best"), state.get("best_epoch")
    if chief:
        _atomic_write(out / "labels.txt", "\n".join(index.class_names) + "\n")
    verbose = verbose if chief else 0
    with strat.scope():
        model.fit(train_ds, epochs=epochs, initial_epoch=start_epoch, steps_per_epoch=steps, validation_data=val_ds,
                  callbacks=[_RunCallback(run), *callbacks], verbose=verbose, shuffle=False)
    if replicas > 1:
        sync_batch_norm(model, False)
    speeds = [r["train_images_per_s"] for r in run.history[1:] if "train_images_per_s" in r] or \
             [r["train_images_per_s"] for r in run.history if "train_images_per_s" in r]
    ips = float(np.median(speeds)) if speeds else None
    result = TrainResult(model=model, history=run.history, out=out,
                         best_path=(out / BEST) if chief and run.best_epoch else None, best_epoch=run.best_epoch,
                         class_names=index.class_names, images_per_second=ips,
                         resumed_from=start_epoch if state else None, skipped=index.skipped)
    if chief:
        _atomic_write(out / "summary.md", summary_card(result, run))
    return result


def summary_card(result: TrainResult, run: _Run) -> str:
    """A model-card-style summary of the run (summary.md)."""
    s = run.settings
    last = result.history[-1] if result.history else {}
    best = next((r for r in result.history if r["epoch"] == result.best_epoch), {})

    def f(v, fmt="{:.4f}"):
        return "-" if v is None else fmt.format(v)

    weights = s.get("weights") or "random initialisation"
    lines = [
        f"# {s['arch']} fine-tuned on {Path(s['data']).name}", "",
        f"Fine-tuned with `zoo train` (attention-zoo) from **{s['model']}** ({weights}).", "",
        "## Data", "",
        f"- folder: `{s['data']}`; {len(s['classes'])} classes: {', '.join(s['classes'][:20])}"
        + (" ..." if len(s["classes"]) > 20 else ""),
        f"- {s['train_images']} training images, {s['val_images']} validation images "
        f"(stratified split, fraction {s['val_fraction']}, seed {s['seed']}); {s['skipped']} unreadable files skipped",
        f"- input {s['img_size'][0]}x{s['img_size'][1]}, the model's own normalization; augmentation: {s['augment']}",
        "", "## Training", "",
        f"- {s['epochs']} epochs x {s['steps_per_epoch']} steps, batch {s['batch_size']}, {s['optimizer']} "
        f"(peak lr {s['lr']:.3g}, {s['schedule']}, warm-up {s['warmup_epochs']} epochs, weight decay "
        f"{s['weight_decay']}), layer decay {s['layer_decay'] or 'none'}",
        f"- frozen groups: {', '.join(s['frozen_groups']) or 'none'}; precision {s['mixed_precision']}; "
        f"{s['strategy']} with {s['replicas']} replica(s)",
        f"- training throughput: {f(result.images_per_second, '{:.1f}')} images/s (median over epochs)"
        + (f"; resumed at epoch {result.resumed_from + 1}" if result.resumed_from is not None else ""),
        "", "## Results", "",
        f"- best: epoch {result.best_epoch}, {run.monitor} {f(run.best)}"
        + (f", val_loss {f(best.get('val_loss'))}" if best.get("val_loss") is not None else ""),
        f"- last: epoch {last.get('epoch')}, loss {f(last.get('loss'))}, accuracy {f(last.get('accuracy'))}"
        + (f", val_accuracy {f(last.get('val_accuracy'))}" if "val_accuracy" in last else ""),
        "", "| epoch | loss | accuracy | val_loss | val_accuracy | images/s |", "|---|---|---|---|---|---|",
    ]
    for r in result.history:
        lines.append(f"| {r['epoch']} | {f(r.get('loss'))} | {f(r.get('accuracy'))} | {f(r.get('val_loss'))} | "
                     f"{f(r.get('val_accuracy'))} | {f(r.get('train_images_per_s'), '{:.1f}')} |")
    lines += ["", "Accuracy here is measured on the validation split of this folder, by this run.", "",
              "## Files", "",
              f"- `{BEST}`: the best epoch's model (inference, no optimizer), with its preprocessing cfg and class names",
              "- `metrics.csv`, `curves.png`: per-epoch loss/accuracy; `labels.txt`: class names in output order",
              f"- `{STATE_DIR}/`: the last epoch's weights, optimizer state and epoch (`zoo train ... --resume`)",
              "", "Export: `zoo export " + str(result.out / BEST) + " --format tflite --verify`", ""]
    return "\n".join(lines)


def load(path):
    """A `.keras` file written by `zoo train` (or any zoo model saved with model.save)."""
    from . import models  # noqa: F401  (registers every zoo layer)
    from .models._common import deep_graphs
    p = Path(path).expanduser()
    if not p.is_file():
        raise InvalidArgumentError(f"{p} does not exist (a .keras file written by zoo train or model.save).")
    with deep_graphs():
        try:
            return keras.models.load_model(p, compile=False)
        except Exception as e:  # noqa: BLE001 - Keras raises many kinds for an unreadable file
            raise InvalidArgumentError(f"Cannot load {p} as a Keras model: {type(e).__name__}: {e}") from None

