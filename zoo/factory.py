"""`zoo.create`: name -> cfg -> build -> (weights: resolve -> download -> convert -> load)."""
from __future__ import annotations

import math
import types

import keras

from . import registry
from .errors import InvalidArgumentError
from .models._common import Feature, ModelParts, deep_graphs  # noqa: F401  (public here too)


def _normalize_img_size(img_size, spec: registry.ArchSpec, cfg: dict) -> tuple[int, int]:
    if img_size is None:
        h, w = cfg["input_size"][:2]
        return int(h), int(w)
    if isinstance(img_size, int):
        img_size = (img_size, img_size)
    try:
        h, w = (int(v) for v in img_size)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"img_size must be an int or (height, width), got {img_size!r}") from None
    if h < 32 or w < 32:
        raise InvalidArgumentError(f"img_size {h}x{w} is too small for {spec.name}: at least 32x32 (stride 32).")
    return h, w


def _check_args(spec, num_classes, in_chans, features_only, out_indices, drop_rate, drop_path_rate):
    if not isinstance(in_chans, int) or isinstance(in_chans, bool) or in_chans < 1:
        raise InvalidArgumentError(f"in_chans must be a positive int, got {in_chans!r}")
    if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool)
                                    or num_classes < 0):
        raise InvalidArgumentError(f"num_classes must be an int >= 0 (0: no classifier), got {num_classes!r}")
    for arg, v in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
        if not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
            raise InvalidArgumentError(f"{arg} must be in [0, 1), got {v!r}")
    if out_indices is not None and not features_only:
        raise InvalidArgumentError("out_indices only applies with features_only=True")
    if features_only and num_classes:
        raise InvalidArgumentError("features_only=True returns feature maps: it takes no num_classes")


def _select_features(parts: ModelParts, out_indices, name):
    n = len(parts.features)
    if out_indices is None:
        return list(range(n))
    if isinstance(out_indices, int):  # timm: an int n means the last n features
        if not 0 < out_indices <= n:
            raise InvalidArgumentError(f"{name} has {n} feature levels; out_indices={out_indices} is out of range")
        return list(range(n - out_indices, n))
    idx = []
    for i in out_indices:
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise InvalidArgumentError(
                f"{name} has {n} feature levels (indices 0..{n - 1}, strides "
                f"{[f.reduction for f in parts.features]}); out_indices={tuple(out_indices)} is out of range")
        idx.append(j)
    return idx


def create(name: str, pretrained=False, *, num_classes: int | None = None, in_chans: int = 3,
           img_size=None, features_only: bool = False, out_indices=None, drop_rate: float = 0.0,
           drop_path_rate: float = 0.0) -> keras.Model:
    """Build a model by name, optionally with pretrained weights.

    name: "arch", "arch.tag" or an alias (see `zoo.list_models`).
    pretrained: False | True (the default tag, or the tag in the name) | "tag" |
        "hf-hub:owner/repo[@revision]" | a local .safetensors file (the source checkpoint's own
        keys) or .weights.h5 file, or a folder holding one.
    num_classes: a new classifier with that many classes (0: pooled features, no classifier).
    in_chans: input channels; pretrained first-conv weights are adapted as timm does.
    img_size: int or (height, width); the default is the weights' training size.
    features_only, out_indices: return the list of NHWC feature maps instead of logits.

    Returns a keras.Model taking NHWC float32 images normalized with the cfg's mean/std
    (`zoo.preprocess` does that).
    """
    from . import hub

    spec, tag = registry.resolve(name)
    _check_args(spec, num_classes, in_chans, features_only, out_indices, drop_rate, drop_path_rate)
    source = hub.resolve_pretrained(spec, tag, pretrained)
    cfg = spec.cfg(source.tag if source and source.tag else tag)
    h, w = _normalize_img_size(img_size, spec, cfg)
    if spec.fixed_input_size and (h, w) != tuple(cfg["input_size"][:2]) and source is not None:
        raise InvalidArgumentError(
            f"{spec.name} weights are tied to {cfg['input_size'][0]}x{cfg['input_size'][1]} input; "
            f"img_size={h}x{w} needs pretrained=False.")
    ckpt_classes = cfg["num_classes"]
    head_classes = 0 if features_only else (ckpt_classes if num_classes is None else num_classes)

    with deep_graphs():
        parts: ModelParts = spec.builder(num_classes=head_classes, in_chans=in_chans, img_size=(h, w),
                                         drop_rate=drop_rate, drop_path_rate=drop_path_rate)
        model = keras.Model(parts.inputs, parts.outputs, name=spec.name)
        if source is not None:
            hub.load_pretrained(model, spec, source, in_chans=in_chans, num_classes=head_classes)
        if features_only:
            idx = _select_features(parts, out_indices, spec.name)
            model = keras.Model(parts.inputs, [parts.features[i].tensor for i in idx],
                                name=f"{spec.name}_features")
    _attach_cfg(model, spec, source.tag if source else tag, cfg, (h, w), in_chans, head_classes, source)
    return model


