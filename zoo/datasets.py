"""tf.data input pipelines for training and evaluating a zoo model on your own images.

    train = zoo.data.image_folder("photos/", model, split="train", seed=0)
    val = zoo.data.image_folder("photos/", model, split="val", seed=0)
    model.fit(train, epochs=5, steps_per_epoch=train.steps_per_epoch, validation_data=val)

`image_folder` reads a folder with one subfolder per class (the class names are the sorted
subfolder names). Every image goes through the model's own preprocessing cfg
(`zoo.pretrained_cfg(model)`, or the cfg of a model name): size, crop_pct, interpolation, mean,
std. Evaluation resizes the shorter side to size / crop_pct and center-crops, as timm's eval
transform does (with TensorFlow's antialiased resize in place of PIL's, a few 1e-2 apart in
normalized units); training takes timm's random resized crop (scale 0.08-1, ratio 3/4-4/3) and a
horizontal flip, plus RandAugment-style ops with augment="randaugment".

Determinism: the training stream is a function of (seed, epoch) only. Epoch e visits the files
in a permutation drawn from (seed, e), and each image's crop, flip and augment ops are stateless
random ops seeded by (seed, e, position): the same on every run, with any number of decode
threads, and an interrupted run resumed at epoch k (`start_epoch=k`) sees exactly the images the
uninterrupted run saw. The training stream repeats without end, so `fit` needs
`steps_per_epoch=ds.steps_per_epoch` (full batches; the remainder of each epoch's permutation
is dropped, as timm's loader does). Validation and `split=None` streams are finite and ordered.

Unreadable files (not an image, truncated headers, zero bytes, formats TensorFlow cannot decode)
are found up front with TensorFlow's own decoder (in parallel), skipped and counted:
`ds.skipped` lists them with the reason; never fatal. An empty folder, a single class, or a
class count that disagrees with the model's classifier is a clear InvalidArgumentError.

`from_dataset(ds, model_or_name, training=...)` applies the same transforms to any tf.data
Dataset of (uint8 HxWx3 image, int label) pairs.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InvalidArgumentError

# what tf.io.decode_image reads (WebP since TF 2.16)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
SPLITS = (None, "train", "val")
AUGMENTS = (False, True, "randaugment")
RRC_SCALE = (0.08, 1.0)         # timm / torchvision RandomResizedCrop defaults
RRC_RATIO = (3 / 4, 4 / 3)
RANDAUGMENT_OPS = 2             # timm "rand-m9-n2": two ops per image at magnitude 9 of 10
RANDAUGMENT_MAGNITUDE = 9


@dataclass(frozen=True)
class Transform:
    """The preprocessing of one model: what `zoo.preprocess` does, as numbers."""
    size: tuple[int, int]
    crop_pct: float
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def method(self) -> str:
        return {"bicubic": "bicubic", "bilinear": "bilinear", "nearest": "nearest", "lanczos": "lanczos3",
                "box": "area", "hamming": "bilinear"}[self.interpolation]


def model_transform(model_or_name, img_size=None) -> tuple[Transform, int | None]:
    """(Transform, number of classes of the model's classifier or None) for a zoo model (its
    pretrained_cfg, also after a .keras reload) or a model name."""
    from . import data
    if isinstance(model_or_name, str):
        cfg = data.eval_cfg(model_or_name, img_size)
        return Transform(cfg["size"], cfg["crop_pct"], cfg["interpolation"], cfg["mean"], cfg["std"]), None
    from .factory import pretrained_cfg
    cfg = pretrained_cfg(model_or_name)
    if cfg is None:
        raise InvalidArgumentError(
            "image_folder takes a zoo model (zoo.create(...) or a .keras file of one) or a model name: this "
            "model carries no preprocessing cfg. Pass the name of the arch it was built from.")
    h, w = cfg["input_size"][:2]
    if img_size is not None:
        h, w = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    model_hw = tuple(model_or_name.inputs[0].shape[1:3])
    if None not in model_hw and tuple(model_hw) != (h, w):
        raise InvalidArgumentError(
            f"img_size {h}x{w} does not match the model's input {model_hw[0]}x{model_hw[1]}: create the model "
            f"with img_size={h} (zoo.create(..., img_size={h})).")
    classes = cfg.get("num_classes")
    return Transform((int(h), int(w)), float(cfg["crop_pct"]), cfg["interpolation"], tuple(cfg["mean"]),
                     tuple(cfg["std"])), (int(classes) if classes else None)


# --- the folder --------------------------------------------------------------------------------

@dataclass
class FolderIndex:
    """The readable images of a class-per-subfolder tree and what was skipped."""
    root: Path
    class_names: list[str]
    files: list[str]
    labels: list[int]
    skipped: list[tuple[str, str]]     # (path, reason)


def _tf():
    import tensorflow as tf
    return tf


def _decodable(paths: list[str]) -> list[str | None]:
    """None for each file TensorFlow decodes, else the reason it cannot (in parallel, same decoder
    as the pipeline)."""
    tf = _tf()
    if not paths:
        return []
    ok = np.zeros(len(paths), bool)

    def probe(i, p):
        img = tf.io.decode_image(tf.io.read_file(p), channels=3, expand_animations=False)
        return i, tf.reduce_prod(tf.shape(img)[:2]) > 0

    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))
    ds = ds.map(probe, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    for i, nonempty in ds.as_numpy_iterator():
        ok[i] = bool(nonempty)
    return [None if good else "not decodable as an image (corrupt, truncated or another format)" for good in ok]


def scan_folder(path, *, check_images: bool = True) -> FolderIndex:
    """Index `path/<class>/<image>`: classes sorted by name, files sorted within each class."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InvalidArgumentError(f"Data folder {root} does not exist (or is not a folder): give a folder with one "
                                   f"subfolder of images per class.")
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as e:
        raise InvalidArgumentError(f"Cannot read data folder {root}: {e}") from None
    class_dirs = [e for e in entries if e.is_dir() and not e.name.startswith(".")]
    loose = [e.name for e in entries if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES)]
    if not class_dirs:
        hint = (f" It holds {len(loose)} images directly: move them into one subfolder per class." if loose else "")
        raise InvalidArgumentError(f"Data folder {root} has no class subfolders (one folder of images per class "
                                   f"expected).{hint}")
    files, labels, skipped, names = [], [], [], []
    for d in class_dirs:
        found = []
        for dirpath, dirnames, filenames in os.walk(d.path, followlinks=True):
            dirnames[:] = sorted(x for x in dirnames if not x.startswith("."))
            for f in sorted(filenames):
                p = os.path.join(dirpath, f)
                if f.startswith("."):
                    continue
                if not f.lower().endswith(IMAGE_SUFFIXES):
                    skipped.append((p, f"not an image file name (expected {', '.join(IMAGE_SUFFIXES)})"))
                elif not os.access(p, os.R_OK):
                    skipped.append((p, "not readable (permissions)"))
                else:
                    found.append(p)
        names.append(d.name)
        files.extend(found)
        labels.extend([len(names) - 1] * len(found))
    if check_images:
        reasons = _decodable(files)
        keep = [r is None for r in reasons]
        skipped.extend((f, r) for f, r in zip(files, reasons) if r is not None)
        files = [f for f, k in zip(files, keep) if k]
        labels = [lab for lab, k in zip(labels, keep) if k]
    counts = np.bincount(labels, minlength=len(names)) if labels else np.zeros(len(names), int)
    if not files:
        raise InvalidArgumentError(
            f"Data folder {root} has no readable images in its {len(names)} class folder(s)"
            + (f" ({len(skipped)} files skipped, e.g. {skipped[0][0]}: {skipped[0][1]})" if skipped else "") + ".")
    empty = [n for n, c in zip(names, counts) if c == 0]
    if empty:
        raise InvalidArgumentError(
            f"Class folder(s) {', '.join(empty[:8])} of {root} hold no readable images: add images or remove the "
            f"folder(s).")
    if len(names) < 2:
        raise InvalidArgumentError(
            f"Data folder {root} has a single class ({names[0]!r}): classification needs at least two class "
            f"subfolders.")
    return FolderIndex(root, names, files, labels, skipped)


