"""`zoo.create`: name -> cfg -> build -> (weights: resolve -> download -> adapt -> load)."""
from __future__ import annotations

import math
import types

import keras

from . import registry
from .errors import InvalidArgumentError
from .models._common import Feature, ImageInput, ModelParts, deep_graphs  # noqa: F401  (public here too)


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


def _check_family_kwargs(spec: registry.ArchSpec, kwargs: dict):
    unknown = sorted(set(kwargs) - set(spec.family_kwargs))
    if unknown:
        accepted = ", ".join(spec.family_kwargs) if spec.family_kwargs else "none"
        raise InvalidArgumentError(
            f"zoo.create({spec.name!r}) got unknown argument(s) {', '.join(unknown)}. Besides num_classes, "
            f"in_chans, img_size, features_only, out_indices, drop_rate and drop_path_rate, the "
            f"{spec.family} family accepts: {accepted}.")


def create(name: str, pretrained=False, *, num_classes: int | None = None, in_chans: int = 3,
           img_size=None, features_only: bool = False, out_indices=None, drop_rate: float = 0.0,
           drop_path_rate: float = 0.0, **family_kwargs) -> keras.Model:
    """Build a model by name, optionally with pretrained weights.

    name: "arch", "arch.tag" or an alias (see `zoo.list_models`; case-insensitive).
    pretrained: False | True (the default tag, or the tag in the name) | "tag" |
        "hf-hub:owner/repo[@revision]" | a local .safetensors file (the source checkpoint's own
        keys) or .weights.h5 file, or a folder holding one.
    num_classes: a new classifier with that many classes (0: pooled features, no classifier).
    in_chans: input channels; pretrained first-conv weights are adapted as timm does.
    img_size: int or (height, width); the default is the weights' training size. Pretrained
        size-dependent tables (relative-position biases, position embeddings) are resampled.
    features_only, out_indices: return the list of NHWC feature maps instead of logits.
    family_kwargs: the family's own architecture arguments (`zoo.model_info(name)["family_kwargs"]`).

    Returns a keras.Model taking NHWC float32 images normalized with the cfg's mean/std
    (`zoo.preprocess` does that); `zoo.pretrained_cfg(model)` says what it takes.
    """
    from . import pretrained as weights

    spec, tag = registry.resolve(name)
    _check_args(spec, num_classes, in_chans, features_only, out_indices, drop_rate, drop_path_rate)
    _check_family_kwargs(spec, family_kwargs)
    source = weights.resolve_pretrained(spec, tag, pretrained)
    cfg = spec.cfg(source.tag if source and source.tag else tag)
    h, w = _normalize_img_size(img_size, spec, cfg)
    if spec.fixed_size and (h, w) != tuple(cfg["input_size"][:2]) and source is not None:
        raise InvalidArgumentError(
            f"{spec.name} weights are tied to {cfg['input_size'][0]}x{cfg['input_size'][1]} input "
            f"({spec.fixed_size}); img_size={h}x{w} needs pretrained=False.")
    ckpt_classes = cfg["num_classes"]
    head_classes = 0 if features_only else (ckpt_classes if num_classes is None else num_classes)

    with deep_graphs():
        parts: ModelParts = spec.builder(num_classes=head_classes, in_chans=in_chans, img_size=(h, w),
                                         drop_rate=drop_rate, drop_path_rate=drop_path_rate, **family_kwargs)
        outputs = parts.outputs
        if head_classes and keras.backend.standardize_dtype(outputs.dtype) != "float32":
            # mixed precision: the logits (and so the loss and softmax) stay float32
            outputs = keras.layers.Activation("linear", dtype="float32", name="logits_float32")(outputs)
        model = keras.Model(parts.inputs, outputs, name=spec.name)
        if source is not None:
            weights.load_pretrained(model, spec, source, in_chans=in_chans, num_classes=head_classes)
        if features_only:
            idx = _select_features(parts, out_indices, spec.name)
            model = keras.Model(parts.inputs, [parts.features[i].tensor for i in idx],
                                name=f"{spec.name}_features")
    _attach_cfg(model, spec, source.tag if source else tag, cfg, (h, w), in_chans, head_classes, source)
    return model


def _attach_cfg(model, spec, tag, cfg, size, in_chans, num_classes, source):
    """What the model takes and where its weights came from (read-only; export uses it for
    normalization metadata and labels): `model.pretrained_cfg`, and kept in the model's config
    (its input layer's) so that `zoo.pretrained_cfg` finds it in a model loaded from `.keras`."""
    value = {
        "arch": spec.name, "tag": tag, "input_size": (size[0], size[1], in_chans),
        "crop_pct": cfg["crop_pct"], "interpolation": cfg["interpolation"],
        "mean": tuple(cfg["mean"]), "std": tuple(cfg["std"]), "num_classes": num_classes,
        "labels": cfg.get("labels") if num_classes == cfg["num_classes"] else None,
        "weights": source.describe() if source else None,
    }
    for layer in model.layers:
        if isinstance(layer, ImageInput):
            layer.model_cfg = value
    model.pretrained_cfg = types.MappingProxyType(value)


def pretrained_cfg(model) -> types.MappingProxyType | None:
    """The cfg `zoo.create` gave `model` (arch, tag, input_size, mean, std, crop_pct, interpolation,
    num_classes, labels, weights), also for a model loaded from a `.keras` file or rebuilt by
    export's deploy forms; None for a model the zoo did not create."""
    cfg = getattr(model, "pretrained_cfg", None)
    if cfg is not None:
        return types.MappingProxyType(dict(cfg))
    for layer in getattr(model, "layers", []):
        if isinstance(layer, ImageInput) and layer.model_cfg:
            value = {k: tuple(v) if isinstance(v, list) else v for k, v in layer.model_cfg.items()}
            return types.MappingProxyType(value)
    return None


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
    from . import index

    spec, tag = registry.resolve(name)
    fields = index.weights_fields(spec.name, tag or spec.default_tag, spec.default_cfg)
    return {"name": fields.pop("name"), "arch": spec.name, "tag": fields.pop("tag"), "family": spec.family,
            **fields, "fixed_size": spec.fixed_size, "family_kwargs": list(spec.family_kwargs),
            "paper": spec.paper, "params": param_count(spec.name)}


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
