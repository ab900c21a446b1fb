"""Pretrained weights for `zoo.create`: resolve the `pretrained=` argument, convert once, load.

    resolve (pretrained argument -> hub.WeightsSource) -> hub.fetch (download + checks)
    -> convert.load_state (family adapt_state, in_chans/classifier adaptation, strict load)

* PyTorch-layout weights are converted once; the Keras weights are cached under $ZOO_CACHE
  (default ~/.cache/attention-zoo/converted), keyed by arch, repo, commit, file, sha256, the
  weight shapes of the model as built (in_chans, num_classes, features_only, img_size-dependent
  tables) and the code that decides the converted numbers (CONVERSION_VERSION, the converter, the
  resampling, the family module and every layer module with a conversion hook), so the next create
  reads them directly. Cache writes are atomic and locked, so two processes creating the same model
  at once both succeed with one download and one conversion.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import sys
from pathlib import Path

from . import checkpoint, convert, manifest, registry
from .errors import CheckpointError, InvalidArgumentError, WeightsUnavailableError
from .hub import (_COMMIT_RE, DEFAULT_FILENAME, HF_PREFIX, WeightsSource, _cached_file, _checked, _commit_of,
                  _locate, _refuse_pickle, fetch, hub_env, repo_config)

logger = logging.getLogger("zoo.pretrained")

ENV_CACHE = "ZOO_CACHE"
# Bump when a change outside the hashed modules changes converted numbers (see _code_version).
CONVERSION_VERSION = 2


def cache_root() -> Path:
    """The zoo's own cache ($ZOO_CACHE, else $XDG_CACHE_HOME/attention-zoo or ~/.cache/attention-zoo)."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "attention-zoo"


# --- resolution ----------------------------------------------------------------------------------

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
            + ("Pass" if "zoo convert" in how else
               f"Convert the downloaded file once with `zoo convert FILE --arch {entry.arch}` (torch extra), then pass")
            + " pretrained=<path to the converted .safetensors> to load a local copy.")
    filename = src.get("filename") or DEFAULT_FILENAME
    _refuse_pickle(src["hub"], filename, entry.name)
    return WeightsSource(kind="hub", tag=entry.tag, repo=src["hub"], filename=filename,
                         revision=src.get("revision") or "main", sha256=src.get("sha256"),
                         format=src.get("format") or "timm", entry=entry, arch=entry.arch, trust_cache=True)


def parse_hf_spec(spec: str) -> tuple[str, str | None]:
    """'hf-hub:owner/repo[@revision]' -> (repo_id, revision)."""
    body = spec[len(HF_PREFIX):]
    repo, _, rev = body.partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise InvalidArgumentError(f"{spec!r}: expected 'hf-hub:owner/repo' or 'hf-hub:owner/repo@revision'")
    return repo, (rev or None)


def _hub_spec_source(spec: registry.ArchSpec, tag: str | None, repo: str, rev: str | None) -> WeightsSource:
    # a repo the manifest knows: take its tag and checks (sha256 only for the revision it describes)
    entry = next((e for e in spec.weights if e.hub_repo == repo), None)
    source = WeightsSource(kind="hub", repo=repo, revision=rev or "main", format="auto", arch=spec.name,
                           trust_cache=bool(rev and _COMMIT_RE.fullmatch(rev)))
    if entry is not None:
        source.tag, source.entry = entry.tag, entry
        if rev is None or rev == entry.source.get("revision"):
            source.sha256 = entry.source.get("sha256")
        source.filename = entry.source.get("filename") or DEFAULT_FILENAME
    config = repo_config(source)
    source.repo_config = config
    arch = config.get("arch") if config.get("library") == checkpoint.ZOO_LIBRARY else config.get("architecture")
    if arch and arch != spec.name and arch not in spec.aliases:
        raise InvalidArgumentError(
            f"hf-hub:{repo} holds weights for {arch!r}, not {spec.name!r} (its config.json says so): "
            f"use zoo.create({arch!r}, pretrained='hf-hub:{repo}').")
    if config.get("library") == checkpoint.ZOO_LIBRARY:
        source.filename = config.get("weights_file") or source.filename
        ctag = config.get("tag")
        if ctag and source.entry is None and f"{spec.name}.{ctag}" in manifest.entries():
            source.tag = ctag
    if tag and source.tag and tag != source.tag:
        raise InvalidArgumentError(
            f"The name asks for tag {tag!r} but hf-hub:{repo} holds tag {source.tag!r}; drop the tag from the name.")
    _refuse_pickle(repo, source.filename, source.label)
    return source


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
        return _from_entry(registry.entry(spec, tag))
    if isinstance(pretrained, os.PathLike):
        pretrained = os.fspath(pretrained)
    if not isinstance(pretrained, str):
        raise InvalidArgumentError(
            f"pretrained must be False, True, a tag, 'hf-hub:owner/repo[@rev]' or a path; got {pretrained!r}")
    if pretrained.startswith(HF_PREFIX):
        repo, rev = parse_hf_spec(pretrained)
        return _hub_spec_source(spec, tag, repo, rev)
    if _looks_like_path(pretrained):
        return WeightsSource(kind="local", tag=tag, path=checkpoint.find_weights_file(pretrained), arch=spec.name)
    if tag and pretrained != tag:
        raise InvalidArgumentError(f"The name asks for tag {tag!r} but pretrained={pretrained!r}; give the tag once.")
    return _from_entry(registry.entry(spec, pretrained))