def split_indices(labels, split, val_fraction: float, seed: int) -> np.ndarray:
    """Indices of a stratified split: per class, a permutation from (seed, class) puts
    round(n * val_fraction) images (at least 1 when n >= 2) in 'val', the rest in 'train'."""
    if split is None:
        return np.arange(len(labels))
    labels = np.asarray(labels)
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        perm = idx[np.random.default_rng([seed, 1, int(c)]).permutation(len(idx))]
        n_val = min(len(idx) - 1, max(1, round(len(idx) * val_fraction))) if len(idx) >= 2 else 0
        out.append(perm[:n_val] if split == "val" else perm[n_val:])
    return np.sort(np.concatenate(out))


# --- transforms (TensorFlow) -----------------------------------------------------------------

def _eval_image(img, t: Transform):
    """timm's eval transform: shorter side to size / crop_pct (aspect kept), center crop."""
    tf = _tf()
    th, tw = t.size
    h = tf.cast(tf.shape(img)[0], tf.float32)
    w = tf.cast(tf.shape(img)[1], tf.float32)
    sh, sw = math.floor(th / t.crop_pct), math.floor(tw / t.crop_pct)
    if sh == sw:
        s = float(sh)
        nh = tf.where(w <= h, tf.floor(s * h / w), s)
        nw = tf.where(w <= h, s, tf.floor(s * w / h))
    else:
        ratio = tf.maximum(sh / h, sw / w)
        nh, nw = tf.round(h * ratio), tf.round(w * ratio)
    nh, nw = tf.cast(nh, tf.int32), tf.cast(nw, tf.int32)
    x = tf.image.resize(tf.cast(img, tf.float32), tf.stack([nh, nw]), method=t.method, antialias=True)
    x = tf.image.resize_with_crop_or_pad(x, tf.maximum(nh, th), tf.maximum(nw, tw))   # small images: zero pad
    top = tf.cast(tf.round(tf.cast(tf.shape(x)[0] - th, tf.float32) / 2.0), tf.int32)
    left = tf.cast(tf.round(tf.cast(tf.shape(x)[1] - tw, tf.float32) / 2.0), tf.int32)
    return tf.clip_by_value(tf.round(x[top:top + th, left:left + tw]), 0.0, 255.0)


