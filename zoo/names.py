"""Model names and cfgs without the model code: the parts of the registry that `zoo.index` (the
CLI's TensorFlow-free answers) shares with it."""
from __future__ import annotations

import fnmatch

from . import manifest


def merged_cfg(default_cfg: dict, found: manifest.WeightEntry | None) -> dict:
    """An arch's default cfg overlaid with a weight set's manifest cfg (lists as tuples)."""
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in default_cfg.items()}
    if found is not None:
        cfg.update({k: tuple(v) if isinstance(v, list) else v for k, v in found.cfg.items()})
    return cfg


def split_name(name: str, arch_names, aliases: dict[str, str]) -> tuple[str, str]:
    """`arch`, `arch.tag`, an alias or `alias.tag`, in any case -> (arch, tag or ''); the arch part
    is returned as typed (lower case) when it is not a known arch."""
    key = name.strip().lower()   # every registered name is lower case; users type SERESNET18 too
    arch, _, tag = aliases.get(key, key).partition(".")
    if arch in aliases and arch not in arch_names:
        arch = aliases[arch]
    return arch, tag


def match(names, pattern: str | list[str]) -> list[str]:
    """The names matching a glob or any of several, case-insensitive, sorted."""
    patterns = [p.lower() for p in ([pattern] if isinstance(pattern, str) else pattern)]
    return [n for n in sorted(names) if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def alias_note_in(name: str, alias_map: dict[str, str], notes: dict[str, str]) -> str | None:
    """Why alias `name` (or `alias.tag`) points where it does, from the given tables: the registry's
    `alias_note` and zoo.index (from its file) answer with this one rule."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower()
    alias = key if key in alias_map else key.partition(".")[0]
    if alias not in alias_map or alias not in notes:
        return None
    return f"alias of {alias_map[alias]}: {notes[alias]}"