# --- conversion cache ----------------------------------------------------------------------------

def _code_version(spec: registry.ArchSpec, model) -> str:
    """A digest of the code that decides converted values: CONVERSION_VERSION, the converter, the
    resampling, the family module and the module of every layer with its own conversion hook."""
    from . import __version__

    files = {Path(convert.__file__), Path(convert.__file__).with_name("resample.py"),
             Path(inspect.getfile(sys.modules[spec.builder.__module__]))}   # the family file
    files |= {Path(inspect.getfile(type(slot.layer))) for slot in convert.weight_slots(model).values()
              if getattr(slot.layer, "torch_to_keras", None) is not None}
    h = hashlib.sha256(f"{__version__}/{CONVERSION_VERSION}".encode())
    for f in sorted(files):
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _conversion_key(spec, source: WeightsSource, model, *, in_chans: int, num_classes: int) -> dict:
    shapes = sorted((v.path, list(v.shape)) for v in model.weights)
    return {
        "arch": spec.name, "repo": source.repo, "filename": source.filename, "sha256": source.sha256,
        "in_chans": in_chans, "num_classes": num_classes, "headless": num_classes == 0,  # features_only too
        "shapes": hashlib.sha256(json.dumps(shapes).encode()).hexdigest()[:16], "code": _code_version(spec, model),
    }


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _converted_path(key: dict, commit: str) -> Path:
    repo = key["repo"].replace("/", "--")
    name = f"{repo}--{commit[:12]}--{_digest({**key, 'commit': commit})}.safetensors"
    return cache_root() / "converted" / key["arch"] / name


def _lock_path(key: dict) -> Path:
    return cache_root() / "converted" / key["arch"] / f".{key['repo'].replace('/', '--')}--{_digest(key)}.lock"


def _load_converted(model, spec, path: Path, what: str) -> bool:
    """Load cached converted weights; a bad cache file is removed (it is rebuilt) and False returned."""
    if not path.is_file():
        return False
    try:
        convert.load_keras_state(model, checkpoint.read_safetensors(path), adapt_state=spec.adapt_state,
                                 model_name=spec.name, source=str(path))
    except CheckpointError as err:
        logger.warning("discarding the converted-weights cache %s of %s: %s", path, what, str(err).splitlines()[0])
        try:
            path.unlink()
        except OSError:
            pass
        return False
    logger.info("loaded converted weights of %s from %s", what, path)
    return True


def _save_converted(model, path: Path, key: dict, commit: str):
    try:
        checkpoint.save_keras_safetensors(model, path, metadata={"key": {**key, "commit": commit}})
        logger.info("cached converted weights in %s", path)
    except OSError as err:  # a read-only cache only costs the next create a conversion
        logger.warning("could not cache converted weights in %s: %s", path, err)


@contextlib.contextmanager
def _file_lock(path: Path):
    """An inter-process lock on `path`; without a writable cache, no lock (and no cache) at all."""
    from filelock import FileLock

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path), timeout=-1)
        lock.acquire()
    except OSError as err:
        logger.warning("zoo cache %s is not writable (%s); set %s to a writable folder", path.parent, err, ENV_CACHE)
        yield
        return
    try:
        yield
    finally:
        lock.release()


