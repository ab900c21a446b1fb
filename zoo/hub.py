"""Where pretrained weights come from: the manifest, the Hugging Face Hub, or a local file.

resolve (pretrained argument -> WeightsSource) -> download (huggingface_hub) -> read -> convert -> load.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import checkpoint, convert, manifest, registry
from .errors import InvalidArgumentError, WeightsUnavailableError

HF_PREFIX = "hf-hub:"
DEFAULT_FILENAME = "model.safetensors"


@dataclass
class WeightsSource:
    """A resolved `pretrained=` argument."""
    kind: str                     # "local" | "hub"
    tag: str | None = None        # manifest tag, when the weights are a known weight set
    path: Path | None = None      # local file (kind == "local")
    repo: str | None = None
    filename: str = DEFAULT_FILENAME
    revision: str | None = None
    sha256: str | None = None
    format: str = "timm"
    entry: manifest.WeightEntry | None = None

    def describe(self) -> str:
        if self.kind == "local":
            return str(self.path)
        rev = f"@{self.revision}" if self.revision and self.revision != "main" else ""
        return f"hf-hub:{self.repo}{rev}/{self.filename}"


def _looks_like_path(s: str) -> bool:
    return (os.sep in s or s.startswith((".", "~")) or s.endswith((".safetensors", ".h5", ".pth", ".pt", ".bin"))
            or Path(s).exists())


def _from_entry(entry: manifest.WeightEntry) -> WeightsSource:
    src = entry.source
    if not src.get("hub"):
        how = entry.notes or src.get("how") or ""
        url = src.get("url")
        raise WeightsUnavailableError(
            f"Weights {entry.name} are not on the Hugging Face Hub"
            + (f" (upstream: {url})" if url else "") + ". "
            + (how + " " if how else "")
            + f"Pass pretrained=<path to the converted .safetensors> to load a local copy.")
    return WeightsSource(kind="hub", tag=entry.tag, repo=src["hub"], filename=src.get("filename") or DEFAULT_FILENAME,
                         revision=src.get("revision") or "main", sha256=src.get("sha256"),
                         format=src.get("format") or "timm", entry=entry)


def parse_hf_spec(spec: str) -> tuple[str, str | None]:
    """'hf-hub:owner/repo[@revision]' -> (repo_id, revision)."""
    body = spec[len(HF_PREFIX):]
    repo, _, rev = body.partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise InvalidArgumentError(f"{spec!r}: expected 'hf-hub:owner/repo' or 'hf-hub:owner/repo@revision'")
    return repo, (rev or None)


def resolve_pretrained(spec: registry.ArchSpec, tag: str | None, pretrained) -> WeightsSource | None:
    """Turn the `pretrained` argument of zoo.create into a WeightsSource (None: random init)."""
    if pretrained is None or pretrained is False:
        return None
    if pretrained is True:
        tag = tag or spec.default_tag
        if tag is None:
            with_weights = registry.list_models(f"{spec.family}*", pretrained=True)[:6]
            raise WeightsUnavailableError(
                f"{spec.name} has no published pretrained weights. Use pretrained=False, a local "
                f"checkpoint path, or a model that has weights"
                + (f", e.g. {', '.join(with_weights)}" if with_weights else "") + ".")
        return _from_entry(registry._entry(spec, tag))
    if isinstance(pretrained, os.PathLike):
        pretrained = os.fspath(pretrained)
    if not isinstance(pretrained, str):
        raise InvalidArgumentError(
            f"pretrained must be False, True, a tag, 'hf-hub:owner/repo[@rev]' or a path; got {pretrained!r}")
    if pretrained.startswith(HF_PREFIX):
        repo, rev = parse_hf_spec(pretrained)
        return WeightsSource(kind="hub", repo=repo, revision=rev or "main")
    if _looks_like_path(pretrained):
        return WeightsSource(kind="local", tag=tag, path=checkpoint.find_weights_file(pretrained))
    if tag and pretrained != tag:
        raise InvalidArgumentError(f"The name asks for tag {tag!r} but pretrained={pretrained!r}; give the tag once.")
    return _from_entry(registry._entry(spec, pretrained))


def download(source: WeightsSource) -> Path:
    """The weights file of a hub source, through huggingface_hub's cache."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(source.repo, source.filename, revision=source.revision))
    except Exception as e:  # noqa: BLE001 - every failure becomes one actionable error
        raise WeightsUnavailableError(
            f"Could not get {source.describe()}: {type(e).__name__}: {e}") from e


def load_pretrained(model, spec: registry.ArchSpec, source: WeightsSource, *, in_chans: int, num_classes: int):
    """Load `source` into `model` (built with in_chans/num_classes)."""
    path = source.path if source.kind == "local" else download(source)
    if path.name.endswith(checkpoint.KERAS_WEIGHTS_SUFFIX):
        try:
            model.load_weights(str(path))
        except Exception as e:  # noqa: BLE001
            raise checkpoint.CheckpointError(
                f"Keras weights {path} do not fit {spec.name} as built (in_chans={in_chans}, "
                f"num_classes={num_classes}): {e}") from None
        return
    state = checkpoint.read_safetensors(path)
    convert.load_torch_state(model, state, first_conv=spec.first_conv, classifier=spec.classifier,
                             in_chans=in_chans, checkpoint_filter=spec.checkpoint_filter,
                             model_name=spec.name, source=source.describe())
