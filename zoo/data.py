"""Preprocessing (timm's eval transform, exactly) and ImageNet-1k labels."""
from __future__ import annotations

import functools
import math
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import InvalidArgumentError

_PIL_FILTERS = {"bilinear": 2, "bicubic": 3, "nearest": 0, "lanczos": 1, "box": 4, "hamming": 5}


def eval_cfg(name: str, img_size=None) -> dict:
    """The preprocessing a model expects: size, crop_pct, interpolation, mean, std."""
    from . import registry

    spec, tag = registry.resolve(name)
    cfg = spec.cfg(tag)
    h, w = cfg["input_size"][:2]
    if img_size is not None:
        h, w = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    return {"size": (int(h), int(w)), "crop_pct": float(cfg["crop_pct"]), "interpolation": cfg["interpolation"],
            "mean": tuple(cfg["mean"]), "std": tuple(cfg["std"])}


def _to_pil(image):
    from PIL import Image

    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as im:
                return im.convert("RGB")
        except (OSError, ValueError) as e:
            raise InvalidArgumentError(f"Cannot read image {image}: {e}") from None
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise InvalidArgumentError(
            f"preprocess takes uint8 images (0-255); got dtype {a.dtype}. "
            f"Convert with (x * 255).round().astype('uint8') if yours are floats in [0, 1].")
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)  # grayscale -> RGB, as PIL's convert("RGB") does
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise InvalidArgumentError(
            f"preprocess takes HxWx3 (RGB) images; got an array of shape {a.shape}. "
            f"Channels-first images need a.transpose(1, 2, 0).")
    return Image.fromarray(a[..., :3])


def _resize_crop(im, size, crop_pct, interpolation):
    """timm transforms_imagenet_eval with crop_mode='center' (torchvision Resize + CenterCrop on PIL)."""
    th, tw = size
    scale = (math.floor(th / crop_pct), math.floor(tw / crop_pct))
    w, h = im.size
    resample = _PIL_FILTERS[interpolation]
    if scale[0] == scale[1]:   # shorter side to scale, aspect kept (torchvision Resize(int))
        s = scale[0]
        if w <= h:
            nw, nh = s, int(s * h / w)
        else:
            nw, nh = int(s * w / h), s
    else:                      # timm ResizeKeepRatio: the side that needs the larger ratio decides
        ratio = max(scale[0] / h, scale[1] / w)
        nh, nw = round(h * ratio), round(w * ratio)
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), resample=resample)
    if nw < tw or nh < th:  # torchvision CenterCrop pads small images with zeros
        from PIL import Image
        canvas = Image.new("RGB", (max(nw, tw), max(nh, th)))
        canvas.paste(im, ((max(nw, tw) - nw) // 2, (max(nh, th) - nh) // 2))
        im, (nw, nh) = canvas, canvas.size
    top = int(round((nh - th) / 2.0))
    left = int(round((nw - tw) / 2.0))
    return im.crop((left, top, left + tw, top + th))


def preprocess(images, name: str, *, img_size=None) -> np.ndarray:
    """Images -> the NHWC float32 batch the model expects (resize, center crop, normalize).

    images: one image or a list: HxWx3 uint8 arrays of any size, a NxHxWx3 uint8 array,
    PIL images or file paths. The steps and their parameters are the model's cfg
    (`zoo.model_info(name)`): shorter side to size/crop_pct with its interpolation, center
    crop to size, (x/255 - mean) / std - timm's eval transform, value for value.
    """
    return transform(images, **eval_cfg(name, img_size))


def resize_crop(images, *, size, crop_pct, interpolation) -> np.ndarray:
    """timm's eval resize and center crop of images of any size -> (N, H, W, 3) uint8 pixels
    (size: (height, width)); `transform` normalizes them, export's verification photos use them."""
    if interpolation not in _PIL_FILTERS:
        raise InvalidArgumentError(f"unsupported interpolation {interpolation!r}; one of {sorted(_PIL_FILTERS)}")
    if isinstance(size, int):
        size = (size, size)
    if isinstance(images, np.ndarray) and images.ndim == 4:
        batch = list(images)
    elif isinstance(images, (list, tuple)):
        batch = list(images)
    else:
        batch = [images]
    if not batch:
        raise InvalidArgumentError("preprocess got no images")
    out = np.empty((len(batch), *size, 3), np.uint8)
    for i, image in enumerate(batch):
        out[i] = np.asarray(_resize_crop(_to_pil(image), tuple(size), crop_pct, interpolation))
    return out


def transform(images, *, size, crop_pct, interpolation, mean, std) -> np.ndarray:
    """`preprocess` with explicit parameters (size: (height, width))."""
    pixels = resize_crop(images, size=size, crop_pct=crop_pct, interpolation=interpolation)
    return (pixels.astype(np.float32) / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


@functools.cache
def imagenet_labels() -> tuple[tuple[str, str], ...]:
    """(WordNet id, name) of the 1000 ImageNet-1k classes in output order."""
    text = resources.files("zoo").joinpath("data/imagenet1k_labels.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    assert len(rows) == 1000, "imagenet1k_labels.tsv must have 1000 rows"
    return tuple((wnid, label) for wnid, label in rows)


def decode_predictions(logits, top: int = 5, *, from_logits: bool = True):
    """Top-k ImageNet-1k classes per row: a list (one per image) of (wnid, label, probability).

    logits: (N, 1000) scores; softmax is applied unless from_logits=False (probabilities).
    """
    p = np.asarray(logits, dtype=np.float64)
    if p.ndim == 1:
        p = p[None]
    labels = imagenet_labels()
    if p.ndim != 2 or p.shape[1] != len(labels):
        raise InvalidArgumentError(
            f"decode_predictions needs (N, {len(labels)}) ImageNet-1k scores; got shape {p.shape}.")
    if not 1 <= top <= p.shape[1]:
        raise InvalidArgumentError(f"top must be in 1..{p.shape[1]}, got {top}")
    if from_logits:
        p = np.exp(p - p.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
    out = []
    for row in p:
        idx = np.argsort(-row, kind="stable")[:top]
        out.append([(labels[i][0], labels[i][1], float(row[i])) for i in idx])
    return out


def __getattr__(name):
    # the tf.data pipelines live in zoo/datasets.py (TensorFlow loads when one is used)
    if name in ("image_folder", "from_dataset", "scan_folder"):
        from . import datasets
        return getattr(datasets, name)
    raise AttributeError(f"module 'zoo.data' has no attribute {name!r}")
