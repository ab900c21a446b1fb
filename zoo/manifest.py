"""The weights manifest: every published weight set the zoo knows (weights_manifest.json).

It is the single source of truth for pretrained weights: where a weight set lives (Hub repo,
file, revision, sha256), how to read it (format), its preprocessing cfg, the accuracy its
source reports and its license. Unknown values are null, never invented.
"""
from __future__ import annotations

import functools
import json
import os
import re
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


# --- checks and writing (tests, `zoo manifest check`, `zoo manifest refresh`) --------------------

CFG_FIELDS = ("input_size", "crop_pct", "interpolation", "mean", "std", "num_classes", "labels")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos", "box", "hamming")
_PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".tar", ".pkl", ".pickle")
_HEX40, _HEX64 = re.compile(r"[0-9a-f]{40}"), re.compile(r"[0-9a-f]{64}")


def is_commit(revision: str | None) -> bool:
    return bool(revision and _HEX40.fullmatch(revision))


def validate(table: dict[str, WeightEntry] | None = None, archs=None) -> list[str]:
    """Problems of the manifest, one line each (empty: consistent).

    table: entries to check (default: the manifest in use).
    archs: the registered architecture names; when given, every entry's arch must be one of them.
    """
    table = entries() if table is None else table
    problems = []
    defaults: dict[str, list[str]] = {}
    for name, e in table.items():
        if archs is not None and e.arch not in archs:
            problems.append(f"{name}: arch {e.arch!r} is not a registered architecture")
        if e.default:
            defaults.setdefault(e.arch, []).append(e.tag)
        missing = [k for k in CFG_FIELDS if k not in e.cfg]
        if missing:
            problems.append(f"{name}: cfg lacks {', '.join(missing)}")
        size = e.cfg.get("input_size")
        if size is not None and (len(size) != 3 or not all(isinstance(v, int) and v > 0 for v in size)):
            problems.append(f"{name}: input_size must be [H, W, C], got {size}")
        for k in ("mean", "std"):
            v = e.cfg.get(k)
            if v is not None and (len(v) != 3 or not all(isinstance(x, (int, float)) for x in v)):
                problems.append(f"{name}: {k} must be three numbers, got {v}")
        if e.cfg.get("interpolation") not in (None, *INTERPOLATIONS):
            problems.append(f"{name}: unknown interpolation {e.cfg.get('interpolation')!r}")
        src = e.source
        fmt = src.get("format")
        if fmt not in FORMATS:
            problems.append(f"{name}: source format {fmt!r} is not one of {', '.join(FORMATS)}")
        sha = src.get("sha256")
        if sha is not None and not _HEX64.fullmatch(str(sha)):
            problems.append(f"{name}: sha256 must be 64 lowercase hex digits or null")
        if src.get("hub"):
            repo = src["hub"]
            if repo.count("/") != 1 or not all(repo.split("/")):
                problems.append(f"{name}: hub must be 'owner/name', got {repo!r}")
            if (src.get("filename") or "").endswith(_PICKLE_SUFFIXES):
                problems.append(f"{name}: the zoo never loads pickle files from the Hub ({src.get('filename')})")
            if not src.get("revision"):
                problems.append(f"{name}: hub entries need a revision (a branch, or the commit refresh pins)")
        elif not (e.notes or src.get("how")):
            problems.append(f"{name}: not on the Hub, so it must say how the weights get there (notes)")
    for arch in sorted({e.arch for e in table.values()}):
        tags = defaults.get(arch, [])
        if len(tags) != 1:
            problems.append(f"{arch}: needs exactly one default tag, has {tags or 'none'}")
    return problems


def load_raw(path: str | Path | None = None) -> dict:
    """The manifest file as JSON (for tools that edit it)."""
    with open(path or manifest_path(), encoding="utf-8") as f:
        return json.load(f)


def write_raw(raw: dict, path: str | Path | None = None) -> Path:
    """Write the manifest atomically (temp file + os.replace), in its usual formatting.

    A symlinked manifest (the packaged copy points at the repository root's file) is written
    through to its target, never replaced by a plain file.
    """
    from .checkpoint import atomic_path

    target = Path(os.path.realpath(path or manifest_path()))
    text = json.dumps(raw, indent=2, ensure_ascii=False) + "\n"
    json.loads(text)  # never write something unreadable
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    _load.cache_clear()
    return target
