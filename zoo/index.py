"""A TensorFlow-free index of the architectures, so `zoo list` and `zoo info` answer at once.

zoo/data/archs.json records what the live registry knows that needs the model code (importing it
imports Keras and TensorFlow, ~4 s): each architecture's arch-level `zoo.model_info` fields
(family, paper, parameter count, ...), its default cfg and aliases, and the public layer names of
`zoo.layers`. Everything about weights comes from the manifest at run time, as in the registry.
The file is generated from the registry; regenerate it after adding or changing an architecture:

    .venv/bin/python scripts/gen_index.py            # --check: only compare

tests/test_cli_index.py fails while the file disagrees with the registry. A name the index
does not know (a new arch, a typo) is answered by the live registry, so a stale index is slow,
never wrong about a name.
"""
from __future__ import annotations

import fnmatch
import functools
import json
import re
from pathlib import Path

from . import manifest, names

INDEX_FILE = Path(__file__).parent / "data" / "archs.json"
REGENERATE = ".venv/bin/python scripts/gen_index.py"


@functools.cache
def _load(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load() -> dict | None:
    """The index as written by `build`, or None when the file is missing or unreadable."""
    return _load(str(INDEX_FILE))


def _tuples(v):
    return tuple(v) if isinstance(v, list) else v


def _usable() -> dict | None:
    """The index, if it covers every arch of the manifest (else it predates a new family)."""
    idx = load()
    if idx is None or not {e.arch for e in manifest.entries().values()} <= set(idx["archs"]):
        return None
    return idx


def list_models(pattern="*", pretrained: bool = False) -> list[str] | None:
    """As zoo.list_models (globs, case-insensitive); None when the index cannot answer."""
    idx = _usable()
    if idx is None:
        return None
    return names.match(manifest.entries() if pretrained else idx["archs"], pattern)


def layers_matching(pattern: str) -> list[str]:
    """Public zoo.layers names a model-name pattern points at ('coatnet*' -> CoAtNetAttention)."""
    idx = load() or {}
    p = pattern.strip().lower()
    core = re.sub(r"[*?\[\]!]", "", p)
    return [n for n in idx.get("layers", [])
            if fnmatch.fnmatchcase(n.lower(), p) or (len(core) >= 3 and core in n.lower())]


def resolve(name: str) -> tuple[str, str | None] | None:
    """(arch, tag or None) for a known `arch`, `arch.tag` or alias; None for anything else (the
    live registry then answers, with its suggestions)."""
    idx = _usable()
    if idx is None or not isinstance(name, str):
        return None
    if not name.strip() or name.strip().lower().startswith("hf-hub:"):
        return None
    arch, tag = names.split_name(name, idx["archs"], idx["aliases"])
    if arch not in idx["archs"] or (tag and f"{arch}.{tag}" not in manifest.entries()):
        return None
    return arch, (tag or None)


def alias_note(name: str) -> str | None:
    """Why the alias `name` points where it does ('alias of <arch>: <note>'), from the index file;
    None for a name that is not an alias with a note, or when the index cannot answer."""
    idx = _usable()
    if idx is None or "alias_notes" not in idx:
        return None
    return names.alias_note_in(name, idx["aliases"], idx["alias_notes"])


def weights_fields(arch: str, tag: str | None, default_cfg: dict) -> dict:
    """The `zoo.model_info` fields that come from the weight set `arch.tag` (None: no weights):
    the arch's default cfg overlaid with the manifest entry's, its source, reported accuracy,
    license and the arch's tags. TensorFlow-free: factory.model_info can take them from here."""
    entry = manifest.entries()[f"{arch}.{tag}"] if tag else None
    cfg = names.merged_cfg(default_cfg, entry)
    return {
        "name": f"{arch}.{tag}" if tag else arch,
        "tag": tag,
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
        "pretrained_tags": [e.tag for e in manifest.tags_of(arch)],
    }


def model_info(name: str) -> dict | None:
    """zoo.model_info(name) without TensorFlow; None when the index cannot answer."""
    found = resolve(name)
    if found is None:
        return None
    idx = load()
    arch, tag = found
    rec = idx["archs"][arch]
    if tag is None:
        default = manifest.default_entry(arch)
        tag = default.tag if default else None
    live = weights_fields(arch, tag, rec["default_cfg"])
    tuples = set(idx.get("info_tuples", ()))
    return {k: live[k] if k in live else (_tuples(rec["info"][k]) if k in tuples else rec["info"][k])
            for k in idx["info_keys"]}


# --- generation (imports the model code, hence TensorFlow) ----------------------------------------

def build() -> dict:
    """The index of the live registry (builds every arch once for its parameter count)."""
    import inspect

    from . import factory, layers, registry

    archs, info_keys, tuples = {}, None, set()
    for name, spec in sorted(registry.archs().items()):
        info = factory.model_info(name)
        info_keys = info_keys or list(info)
        live = weights_fields(name, None, spec.default_cfg)   # read from the manifest at run time
        arch_level = {k: v for k, v in info.items() if k not in live}
        tuples |= {k for k, v in arch_level.items() if isinstance(v, tuple)}
        archs[name] = {"aliases": sorted(spec.aliases), "default_cfg": dict(spec.default_cfg), "info": arch_level}
    public = [n for n in layers.__all__ if inspect.isclass(getattr(layers, n, None))]
    return {"generated_by": "scripts/gen_index.py", "info_keys": info_keys, "info_tuples": sorted(tuples), "archs": archs,
            "aliases": dict(sorted(registry.aliases().items())),
            "alias_notes": dict(sorted(registry.alias_notes().items())), "layers": sorted(public)}


def to_json(idx: dict) -> str:
    text = json.dumps(idx, indent=1, default=list)
    # short flat lists on one line ([224, 224, 3]), so that a regenerated file diffs readably
    return re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r"\s*\n\s*", " ", m.group(1)) + "]", text) + "\n"


def differences(recorded: dict | None, live: dict) -> list[str]:
    """What `recorded` (the file) gets wrong about `live` (build()), one line each."""
    if recorded is None:
        return [f"{INDEX_FILE} is missing or unreadable"]
    rec, now = json.loads(to_json(recorded)), json.loads(to_json(live))   # compare as JSON
    out = []
    for key in ("info_keys", "info_tuples", "aliases", "alias_notes", "layers"):
        if rec.get(key) != now.get(key):
            old, new = rec.get(key) or [], now.get(key) or []
            added = [k for k in new if k not in old]
            gone = [k for k in old if k not in new]
            out.append(f"{key}: new {added}, gone {gone}" if added or gone else f"{key}: now {new}")
    ra, na = rec.get("archs", {}), now["archs"]
    out += [f"{a}: not in the index" for a in sorted(set(na) - set(ra))]
    out += [f"{a}: in the index, not in the registry" for a in sorted(set(ra) - set(na))]
    for a in sorted(set(ra) & set(na)):
        for field in ("aliases", "default_cfg", "info"):
            if ra[a].get(field) != na[a][field]:
                out.append(f"{a}: {field} is {ra[a].get(field)} in the index, {na[a][field]} in the registry")
    return out


def write(idx: dict, path: Path = INDEX_FILE) -> Path:
    path.write_text(to_json(idx), encoding="utf-8")
    _load.cache_clear()
    return path
