"""Publishing converted weights to the Hugging Face Hub (`zoo push`), the model card, and the
manifest refresh (`zoo manifest refresh`)."""
from __future__ import annotations

import json
from pathlib import Path

from . import checkpoint, manifest, registry
from .errors import CheckpointError, InvalidArgumentError, WeightsUnavailableError
from .hub import CONFIG_FILENAME, DEFAULT_FILENAME, _root_cause, hub_env
from .pretrained import resolve_pretrained


# --- publishing ----------------------------------------------------------------------------------

def _hf_api(token=None):
    from huggingface_hub import HfApi

    env = hub_env()
    if env.offline:
        raise WeightsUnavailableError("HF_HUB_OFFLINE is set: unset it to talk to the Hub.")
    return HfApi(endpoint=env.endpoint, token=token), env


def _origin(source) -> str:
    """What the pushed weights were made from, in the card's words (the file decides, not the route)."""
    if source.kind == "local":
        name = source.path.name
        if name.endswith(checkpoint.KERAS_WEIGHTS_SUFFIX):
            return "saved from a Keras model (a `.weights.h5` file)"
        if checkpoint.is_keras_file(source.path):
            return "taken from attention-zoo Keras weights (safetensors keyed by Keras variable path)"
        return "converted from PyTorch weights (a safetensors state dict)"
    if source.format == checkpoint.KERAS_FORMAT or source.repo_config.get("library") == checkpoint.ZOO_LIBRARY:
        return f"taken from attention-zoo Keras weights on the Hub (hf-hub:{source.repo})"
    return f"converted from PyTorch weights (hf-hub:{source.repo}, {source.format} layout)"


def _card(*, repo_id: str, spec, tag, cfg: dict, entry, weights: str, weights_sha256: str, source_desc: str,
          origin: str,
          parity: dict | None, round_trip: float, license: str | None) -> str:
    """The model card (README.md): what the weights are, where they came from, what we measured."""
    from . import __version__

    name = f"{spec.name}.{tag}" if tag else spec.name
    lic = license or "other"
    lines = ["---", f"license: {lic}", "library_name: attention-zoo", "pipeline_tag: image-classification",
             "tags:", "- image-classification", "- keras", "- attention-zoo", f"- {spec.name}", "---", "",
             f"# {name}", "",
             f"Keras 3 (TensorFlow backend, NHWC) weights of `{spec.name}` for attention-zoo "
             f"{__version__}, {origin}, stored as safetensors keyed by Keras "
             f"variable path (`{weights}`, format `keras`).", "",
             "```python", "import zoo",
             f'model = zoo.create("{spec.name}", pretrained="hf-hub:{repo_id}")',
             f'logits = model(zoo.preprocess(images, "{name}"))', "```", "",
             "## Source", "", f"- Made from: {source_desc}"]
    if entry is not None:
        src = entry.source
        if src.get("hub"):
            lines.append(f"- Upstream: https://huggingface.co/{src['hub']} (`{src.get('filename')}`, "
                         f"revision `{src.get('revision')}`)")
        if src.get("url"):
            lines.append(f"- Upstream file: {src['url']}")
    lines += [f"- License: {lic}" + ("" if license else " (unknown: check the upstream source before use)"),
              f"- sha256 of `{weights}`: `{weights_sha256}`", "",
              "## Preprocessing", "",
              f"input size {tuple(cfg['input_size'])}, crop_pct {cfg['crop_pct']}, {cfg['interpolation']} "
              f"resize, mean {tuple(cfg['mean'])}, std {tuple(cfg['std'])}, {cfg['num_classes']} classes"
              + (f" ({cfg['labels']})" if cfg.get("labels") else "") + ".", "",
              "## Accuracy", ""]
    reported = entry.reported if entry is not None else {}
    if reported.get("top1") is not None:
        lines.append(f"Top-1 {reported['top1']} at {reported.get('at')} px as reported by "
                     f"{reported.get('by', 'the source')} (the source's figure, not measured by us).")
    else:
        lines.append("No accuracy figure is known for these weights.")
    lines += ["", "## Parity", "",
              f"- Round trip: this file loaded into a fresh `{spec.name}` gives logits identical to the "
              f"converted model (max |diff| {round_trip:g}).", ]
    if parity:
        lines.append("- Against the reference implementation (same weights, same input):")
        lines += [f"  - {k}: {v}" for k, v in parity.items()]
    else:
        lines.append("- Against the reference implementation: not measured for this upload.")
    return "\n".join(lines) + "\n"


