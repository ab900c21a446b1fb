"""The weights manifest: every published weight set the zoo knows (weights_manifest.json).

It is the single source of truth for pretrained weights: where a weight set lives (Hub repo,
file, revision, sha256), how to read it (format), its preprocessing cfg, the accuracy its
source reports and its license. Unknown values are null, never invented.
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

MANIFEST_NAME = "weights_manifest.json"
ENV_MANIFEST = "ZOO_MANIFEST"  # point at another manifest file (tests, private mirrors)

# Formats a weight file can have; each has a reader in zoo.checkpoint.
FORMATS = ("timm", "official", "keras")


@dataclass(frozen=True)
class WeightEntry:
    """One published weight set: `arch.tag`."""
    arch: str
    tag: str
    default: bool
    source: dict
    cfg: dict
    reported: dict = field(default_factory=dict)
    license: str | None = None
    notes: str | None = None

    @property
    def name(self) -> str:
        return f"{self.arch}.{self.tag}"

    @property
    def hub_repo(self) -> str | None:
        return self.source.get("hub")

    @property
    def on_hub(self) -> bool:
        return bool(self.source.get("hub"))


def manifest_path() -> Path:
    """The manifest in use: $ZOO_MANIFEST, else the copy shipped in the package."""
    env = os.environ.get(ENV_MANIFEST)
    if env:
        return Path(env)
    packaged = resources.files("zoo").joinpath(MANIFEST_NAME)
    return Path(str(packaged))


@functools.cache
def _load(path: str) -> dict[str, WeightEntry]:
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    weights = raw.get("weights", raw)
    out = {}
    for key, e in weights.items():
        arch, _, tag = key.partition(".")
        if not tag or e.get("arch") != arch:
            raise ValueError(f"{path}: entry {key!r} must be named '<arch>.<tag>' with a matching 'arch' field")
        out[key] = WeightEntry(arch=arch, tag=tag, default=bool(e.get("default")), source=e.get("source") or {},
                               cfg=e.get("cfg") or {}, reported=e.get("reported") or {},
                               license=e.get("license"), notes=e.get("notes"))
    return out


def entries() -> dict[str, WeightEntry]:
    return _load(str(manifest_path()))


def tags_of(arch: str) -> list[WeightEntry]:
    return [e for e in entries().values() if e.arch == arch]


def default_entry(arch: str) -> WeightEntry | None:
    tags = tags_of(arch)
    for e in tags:
        if e.default:
            return e
    return tags[0] if tags else None
