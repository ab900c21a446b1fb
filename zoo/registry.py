"""Model names: architectures, their weight tags (from the manifest) and aliases.

A name is `arch`, `arch.tag` or an alias. Each model family registers its architectures
with `register_model` at import time (zoo/models/<family>.py).
"""
from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Callable

from . import manifest
from .errors import UnknownModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# cfg keys every architecture has (the preprocessing its weights expect)
DEFAULT_CFG = {
    "input_size": (224, 224, 3),
    "crop_pct": 0.875,
    "interpolation": "bicubic",
    "mean": IMAGENET_MEAN,
    "std": IMAGENET_STD,
    "num_classes": 1000,
    "labels": "imagenet-1k",
}


@dataclass(frozen=True)
class ArchSpec:
    """An architecture: how to build it and how its checkpoints are laid out."""
    name: str
    family: str
    builder: Callable
    default_cfg: dict
    first_conv: str                      # checkpoint key prefix of the input conv (in_chans adaptation)
    classifier: str                      # checkpoint key prefix of the classifier (dropped on num_classes change)
    checkpoint_filter: Callable | None = None   # family hook: real checkpoint-layout differences only
    fixed_input_size: bool = False      # weights tied to the input resolution
    paper: str | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def weights(self) -> list[manifest.WeightEntry]:
        return manifest.tags_of(self.name)

    @property
    def default_tag(self) -> str | None:
        e = manifest.default_entry(self.name)
        return e.tag if e else None

    def cfg(self, tag: str | None = None) -> dict:
        """Preprocessing cfg of a tag (the default one when None), or the arch's own defaults."""
        cfg = dict(self.default_cfg)
        entry = _entry(self, tag) if tag else manifest.default_entry(self.name)
        if entry is not None:
            for k, v in entry.cfg.items():
                cfg[k] = tuple(v) if isinstance(v, list) else v
        return cfg


_ARCHS: dict[str, ArchSpec] = {}
_ALIASES: dict[str, str] = {}


def register_model(name: str, *, family: str, first_conv: str, classifier: str, cfg: dict | None = None,
                   checkpoint_filter: Callable | None = None, fixed_input_size: bool = False,
                   paper: str | None = None, aliases: tuple[str, ...] = ()):
    """Decorator: register `builder(**create_kwargs) -> ModelParts` as architecture `name`."""
    def deco(builder):
        if name in _ARCHS:
            raise ValueError(f"architecture {name!r} registered twice")
        default_cfg = dict(DEFAULT_CFG)
        default_cfg.update({k: tuple(v) if isinstance(v, list) else v for k, v in (cfg or {}).items()})
        _ARCHS[name] = ArchSpec(name=name, family=family, builder=builder, default_cfg=default_cfg,
                                first_conv=first_conv, classifier=classifier,
                                checkpoint_filter=checkpoint_filter, fixed_input_size=fixed_input_size,
                                paper=paper, aliases=tuple(aliases))
        for alias in aliases:
            register_alias(alias, name)
        return builder
    return deco


def register_alias(alias: str, target: str):
    if alias in _ALIASES and _ALIASES[alias] != target:
        raise ValueError(f"alias {alias!r} already points at {_ALIASES[alias]!r}")
    _ALIASES[alias] = target


def _ensure_models():
    from . import models  # noqa: F401  (imports every family, which registers its archs)


def archs() -> dict[str, ArchSpec]:
    _ensure_models()
    return _ARCHS


def aliases() -> dict[str, str]:
    _ensure_models()
    return dict(_ALIASES)


def _all_names() -> list[str]:
    return sorted(set(archs()) | set(_ALIASES) | set(manifest.entries()))


def _suggest(name: str, pool) -> str:
    close = difflib.get_close_matches(name, list(pool), n=5, cutoff=0.6)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def _entry(spec: ArchSpec, tag: str) -> manifest.WeightEntry:
    entry = manifest.entries().get(f"{spec.name}.{tag}")
    if entry is None:
        tags = [e.tag for e in spec.weights]
        known = f"its tags are: {', '.join(tags)}" if tags else "it has no published weights"
        raise UnknownModelError(f"Unknown tag {tag!r} for model {spec.name!r}: {known}.")
    return entry


def resolve(name: str) -> tuple[ArchSpec, str | None]:
    """`arch`, `arch.tag` or alias -> (ArchSpec, tag or None). Unknown names suggest close ones."""
    if not isinstance(name, str) or not name:
        raise UnknownModelError(f"A model name must be a non-empty string, got {name!r}.")
    specs = archs()
    name = name.strip()
    if name.startswith("hf-hub:"):
        raise UnknownModelError(
            f"{name!r} is a weights location, not a model name: use zoo.create('<arch>', pretrained={name!r}).")
    target = _ALIASES.get(name, name)
    arch, _, tag = target.partition(".")
    if arch in _ALIASES and arch not in specs:
        arch = _ALIASES[arch]
    spec = specs.get(arch)
    if spec is None:
        raise UnknownModelError(
            f"Unknown model {name!r}.{_suggest(name, _all_names())} "
            f"List the models with zoo.list_models('*pattern*') or `zoo list`.")
    if tag:
        _entry(spec, tag)  # raises with the known tags
    return spec, (tag or None)


def list_models(pattern: str | list[str] = "*", pretrained: bool = False) -> list[str]:
    """Architecture names matching a glob (or any of several); with pretrained=True the
    published weight sets as 'arch.tag'."""
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    if pretrained:
        archs()
        names = sorted(manifest.entries())
    else:
        names = sorted(archs())
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
