"""Model names: architectures, their weight tags (from the manifest) and aliases.

A name is `arch`, `arch.tag` or an alias (case-insensitive). Each model family registers its
architectures with one `register_family(...)` call at the end of zoo/models/<family>.py.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Callable

from . import manifest
from .errors import UnknownModelError
from .names import alias_note_in, match, merged_cfg, split_name

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
    builder: Callable                    # builder(num_classes=, in_chans=, img_size=, drop_rate=, drop_path_rate=, **family_kwargs)
    default_cfg: dict
    first_conv: str                      # checkpoint key prefix of the input conv (in_chans adaptation)
    classifier: str                      # checkpoint key prefix of the classifier (dropped on num_classes change)
    adapt_state: Callable | None = None  # family hook f(state, targets) -> state: real layout differences only
    family_kwargs: tuple[str, ...] = ()  # extra builder arguments zoo.create accepts for this family
    group_matcher: dict | None = None    # {"stem": regex, "stages": regex whose group 1 is the stage, "head": regex}
    fixed_size: str | None = None        # why pretrained weights cannot load at another img_size (None: they can)
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
        return merged_cfg(self.default_cfg, entry(self, tag) if tag else manifest.default_entry(self.name))

    def layer_group(self, layer_name: str) -> str | None:
        """'stem', 'stages.<i>' or 'head' for a layer name (checkpoint module path), by the family's
        group_matcher; None for layers outside every group (input, pooling without weights)."""
        m = self.group_matcher or {}
        if m.get("stem") and re.match(m["stem"], layer_name):
            return "stem"
        if m.get("stages"):
            found = re.match(m["stages"], layer_name)
            if found:
                return f"stages.{int(found.group(1)) - int(m.get('first_stage', 0))}"
        if m.get("head") and re.match(m["head"], layer_name):
            return "head"
        return None


@dataclass(frozen=True)
class Variant:
    """One architecture of a family: its builder arguments and what differs from the family's defaults."""
    args: dict = field(default_factory=dict)   # the architecture knobs (timm's model_cfgs entry)
    cfg: dict = field(default_factory=dict)    # default preprocessing for an arch without weights
    paper: str | None = None
    first_conv: str | None = None              # when it differs from the family's
    family: str | None = None                  # a sub-family name (e.g. ecaresnet beside seresnet)


_ARCHS: dict[str, ArchSpec] = {}
_ALIASES: dict[str, str] = {}
_ALIAS_NOTES: dict[str, str] = {}   # alias -> why it points where it does (shown by `zoo info`)


def register_family(family: str, build: Callable, variants: dict[str, Variant], *, first_conv: str,
                    classifier: str, adapt_state: Callable | None = None, family_kwargs=(),
                    group_matcher: dict | None = None, fixed_size: str | None = None, paper: str | None = None,
                    cfg: dict | None = None, aliases: dict[str, str | tuple[str, str]] | None = None) -> None:
    """Register every architecture of a family file (one call at its end).

    build(**variant.args, name=arch, num_classes=, in_chans=, img_size=, drop_rate=, drop_path_rate=,
    **family_kwargs) -> ModelParts. family_kwargs: names of the extra builder arguments users may
    pass through zoo.create (validated there). aliases: alias -> arch, or alias -> (arch, note):
    the note says why the alias points there (`zoo info <alias>` shows it).
    """
    notes = {a: t[1] for a, t in (aliases or {}).items() if isinstance(t, (tuple, list))}
    aliases = {a: (t[0] if isinstance(t, (tuple, list)) else t) for a, t in (aliases or {}).items()}
    for name, v in variants.items():
        if name in _ARCHS:
            raise ValueError(f"architecture {name!r} registered twice")

        def builder(_args=v.args, _name=name, **kwargs):   # family kwargs override the variant's
            return build(**{**_args, **kwargs}, name=_name)

        builder.__name__ = name
        builder.__module__ = build.__module__
        default_cfg = dict(DEFAULT_CFG)
        default_cfg.update({k: tuple(x) if isinstance(x, list) else x for k, x in {**(cfg or {}), **v.cfg}.items()})
        _ARCHS[name] = ArchSpec(
            name=name, family=v.family or family, builder=builder, default_cfg=default_cfg,
            first_conv=v.first_conv or first_conv, classifier=classifier, adapt_state=adapt_state,
            family_kwargs=tuple(family_kwargs), group_matcher=group_matcher, fixed_size=fixed_size,
            paper=v.paper or paper,
            aliases=tuple(a for a, t in (aliases or {}).items() if t == name))
    for alias, target in aliases.items():
        register_alias(alias, target, note=notes.get(alias))


def register_alias(alias: str, target: str, note: str | None = None):
    """`alias` -> `target` (an arch or arch.tag); `note`: why (shown by `zoo info`)."""
    if alias in _ALIASES and _ALIASES[alias] != target:
        raise ValueError(f"alias {alias!r} already points at {_ALIASES[alias]!r}")
    _ALIASES[alias] = target
    if note:
        _ALIAS_NOTES[alias] = str(note)


def _ensure_models():
    from . import models  # noqa: F401  (imports every family, which registers its archs)


def archs() -> dict[str, ArchSpec]:
    _ensure_models()
    return _ARCHS


def aliases() -> dict[str, str]:
    _ensure_models()
    return dict(_ALIASES)


def alias_notes() -> dict[str, str]:
    """alias -> the note saying why it points at its target (aliases registered with one)."""
    _ensure_models()
    return dict(_ALIAS_NOTES)


def alias_note(name: str) -> str | None:
    """The note of the alias `name` (or `alias.tag`) is, in any case; None for other names."""
    return alias_note_in(name, aliases(), alias_notes())


def _all_names() -> list[str]:
    return sorted(set(archs()) | set(_ALIASES) | set(manifest.entries()))


def _suggest(name: str, pool) -> str:
    close = difflib.get_close_matches(name, list(pool), n=5, cutoff=0.6)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def entry(spec: ArchSpec, tag: str) -> manifest.WeightEntry:
    """The manifest entry of `spec`'s weight set `tag`; UnknownModelError naming its tags otherwise."""
    found = manifest.entries().get(f"{spec.name}.{tag}")
    if found is None:
        tags = [e.tag for e in spec.weights]
        known = f"its tags are: {', '.join(tags)}" if tags else "it has no published weights"
        raise UnknownModelError(f"Unknown tag {tag!r} for model {spec.name!r}: {known}.")
    return found


def resolve(name: str) -> tuple[ArchSpec, str | None]:
    """`arch`, `arch.tag` or alias -> (ArchSpec, tag or None). Unknown names suggest close ones."""
    if not isinstance(name, str) or not name:
        raise UnknownModelError(f"A model name must be a non-empty string, got {name!r}.")
    specs = archs()
    name = name.strip()
    if name.startswith("hf-hub:"):
        raise UnknownModelError(
            f"{name!r} is a weights location, not a model name: use zoo.create('<arch>', pretrained={name!r}).")
    arch, tag = split_name(name, specs, _ALIASES)
    spec = specs.get(arch)
    if spec is None:
        raise UnknownModelError(
            f"Unknown model {name!r}.{_suggest(name, _all_names())} "
            f"List the models with zoo.list_models('*pattern*') or `zoo list`.")
    if tag:
        entry(spec, tag)  # raises with the known tags
    return spec, (tag or None)


def list_models(pattern: str | list[str] = "*", pretrained: bool = False) -> list[str]:
    """Architecture names matching a glob (or any of several, case-insensitive); with
    pretrained=True the published weight sets as 'arch.tag'."""
    specs = archs()
    return match(manifest.entries() if pretrained else specs, pattern)