def push_to_hub(name: str, repo_id: str, *, pretrained=True, private: bool = False, token=None,
                revision: str | None = None, parity: dict | None = None, commit_message: str | None = None,
                out_dir: str | Path | None = None, upload: bool = True) -> dict:
    """Publish converted weights: model.safetensors (Keras layout) + config.json + README.md.

    name: arch or arch.tag; pretrained: where the weights come from (True, a tag, a local converted
    .safetensors, hf-hub:...). The written file is loaded back into a fresh model first and must give
    identical logits. parity: figures measured against the reference implementation (for the card);
    when None, they are taken from the local file's metadata if `zoo convert` recorded them.
    out_dir: also keep the files there; upload=False only writes them.
    Returns {"repo", "commit", "url", "folder", "sha256", "round_trip"}.
    """
    import tempfile

    import numpy as np

    from . import __version__
    from .factory import create

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise InvalidArgumentError(f"--repo must be 'owner/name', got {repo_id!r}")
    spec, tag = registry.resolve(name)
    source = resolve_pretrained(spec, tag, pretrained)
    if source is None:
        raise InvalidArgumentError("push needs weights: pretrained=False would publish a random initialisation.")
    model = create(name, pretrained=pretrained)
    tag = source.tag or tag
    entry = source.entry or (registry.entry(spec, tag) if tag else None)
    cfg = spec.cfg(tag)
    if parity is None and source.kind == "local" and source.path.name.endswith(".safetensors"):
        meta = checkpoint.safetensors_metadata(source.path)
        parity = json.loads(meta["parity"]) if meta.get("parity") else None
    origin = _origin(source)
    if source.kind == "local":
        source_desc = f"local file `{source.path.name}` (sha256 `{checkpoint.sha256_file(source.path)}`)"
        meta = checkpoint.safetensors_metadata(source.path) if source.path.name.endswith(".safetensors") else {}
        if meta.get("source_file"):   # written by `zoo convert`: name the original checkpoint too
            source_desc += (f", which `zoo convert` made from `{meta['source_file']}` "
                            f"(sha256 `{meta.get('source_sha256')}`)")
    else:
        source_desc = f"`{source.describe()}`"

    folder = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="zoo-push-"))
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / DEFAULT_FILENAME
    checkpoint.save_keras_safetensors(model, weights, metadata={"arch": spec.name, "tag": tag or ""})
    # the file must give back the same model: load it into a fresh one and compare logits
    again = create(name, pretrained=str(weights))
    h, w, c = model.input_shape[1:]
    x = np.random.default_rng(0).standard_normal((1, h, w, c)).astype("float32")
    round_trip = float(np.max(np.abs(np.asarray(model(x)) - np.asarray(again(x)))))
    if round_trip != 0.0:
        raise CheckpointError(f"{weights} does not reload into {spec.name} identically (max |diff| {round_trip}); "
                              f"nothing was uploaded.")
    sha = checkpoint.sha256_file(weights)
    license = entry.license if entry is not None else None
    config = {
        "library": checkpoint.ZOO_LIBRARY, "library_version": __version__, "format": checkpoint.KERAS_FORMAT,
        "arch": spec.name, "tag": tag, "weights_file": DEFAULT_FILENAME, "sha256": sha,
        "num_classes": cfg["num_classes"], "in_chans": int(c),
        "cfg": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
        "source": dict(entry.source) if entry is not None else {"local_file": source_desc},
        "reported": dict(entry.reported) if entry is not None else {},
        "license": license, "parity": parity,
    }
    (folder / CONFIG_FILENAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(
        _card(repo_id=repo_id, spec=spec, tag=tag, cfg=cfg, entry=entry, weights=DEFAULT_FILENAME,
              weights_sha256=sha, source_desc=source_desc, origin=origin, parity=parity, round_trip=round_trip, license=license),
        encoding="utf-8")
    result = {"repo": repo_id, "commit": None, "url": None, "folder": str(folder), "sha256": sha,
              "round_trip": round_trip}
    if not upload:
        return result

    from huggingface_hub import errors as e

    api, env = _hf_api(token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, revision=revision,
                                 commit_message=commit_message or f"Upload {spec.name}" + (f".{tag}" if tag else "")
                                 + f" Keras weights (attention-zoo {__version__})")
    except e.HfHubHTTPError as err:
        status = getattr(getattr(err, "response", None), "status_code", "?")
        hint = (" Log in with a token that can write to it (`hf auth login`, HF_TOKEN or --token)."
                if status in (401, 403) else "")
        raise WeightsUnavailableError(f"Pushing {name} to hf-hub:{repo_id} failed: HTTP {status}: "
                                      f"{str(err).splitlines()[0]}.{hint} The files are in {folder}.") from err
    except Exception as err:  # noqa: BLE001 - connection errors, malformed answers
        raise WeightsUnavailableError(f"Pushing {name} to hf-hub:{repo_id} at {env.endpoint} failed: "
                                      f"{_root_cause(err)}. The files are in {folder}.") from err
    result.update(commit=info.oid, url=info.commit_url)
    return result


# --- manifest refresh ----------------------------------------------------------------------------

def refresh_manifest(path: str | Path | None = None, *, only=None, force: bool = False, token=None,
                     dry_run: bool = False) -> list[dict]:
    """Pin Hub entries of the manifest: revision -> the commit sha, sha256 -> the file's LFS sha256.

    only: glob(s) on 'arch.tag' (default: every entry). Entries already pinned (commit + sha256)
    are checked only with force=True, which re-resolves them from their branch ('main' for a commit).
    The manifest is written once, atomically, with every entry that could be resolved; entries
    that failed are reported and left as they were. Returns one dict per entry looked at.
    """
    import fnmatch

    from huggingface_hub import errors as e

    raw = manifest.load_raw(path)
    patterns = [only] if isinstance(only, str) else list(only or ["*"])
    api, env = _hf_api(token)
    report, changed = [], False
    for name, item in raw["weights"].items():
        if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        src = item.get("source") or {}
        if not src.get("hub"):
            report.append({"name": name, "status": "not on the Hub"})
            continue
        pinned = manifest.is_commit(src.get("revision")) and src.get("sha256")
        if pinned and not force:
            report.append({"name": name, "status": "pinned", "revision": src["revision"]})
            continue
        rev = src.get("revision") or "main"
        if force and manifest.is_commit(rev):
            rev = src.get("branch") or "main"
        filename = src.get("filename") or DEFAULT_FILENAME
        try:
            info = api.model_info(src["hub"], revision=rev, files_metadata=True)
        except (e.RepositoryNotFoundError, e.RevisionNotFoundError) as err:
            report.append({"name": name, "status": "error", "error": str(err).splitlines()[0]})
            continue
        except e.HfHubHTTPError as err:
            report.append({"name": name, "status": "error", "error": str(err).splitlines()[0]})
            continue
        except Exception as err:  # noqa: BLE001 - connection refused, timeouts: stop, change nothing
            raise WeightsUnavailableError(
                f"The Hub at {env.endpoint} cannot be reached ({_root_cause(err)}); the manifest was not "
                f"changed. Run `zoo manifest refresh` where the Hub is reachable.") from err
        sibling = next((s for s in info.siblings or [] if s.rfilename == filename), None)
        if sibling is None:
            report.append({"name": name, "status": "error", "error": f"{src['hub']}@{info.sha} has no {filename}"})
            continue
        sha256 = sibling.lfs.sha256 if sibling.lfs else None
        new = {"revision": info.sha, "sha256": sha256 or src.get("sha256")}
        if src.get("sha256") and sha256 and src["sha256"] != sha256:
            report.append({"name": name, "status": "changed upstream", "old_sha256": src["sha256"], **new})
        else:
            report.append({"name": name, "status": "updated" if new != {k: src.get(k) for k in new}
                           else "unchanged", **new})
        if sha256 is None:
            report[-1]["note"] = f"{filename} is not an LFS file: its sha256 stays unknown"
        if new != {k: src.get(k) for k in new}:
            src.update(new)
            changed = True
    if changed and not dry_run:
        manifest.write_raw(raw, path)
    return report
