"""Real photos for int8 calibration and for verification, preprocessed like the model's input.

scikit-image ships a handful of real photographs inside its wheel (no download). They are split
into two disjoint sets: calibration photos (int8 representative data) and verification photos
(what `verify` compares on), so an int8 artifact is never judged on the images it was
calibrated with. Each photo gives several views (random-scale crops and flips, seeded), which
then go through the model's own eval transform (resize the shorter side to size / crop_pct,
center crop, normalize), as `zoo.preprocess` does.

These photos are a smoke-test set, not a representative dataset: for a production int8 model,
calibrate on a few hundred images of the deployment domain (`images_from_folder`).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from zoo.errors import ExportError, InvalidArgumentError

# skimage.data functions that return real photographs (grayscale ones become RGB).
CALIBRATION_PHOTOS = ("astronaut", "stereo_motorcycle", "hubble_deep_field", "retina", "immunohistochemistry",
                      "moon", "page", "text", "brick", "grass", "gravel", "coins", "cell")
VERIFICATION_PHOTOS = ("chelsea", "coffee", "rocket", "camera")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _skimage_data():
    try:
        import skimage.data
    except ImportError as e:
        raise ExportError(
            f"real photos for calibration/verification come from scikit-image, which is not installed ({e}). "
            f"Install the export extra: pip install 'attention-zoo[export]'.") from None
    return skimage.data


def _rgb(a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        a = np.clip(np.round(a * (255.0 if a.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return np.ascontiguousarray(a[..., :3])


@functools.lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """One scikit-image photo as an HxWx3 uint8 array (read-only)."""
    data = _skimage_data()
    fn = getattr(data, name, None)
    if fn is None:
        raise InvalidArgumentError(f"scikit-image has no photo {name!r}")
    a = fn()
    if isinstance(a, tuple):  # stereo_motorcycle: (left, right, disparity)
        a = a[0]
    a = _rgb(a)
    a.setflags(write=False)
    return a


def views(images, n: int, seed: int = 0) -> list[np.ndarray]:
    """`n` images made from `images`: each whole image first, then seeded random crops (35-100 %
    of the area, aspect 3:4..4:3) with random horizontal flips, cycling through the images."""
    if n < 1:
        raise InvalidArgumentError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    out = []
    k = 0
    while len(out) < n:
        img = images[k % len(images)]
        if k < len(images):
            out.append(img)
        else:
            h, w = img.shape[:2]
            for _ in range(10):
                area = h * w * rng.uniform(0.35, 1.0)
                ar = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
                ch, cw = int(round(np.sqrt(area / ar))), int(round(np.sqrt(area * ar)))
                if 8 <= ch <= h and 8 <= cw <= w:
                    break
            else:
                ch, cw = h, w
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            crop = img[y:y + ch, x:x + cw]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            out.append(np.ascontiguousarray(crop))
        k += 1
    return out


def calibration_photos(n: int = 128, seed: int = 0) -> list[np.ndarray]:
    """`n` raw uint8 views of the calibration photos (disjoint from the verification photos)."""
    return views([photo(p) for p in CALIBRATION_PHOTOS], n, seed=seed)


def verification_photos(n: int = 16, seed: int = 1) -> list[np.ndarray]:
    """`n` raw uint8 views of the verification photos (never used for calibration)."""
    return views([photo(p) for p in VERIFICATION_PHOTOS], n, seed=seed)


def images_from_folder(path, limit: int | None = None) -> list[np.ndarray]:
    """The images in a folder (sorted by name, recursively) as HxWx3 uint8 arrays."""
    from PIL import Image

    root = Path(path)
    if not root.is_dir():
        raise InvalidArgumentError(f"{root} is not a folder of images")
    files = sorted(f for f in root.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidArgumentError(f"{root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    out = []
    for f in files[:limit]:
        try:
            with Image.open(f) as im:
                out.append(np.asarray(im.convert("RGB")))
        except OSError as e:
            raise InvalidArgumentError(f"cannot read image {f}: {e}") from None
    return out


def labelled_folder(path, limit: int | None = None) -> tuple[list[np.ndarray], list[int], list[str]]:
    """(images, labels, class names) of a folder with one subfolder of images per class (the
    layout `zoo train` takes): classes are the sorted subfolder names, images sorted by name
    within each; at most `limit` images per class. Unreadable files are an error naming them."""
    from PIL import Image

    root = Path(path)
    if not root.is_dir():
        raise InvalidArgumentError(f"labelled data {root} is not a folder: give a folder with one subfolder of "
                                   f"images per class")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise InvalidArgumentError(f"labelled data {root} has no class subfolders (one folder of images per class)")
    images, labels = [], []
    for ci, c in enumerate(classes):
        files = sorted(f for f in (root / c).rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES
                       and not f.name.startswith("."))
        if not files:
            raise InvalidArgumentError(f"class folder {root / c} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        for f in files[:limit]:
            try:
                with Image.open(f) as im:
                    images.append(np.asarray(im.convert("RGB")))
            except OSError as e:
                raise InvalidArgumentError(f"cannot read image {f}: {e}") from None
            labels.append(ci)
    return images, labels, classes


def to_pixels(images, cfg) -> np.ndarray:
    """Images of any size -> (N, H, W, 3) uint8: the eval transform's resize and center crop
    (timm's, via zoo.data) at the model's input size, before normalization."""
    from zoo.data import resize_crop

    return resize_crop(list(images), size=tuple(cfg.input_size[:2]), crop_pct=cfg.crop_pct,
                       interpolation=cfg.interpolation)


def normalize(pixels, cfg) -> np.ndarray:
    """(N, H, W, 3) uint8 pixels -> the float32 input the model takes: (x / 255 - mean) / std."""
    cfg.require_normalization("turning images into model inputs")
    x = np.asarray(pixels, np.float32) / 255.0
    return ((x - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)).astype(np.float32)


def denormalize(x, cfg) -> np.ndarray:
    """Inverse of `normalize` (float32 pixels in 0..255, not rounded)."""
    cfg.require_normalization("turning model inputs back into pixels")
    return ((np.asarray(x, np.float32) * np.asarray(cfg.std, np.float32) + np.asarray(cfg.mean, np.float32))
            * 255.0).astype(np.float32)


def calibration_data(model, n: int = 128, *, images=None, mean=None, std=None, crop_pct=None,
                     interpolation=None) -> np.ndarray:
    """Representative data for `to_tflite(quantize="int8")`: (n, H, W, 3) float32 inputs of
    `model`, made from real photos (default: the calibration photos; or `images`, a list of
    HxWx3 uint8 arrays) with the model's own preprocessing."""
    from ._cfg import serving_cfg

    cfg = serving_cfg(model, mean=mean, std=std, crop_pct=crop_pct, interpolation=interpolation)
    imgs = list(images) if images is not None else calibration_photos(n)
    return normalize(to_pixels(imgs[:n], cfg), cfg)