def _train_image(img, t: Transform, seed, augment):
    """Random resized crop (scale 0.08-1, ratio 3/4-4/3), horizontal flip, optional RandAugment;
    every draw a stateless op of `seed` (shape [2])."""
    tf = _tf()
    s_box, s_flip, s_ra = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(img), bounding_boxes=tf.zeros([1, 0, 4]), seed=s_box, area_range=RRC_SCALE,
        aspect_ratio_range=RRC_RATIO, max_attempts=10, use_image_if_no_bounding_boxes=True)
    crop = tf.slice(img, begin, size)
    x = tf.image.resize(tf.cast(crop, tf.float32), t.size, method=t.method, antialias=True)
    x = tf.image.stateless_random_flip_left_right(x, s_flip)
    x = tf.clip_by_value(tf.round(x), 0.0, 255.0)
    if augment == "randaugment":
        x = randaugment(x, s_ra)
    return x


def _normalize(x, t: Transform):
    tf = _tf()
    mean = tf.constant(np.asarray(t.mean, np.float32) * 255.0)
    std = tf.constant(np.asarray(t.std, np.float32) * 255.0)
    # a static H x W (crops slice by tensors): models whose layers need the size at trace time take it
    return tf.ensure_shape((x - mean) / std, [*t.size, 3])


# RandAugment (Cubuk et al. 2020, timm's rand-m9-n2 op set without equalize/sharpness): two ops
# per image drawn uniformly, each applied at magnitude RANDAUGMENT_MAGNITUDE / 10 with a random sign.
def _affine(x, transform):
    tf = _tf()
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=x[None], transforms=tf.cast(transform[None], tf.float32), output_shape=tf.shape(x)[:2],
        interpolation="BILINEAR", fill_mode="CONSTANT", fill_value=128.0)
    return out[0]