# --- loading -------------------------------------------------------------------------------------

def _load_h5(model, spec, path: Path):
    """A Keras .weights.h5 file (Keras' own format, matched by layer order and kind): loaded by
    Keras, and whatever Keras would warn about per layer (with tensor dumps) becomes one summary."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(str(path))
            error = None
        except Exception as err:  # noqa: BLE001 - Keras raises ValueError and friends per layer
            error = err
    problems = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if error is None and not problems:
        for w in caught:   # unrelated warnings (deprecations) go on as they came
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return
    first = (str(error) if error is not None else problems[0]).strip().splitlines() or [type(error).__name__]
    count = f"{len(problems)} layer warning(s)" + (" and an error" if error is not None else "")
    raise CheckpointError(
        f"Keras weights {path} do not fit model {spec.name!r} as built (in_chans, num_classes, "
        f"features_only must match the saved model): {count}; the first: {first[0][:200]}. Check that "
        f"the file was saved from this architecture.") from None


def load_file(model, spec: registry.ArchSpec, path: Path, describe: str, *, in_chans: int = 3) -> None:
    """Load one local weights file of any supported format into the model, through the one
    pipeline (convert.load_state) with the family's adapt_state; `.weights.h5` files through Keras."""
    if path.name.endswith(checkpoint.KERAS_WEIGHTS_SUFFIX):
        _load_h5(model, spec, path)
        return
    state = checkpoint.read_safetensors(path)
    convert.load_state(model, state, layout="keras" if checkpoint.is_keras_file(path) else "torch",
                       adapt_state=spec.adapt_state, first_conv=spec.first_conv, classifier=spec.classifier,
                       in_chans=in_chans, model_name=spec.name, source=describe)


def load_pretrained(model, spec: registry.ArchSpec, source: WeightsSource, *, in_chans: int, num_classes: int):
    """Load `source` into `model` (built with in_chans/num_classes; num_classes 0 = no head)."""
    if source.kind == "local":
        load_file(model, spec, source.path, source.describe(), in_chans=in_chans)
        return
    if source.format == checkpoint.KERAS_FORMAT:   # already Keras layout: nothing to convert or cache
        path = fetch(source)
        load_file(model, spec, path, source.describe(), in_chans=in_chans)
        return
    key = _conversion_key(spec, source, model, in_chans=in_chans, num_classes=num_classes)
    env = hub_env()
    # a known commit with converted weights in the cache: no download, no conversion, no request
    commit = source.revision if _COMMIT_RE.fullmatch(source.revision or "") else None
    if commit is None and (source.trust_cache or env.offline):
        cached = _cached_file(source, source.filename, env)
        commit = _commit_of(cached, env, source.repo) if cached else None
    if commit and _load_converted(model, spec, _converted_path(key, commit), source.label):
        source.commit = commit
        return
    with _file_lock(_lock_path(key)):   # one download and one conversion, however many processes
        path, from_cache = _locate(source, env)
        target = _converted_path(key, source.commit) if source.commit else None
        if target is not None and _load_converted(model, spec, target, source.label):
            return   # converted before (maybe by another process): the file itself is not needed
        path = _checked(source, env, path, from_cache)
        convert_it = not checkpoint.is_keras_file(path)   # Keras layout already: nothing to cache
        if convert_it:
            logger.info("converting %s (%s)", source.label, source.describe())
        load_file(model, spec, path, source.describe(), in_chans=in_chans)
        if convert_it and source.commit:
            _save_converted(model, _converted_path(key, source.commit), key, source.commit)


def download_weights(name: str, pretrained=True) -> tuple[WeightsSource, Path]:
    """Put the weights of `name` (arch or arch.tag) in the Hugging Face cache, verified (`zoo download`).

    pretrained: True (the name's tag or the default one), a tag, or 'hf-hub:owner/repo[@rev]'.
    Returns the source (with its resolved commit) and the cached file.
    """
    spec, tag = registry.resolve(name)
    source = resolve_pretrained(spec, tag, pretrained)
    if source is None or source.kind != "hub":
        raise InvalidArgumentError(f"zoo download fetches Hub weights; {pretrained!r} is not a Hub source.")
    return source, fetch(source)