def _attach_cfg(model, spec, tag, cfg, size, in_chans, num_classes, source):
    """`model.pretrained_cfg`: what the model takes and where its weights came from (read-only;
    export uses it for normalization metadata and labels). Not kept by `.keras` files."""
    model.pretrained_cfg = types.MappingProxyType({
        "arch": spec.name, "tag": tag, "input_size": (size[0], size[1], in_chans),
        "crop_pct": cfg["crop_pct"], "interpolation": cfg["interpolation"],
        "mean": tuple(cfg["mean"]), "std": tuple(cfg["std"]), "num_classes": num_classes,
        "labels": cfg.get("labels") if num_classes == cfg["num_classes"] else None,
        "weights": source.describe() if source else None,
    })


def feature_info(name: str, img_size=None) -> list[dict]:
    """channels, stride and module of each feature level of a model (what features_only returns)."""
    spec, tag = registry.resolve(name)
    cfg = spec.cfg(tag)
    h, w = _normalize_img_size(img_size, spec, cfg)
    with deep_graphs():
        parts = spec.builder(num_classes=0, in_chans=3, img_size=(h, w), drop_rate=0.0, drop_path_rate=0.0)
    return [dict(num_chs=f.num_chs, reduction=f.reduction, module=f.module) for f in parts.features]


def model_info(name: str) -> dict:
    """arch, tag, preprocessing cfg, weights source, reported top-1, license and parameter count."""
    spec, tag = registry.resolve(name)
    tag = tag or spec.default_tag
    cfg = spec.cfg(tag)
    entry = registry._entry(spec, tag) if tag else None
    return {
        "name": f"{spec.name}.{tag}" if tag else spec.name,
        "arch": spec.name,
        "tag": tag,
        "family": spec.family,
        "input_size": tuple(cfg["input_size"]),
        "test_input_size": tuple(cfg["test_input_size"]) if cfg.get("test_input_size") else None,
        "mean": tuple(cfg["mean"]),
        "std": tuple(cfg["std"]),
        "crop_pct": cfg["crop_pct"],
        "interpolation": cfg["interpolation"],
        "num_classes": cfg["num_classes"],
        "labels": cfg.get("labels"),
        "source": dict(entry.source) if entry else None,
        "reported": dict(entry.reported) if entry else None,
        "license": entry.license if entry else None,
        "pretrained_tags": [e.tag for e in spec.weights],
        "fixed_input_size": spec.fixed_input_size,
        "paper": spec.paper,
        "params": param_count(spec.name),
    }


_PARAMS: dict[str, int] = {}


def param_count(arch: str) -> int:
    """Parameters of the arch with its default head (built once per process, weights random)."""
    if arch not in _PARAMS:
        spec, _ = registry.resolve(arch)
        cfg = spec.cfg()
        with deep_graphs():
            parts = spec.builder(num_classes=cfg["num_classes"], in_chans=3, img_size=tuple(cfg["input_size"][:2]),
                                 drop_rate=0.0, drop_path_rate=0.0)
            model = keras.Model(parts.inputs, parts.outputs)
        # timm counts parameters, not buffers: BN running statistics are non-trainable here
        _PARAMS[arch] = int(sum(math.prod(v.shape) for v in model.trainable_weights))
    return _PARAMS[arch]