def _blend(a, b, factor):
    tf = _tf()
    return tf.clip_by_value(b + factor * (a - b), 0.0, 255.0)


def randaugment(x, seed, magnitude: int = RANDAUGMENT_MAGNITUDE, num_ops: int = RANDAUGMENT_OPS):
    """RandAugment on one HxWx3 float image in [0, 255] with stateless draws from `seed`."""
    tf = _tf()
    m = magnitude / 10.0
    h = tf.cast(tf.shape(x)[0], tf.float32)
    w = tf.cast(tf.shape(x)[1], tf.float32)
    gray = tf.image.rgb_to_grayscale

    def rotate(im, sign):
        a = sign * m * 30.0 * math.pi / 180.0
        c, s = tf.cos(a), tf.sin(a)
        cx, cy = (w - 1) / 2, (h - 1) / 2
        return _affine(im, tf.stack([c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, 0.0, 0.0]))

    ops = [
        lambda im, s: im,                                                            # identity
        lambda im, s: _autocontrast(im),
        rotate,
        lambda im, s: tf.where(im < 256.0 - m * 256.0, im, 255.0 - im),              # solarize
        lambda im, s: _blend(im, tf.tile(gray(im), [1, 1, 3]), 1.0 + s * m * 0.9),   # color
        lambda im, s: tf.floor(im / 2.0 ** int(4 * m)) * 2.0 ** int(4 * m),          # posterize (8 - 4m bits)
        lambda im, s: _blend(im, tf.reduce_mean(gray(im)), 1.0 + s * m * 0.9),       # contrast
        lambda im, s: _blend(im, tf.zeros_like(im), 1.0 + s * m * 0.9),              # brightness
        lambda im, s: _affine(im, tf.stack([1.0, s * m * 0.3, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])),   # shear x
        lambda im, s: _affine(im, tf.stack([1.0, 0.0, 0.0, s * m * 0.3, 1.0, 0.0, 0.0, 0.0])),   # shear y
        lambda im, s: _affine(im, tf.stack([1.0, 0.0, s * m * 0.45 * w, 0.0, 1.0, 0.0, 0.0, 0.0])),  # translate x
        lambda im, s: _affine(im, tf.stack([1.0, 0.0, 0.0, 0.0, 1.0, s * m * 0.45 * h, 0.0, 0.0])),  # translate y
    ]
    for k, sk in enumerate(tf.unstack(tf.random.experimental.stateless_split(seed, num_ops))):
        s_op, s_sign = tf.unstack(tf.random.experimental.stateless_split(sk, 2))
        which = tf.random.stateless_uniform([], s_op, 0, len(ops), dtype=tf.int32)
        sign = tf.where(tf.random.stateless_uniform([], s_sign) < 0.5, -1.0, 1.0)
        x = tf.switch_case(which, [lambda f=f, x=x, sign=sign: f(x, sign) for f in ops])
        x = tf.ensure_shape(tf.clip_by_value(x, 0.0, 255.0), [None, None, 3])
    return x


def _autocontrast(im):
    tf = _tf()
    lo = tf.reduce_min(im, axis=[0, 1], keepdims=True)
    hi = tf.reduce_max(im, axis=[0, 1], keepdims=True)
    scale = tf.where(hi > lo, 255.0 / tf.maximum(hi - lo, 1e-3), 1.0)
    return tf.where(hi > lo, (im - lo) * scale, im)


# --- datasets ----------------------------------------------------------------------------------

def _options(ds):
    tf = _tf()
    opts = tf.data.Options()
    opts.deterministic = True
    # tf.distribute: every worker builds the same stream and keeps its share of each global batch
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(opts)


def _check_common(batch_size, seed, augment):
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InvalidArgumentError(f"seed must be an int >= 0, got {seed!r}")
    if augment not in AUGMENTS:
        raise InvalidArgumentError(f"augment must be one of {AUGMENTS} (None: True for the train split), "
                                   f"got {augment!r}")


