"""What an artifact needs to know about the model it wraps: input size, normalization, labels.

The values come from `zoo.pretrained_cfg(model)` (set by `zoo.create`, kept by `.keras` files); explicit keyword arguments
override them. A model without a cfg (a hand-built keras.Model) exports as long as nothing
needs the normalization; the steps that do (uint8/bytes serving signatures, TFLite metadata,
int8 with integer I/O) fail with an error that names the missing argument.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import keras

from zoo.errors import ExportError, InvalidArgumentError
from zoo.factory import pretrained_cfg


@dataclass(frozen=True)
class ServingCfg:
    """The preprocessing contract of an exported model."""
    name: str                                  # artifact / serving model name
    input_size: tuple[int, int, int]           # (H, W, C) the model takes
    num_outputs: int                           # width of the (single) output: classes or features
    mean: tuple[float, ...] | None = None      # on the 0..1 pixel scale, as timm writes it
    std: tuple[float, ...] | None = None
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    labels: tuple[str, ...] | None = None      # one per output unit, or None
    arch: str | None = None

    @property
    def is_classifier(self) -> bool:
        return self.labels is not None

    def require_normalization(self, what: str):
        if self.mean is None or self.std is None:
            raise ExportError(
                f"{what} needs the model's input normalization, and the model has no pretrained_cfg "
                f"(zoo.create sets it). Pass mean=(r, g, b) and std=(r, g, b) on the 0..1 pixel scale, "
                f"e.g. mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225).")

    def to_dict(self) -> dict:
        return {"name": self.name, "arch": self.arch, "input_size": list(self.input_size),
                "num_outputs": self.num_outputs, "mean": list(self.mean) if self.mean else None,
                "std": list(self.std) if self.std else None, "crop_pct": self.crop_pct,
                "interpolation": self.interpolation, "has_labels": self.labels is not None}


def check_model(model) -> tuple[int, int, int]:
    """The (H, W, C) of a single-input, single-output functional image model, or a clear error."""
    if not isinstance(model, keras.Model):
        raise InvalidArgumentError(f"export takes a keras.Model (zoo.create(...)); got {type(model).__name__}")
    if isinstance(model, keras.Sequential) or not hasattr(model, "inputs") or model.inputs is None:
        raise InvalidArgumentError(
            "export takes functional models (zoo.create returns one); wrap a Sequential model as "
            "keras.Model(inputs, outputs).")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise InvalidArgumentError(
            f"export takes models with one image input and one output; {model.name} has "
            f"{len(model.inputs)} inputs and {len(model.outputs)} outputs (features_only models: export "
            f"a classifier or a num_classes=0 model instead).")
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or any(d is None for d in shape[1:]):
        raise InvalidArgumentError(
            f"export needs a static NHWC input (batch, H, W, C); {model.name} takes {shape}. "
            f"Build it with a fixed img_size.")
    out = tuple(model.outputs[0].shape)
    if len(out) != 2 or out[1] is None:
        raise InvalidArgumentError(f"export needs a (batch, classes) or (batch, features) output; got {out}")
    return int(shape[1]), int(shape[2]), int(shape[3])


def _safe_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")
    return name or "model"


def _label_names(spec, n: int):
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec != "imagenet-1k":
            raise InvalidArgumentError(f"unknown label set {spec!r}; pass labels=[...] (one string per class)")
        from zoo.data import imagenet_labels
        names = tuple(name for _, name in imagenet_labels())
    else:
        names = tuple(str(s) for s in spec)
    if len(names) != n:
        raise InvalidArgumentError(f"{len(names)} labels for a model with {n} outputs; pass one label per class")
    for s in names:
        if "\n" in s or not s.strip():
            raise InvalidArgumentError(f"labels must be non-empty single-line strings; got {s!r}")
    return names


def _triple(v, what):
    if v is None:
        return None
    try:
        t = tuple(float(x) for x in (v if isinstance(v, (list, tuple)) else [v]))
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{what} must be a number or a sequence of numbers; got {v!r}") from None
    if len(t) == 1:
        t = t * 3
    if len(t) != 3:
        raise InvalidArgumentError(f"{what} needs 1 or 3 values (RGB); got {v!r}")
    if what == "std" and any(x <= 0 for x in t):
        raise InvalidArgumentError(f"std values must be > 0; got {v!r}")
    return t


def serving_cfg(model, *, name=None, mean=None, std=None, labels=None, crop_pct=None,
                interpolation=None) -> ServingCfg:
    """The ServingCfg of `model`: its pretrained_cfg overridden by explicit arguments.

    mean/std: on the 0..1 pixel scale (timm's convention). labels: a list of class names, or
    "imagenet-1k"; False drops the labels.
    """
    h, w, c = check_model(model)
    cfg = dict(pretrained_cfg(model) or {})
    n_out = int(model.outputs[0].shape[-1])
    mean = _triple(mean if mean is not None else cfg.get("mean"), "mean")
    std = _triple(std if std is not None else cfg.get("std"), "std")
    if (mean is None) != (std is None):
        raise InvalidArgumentError("pass mean and std together")
    if labels is False:
        label_names = None
    else:
        spec = labels if labels is not None else (cfg.get("labels") if cfg.get("num_classes") else None)
        label_names = _label_names(spec, n_out)
    interp = interpolation or cfg.get("interpolation") or "bicubic"
    if interp not in ("bilinear", "bicubic", "nearest"):
        raise InvalidArgumentError(f"interpolation must be bilinear, bicubic or nearest; got {interp!r}")
    crop = float(crop_pct if crop_pct is not None else cfg.get("crop_pct", 0.875))
    if not 0.0 < crop <= 1.0:
        raise InvalidArgumentError(f"crop_pct must be in (0, 1]; got {crop}")
    return ServingCfg(name=_safe_name(name or cfg.get("arch") or model.name), input_size=(h, w, c),
                      num_outputs=n_out, mean=mean, std=std, crop_pct=crop, interpolation=interp,
                      labels=label_names, arch=cfg.get("arch"))