def image_folder(path, model_or_name, *, split: str | None = None, val_fraction: float = 0.2, augment=None,
                 seed: int = 0, batch_size: int = 32, img_size=None, start_epoch: int = 0,
                 check_images: bool = True, training: bool | None = None, index: FolderIndex | None = None):
    """A tf.data.Dataset of (NHWC float32 batch normalized for the model, int32 labels) from a
    folder with one subfolder of images per class.

    model_or_name: a zoo model (its pretrained_cfg decides size and normalization; its classifier
        must have as many classes as the folder) or a model name (its default cfg).
    split: None (every image, in order), "train" or "val" (a stratified split, `val_fraction` of
        each class to "val", the same for the same seed). "train" is the training stream: shuffled
        per epoch, augmented, repeated without end (`fit(..., steps_per_epoch=ds.steps_per_epoch)`);
        the others are finite, ordered and not augmented.
    augment: None (True for "train"), True (random resized crop + flip), "randaugment" (and two
        RandAugment ops per image), False (the eval transform).
    seed: decides the split, the order of each epoch and every augmentation draw.
    start_epoch: the epoch the training stream starts at (resuming a run at that epoch).
    check_images: decode every file once up front and skip the unreadable ones (`ds.skipped`).
    training: the training stream (None: split == "train"); True with split=None trains on all.
    index: a `scan_folder(path)` result to reuse (the folder is then not scanned again).

    The dataset carries: class_names, num_classes, num_images, skipped [(path, reason)],
    steps_per_epoch (batches per epoch; the training stream drops each epoch's last partial
    batch), files and labels (of this split, in folder order), transform (the Transform).
    """
    tf = _tf()
    if split == "validation":
        split = "val"
    if split not in SPLITS:
        raise InvalidArgumentError(f"split must be None, 'train' or 'val', got {split!r}")
    if not (isinstance(val_fraction, (int, float)) and 0.0 < val_fraction < 1.0):
        raise InvalidArgumentError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if training is None:
        training = split == "train"
    if augment is None:
        augment = bool(training)
    _check_common(batch_size, seed, augment)
    if not isinstance(start_epoch, int) or start_epoch < 0:
        raise InvalidArgumentError(f"start_epoch must be an int >= 0, got {start_epoch!r}")
    t, model_classes = model_transform(model_or_name, img_size)
    index = index if index is not None else scan_folder(path, check_images=check_images)
    n_cls = len(index.class_names)
    if model_classes is not None and model_classes != n_cls:
        raise InvalidArgumentError(
            f"The model's classifier has {model_classes} classes but {index.root} has {n_cls} class folders "
            f"({', '.join(index.class_names[:6])}{', ...' if n_cls > 6 else ''}): create the model with "
            f"num_classes={n_cls} (zoo.create(name, pretrained=..., num_classes={n_cls})).")
    idx = split_indices(index.labels, split, val_fraction, seed)
    if len(idx) == 0:
        raise InvalidArgumentError(f"The {split!r} split of {index.root} is empty: add images or change val_fraction.")
    files = [index.files[i] for i in idx]
    labels = np.asarray([index.labels[i] for i in idx], np.int32)
    if training:
        if len(files) < batch_size:
            raise InvalidArgumentError(
                f"{index.root} has {len(files)} training images ({split or 'all'}), fewer than one batch of "
                f"{batch_size}: "
                f"lower the batch size.")
        ds = _epoch_stream(files, labels, t, seed, augment, batch_size, start_epoch)
        steps = len(files) // batch_size
    else:
        ds = _eval_stream(tf.data.Dataset.from_tensor_slices((files, labels)), t, batch_size, augment, seed,
                          decode=True)
        steps = math.ceil(len(files) / batch_size)
    ds = _options(ds)
    ds.class_names, ds.num_classes, ds.num_images = list(index.class_names), n_cls, len(files)
    ds.skipped, ds.steps_per_epoch, ds.transform = list(index.skipped), steps, t
    ds.files, ds.labels, ds.batch_size, ds.seed = files, labels.tolist(), batch_size, seed
    return ds


def _decode(path):
    tf = _tf()
    img = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return tf.ensure_shape(img, [None, None, 3])


def _epoch_stream(files, labels, t: Transform, seed, augment, batch_size, start_epoch):
    """Epoch e >= start_epoch: the files in the permutation of (seed, e), each image augmented by
    stateless ops of (seed, e, position); full batches only; endless."""
    tf = _tf()
    n = len(files)
    files_t = tf.constant(files)
    labels_t = tf.constant(labels)
    per_epoch = (n // batch_size) * batch_size

    def epoch(e):
        perm = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), e]))[:per_epoch]
        pos = tf.range(per_epoch, dtype=tf.int64)
        return tf.data.Dataset.from_tensor_slices((perm, pos, tf.fill([per_epoch], e)))

    def load(i, pos, e):
        img = _decode(files_t[i])
        elem_seed = tf.stack([tf.constant(seed, tf.int64) + 1, e * (1 << 32) + pos])
        x = _train_image(img, t, elem_seed, augment) if augment else _eval_image(img, t)
        return _normalize(x, t), labels_t[i]

    ds = tf.data.Dataset.counter(start_epoch).flat_map(epoch)
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _eval_stream(ds, t: Transform, batch_size, augment, seed, *, decode: bool, batch: bool = True):
    tf = _tf()

    def load(i, item):
        src, label = item
        img = _decode(src) if decode else _as_image(src)
        if augment:
            x = _train_image(img, t, tf.stack([tf.constant(seed, tf.int64) + 1, i]), augment)
        else:
            x = _eval_image(img, t)
        return _normalize(x, t), tf.cast(label, tf.int32)

    ds = ds.enumerate().map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE) if batch else ds


def _as_image(img):
    tf = _tf()
    img = tf.convert_to_tensor(img)
    if img.dtype != tf.uint8:
        raise InvalidArgumentError(f"from_dataset takes uint8 images (0-255); the dataset gives {img.dtype.name}.")
    if img.shape.rank == 2:
        img = tf.stack([img] * 3, axis=-1)
    if img.shape.rank != 3:
        raise InvalidArgumentError(f"from_dataset takes HxWx3 uint8 images; the dataset gives shape {img.shape}.")
    if img.shape[-1] == 1:
        img = tf.image.grayscale_to_rgb(img)
    elif img.shape[-1] == 4:
        img = img[..., :3]
    return tf.ensure_shape(img, [None, None, 3])


def from_dataset(ds, model_or_name, *, training: bool = False, augment=None, batch_size: int = 32, seed: int = 0,
                 img_size=None, shuffle_buffer: int = 1024):
    """Any tf.data.Dataset of (uint8 HxWx3 image, int label) -> batches the model takes.

    training=True: shuffled (a `shuffle_buffer`-element buffer seeded by `seed`, reshuffled each
    pass), augmented (augment=None means True), full batches, and repeated without end: pass
    `steps_per_epoch` to fit. training=False: in order, the eval transform, finite. The
    augmentation draws are stateless ops of (seed, element position in the stream).
    """
    tf = _tf()
    if not isinstance(ds, tf.data.Dataset):
        raise InvalidArgumentError(f"from_dataset takes a tf.data.Dataset, got {type(ds).__name__}")
    if augment is None:
        augment = bool(training)
    _check_common(batch_size, seed, augment)
    spec = ds.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise InvalidArgumentError(f"from_dataset takes a dataset of (image, label) pairs; its elements are {spec}")
    image_spec = spec[0]
    if getattr(image_spec, "dtype", None) != tf.uint8:
        raise InvalidArgumentError(f"from_dataset takes uint8 images (0-255); the dataset gives "
                                   f"{getattr(image_spec.dtype, 'name', image_spec)}.")
    if image_spec.shape.rank not in (None, 2, 3) or (image_spec.shape.rank == 3 and image_spec.shape[-1] not in
                                                       (None, 1, 3, 4)):
        raise InvalidArgumentError(f"from_dataset takes HxWx3 uint8 images; the dataset gives shape {image_spec.shape}.")
    t, _ = model_transform(model_or_name, img_size)
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
        out = _eval_stream(ds, t, batch_size, augment, seed, decode=False, batch=False)
        out = out.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    else:
        out = _eval_stream(ds, t, batch_size, augment, seed, decode=False)
    out = _options(out)
    out.transform = t
    return out
