"""Where pretrained weights come from: the manifest, the Hugging Face Hub, or a local file.

    resolve (pretrained argument -> WeightsSource) -> fetch (huggingface_hub cache + checks)
    -> convert (PyTorch layout -> Keras, once) -> load

* Downloads go through `huggingface_hub`: its cache (HF_HUB_CACHE / HF_HOME), HF_ENDPOINT,
  HF_HUB_OFFLINE, revisions and tokens (HF_TOKEN or `hf auth login`) for private repos. The
  environment is read at call time, so setting os.environ after `import zoo` works too.
* A published weight set (a manifest tag) is immutable by contract: once its file is in the
  Hugging Face cache it is used without asking the Hub again. `hf-hub:owner/repo` without a commit
  follows huggingface_hub's rules (a HEAD request checks the branch; the cache is used offline).
* Checks: the file must be a complete safetensors file and its sha256 must match the manifest (when
  known) and the Hub's own checksum (the LFS etag the cache names the blob by). A cached file that
  fails is downloaded again once; a fresh file that fails is never used.
* PyTorch-layout weights are converted once; the Keras weights are cached under $ZOO_CACHE
  (default ~/.cache/attention-zoo/converted), keyed by arch, repo, commit, file, sha256 and the
  weight shapes of the model as built (in_chans, num_classes, features_only, img_size-dependent
  tables), so the next create reads them directly. Cache writes are atomic and locked, so two
  processes creating the same model at once both succeed with one download and one conversion.
* Pickle files (.bin/.pth/.pt) are never read from the Hub; `zoo convert` turns a local one into
  safetensors.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import checkpoint, convert, manifest, registry
from .errors import CheckpointError, InvalidArgumentError, WeightsUnavailableError, ZooError

logger = logging.getLogger("zoo.hub")

HF_PREFIX = "hf-hub:"
DEFAULT_FILENAME = "model.safetensors"
CONFIG_FILENAME = "config.json"
ENV_CACHE = "ZOO_CACHE"
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_TRUE = {"1", "on", "yes", "true"}


@dataclass
class WeightsSource:
    """A resolved `pretrained=` argument."""
    kind: str                     # "local" | "hub"
    tag: str | None = None        # manifest tag, when the weights are a known weight set
    path: Path | None = None      # local file (kind == "local")
    repo: str | None = None
    filename: str = DEFAULT_FILENAME
    revision: str | None = None
    sha256: str | None = None     # expected sha256 of the file (manifest), None when unknown
    format: str = "timm"          # manifest format; "auto" for hf-hub: specs (read from the file)
    entry: manifest.WeightEntry | None = None
    arch: str | None = None
    trust_cache: bool = False     # use the cached copy without asking the Hub (immutable weights)
    commit: str | None = None     # the commit the file was resolved to (set by fetch)
    repo_config: dict = field(default_factory=dict)   # the repo's config.json (hf-hub: specs)

    def describe(self) -> str:
        if self.kind == "local":
            return str(self.path)
        rev = self.commit or (self.revision if self.revision and self.revision != "main" else None)
        return f"hf-hub:{self.repo}" + (f"@{rev}" if rev else "") + f"/{self.filename}"

    @property
    def label(self) -> str:
        """What the weights are, for messages: `arch.tag` or `arch (hf-hub:owner/repo)`."""
        if self.entry is not None:
            return self.entry.name
        base = f"{self.arch}.{self.tag}" if self.arch and self.tag else (self.arch or "weights")
        return f"{base} (hf-hub:{self.repo})" if self.kind == "hub" else base

    @property
    def download_hint(self) -> str:
        if self.entry is not None:
            return f"zoo download {self.entry.name}"
        rev = f"@{self.revision}" if self.revision and self.revision != "main" else ""
        return f"zoo download {self.arch or 'ARCH'} --weights hf-hub:{self.repo}{rev}"


# --- environment ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class HubEnv:
    endpoint: str
    cache_dir: str
    offline: bool


def hub_env() -> HubEnv:
    """huggingface_hub's settings, read from the environment now (its constants are read at import)."""
    from huggingface_hub import constants

    env = os.environ
    endpoint = (env.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    if any(k in env for k in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME")):
        home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache"), "huggingface")
        cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
        cache = os.path.expandvars(os.path.expanduser(cache))
    else:
        cache = constants.HF_HUB_CACHE
    flag = env.get("HF_HUB_OFFLINE", env.get("TRANSFORMERS_OFFLINE"))
    offline = flag.strip().lower() in _TRUE if flag is not None else bool(constants.HF_HUB_OFFLINE)
    return HubEnv(endpoint=endpoint, cache_dir=cache, offline=offline)


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


def _refuse_pickle(repo: str, filename: str, who: str):
    if filename.endswith(checkpoint.PICKLE_SUFFIXES):
        raise WeightsUnavailableError(
            f"{who}: {filename} in hf-hub:{repo} is a pickle-based PyTorch file, which the zoo never loads "
            f"from the Hub (unpickling can run code). Use a repo with model.safetensors, or download the file "
            f"yourself, convert it with `zoo convert {filename} --arch ARCH` and pass pretrained=<the .safetensors>.")


def _from_entry(entry: manifest.WeightEntry) -> WeightsSource:
    src = entry.source
    if not src.get("hub"):
        how = entry.notes or src.get("how") or ""
        url = src.get("url")
        raise WeightsUnavailableError(
            f"Weights {entry.name} are not on the Hugging Face Hub"
            + (f" (upstream: {url})" if url else "") + ". "
            + (how + " " if how else "")
            + "Pass pretrained=<path to the converted .safetensors> to load a local copy.")
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
    config = _repo_config(source)
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
        return _from_entry(registry._entry(spec, tag))
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
    return _from_entry(registry._entry(spec, pretrained))


# --- download and verification -------------------------------------------------------------------

def _hf_errors():
    from huggingface_hub import errors as e

    remote_missing = getattr(e, "RemoteEntryNotFoundError", e.EntryNotFoundError)
    return e, remote_missing


def _download_error(source: WeightsSource, filename: str, err: Exception, env: HubEnv) -> WeightsUnavailableError:
    """One actionable error: model, tag, file, what happened, how to fix it."""
    e, remote_missing = _hf_errors()
    where = f"{filename} of hf-hub:{source.repo}" + (f"@{source.revision}" if source.revision != "main" else "")
    head = f"Cannot load pretrained weights {source.label}: "
    local_fix = "or pass pretrained=<path to a local model.safetensors>"
    offline = isinstance(err, (e.OfflineModeIsEnabled, e.LocalEntryNotFoundError)) or (
        isinstance(err, ValueError) and env.offline)
    if offline:
        reason = ("HF_HUB_OFFLINE is set" if env.offline
                  else f"the Hub at {env.endpoint} cannot be reached ({_root_cause(err)})")
        msg = (f"{where} is not in the Hugging Face cache ({env.cache_dir}) and {reason}. Pre-download it where "
               f"the Hub is reachable with `{source.download_hint}` (it fills the Hugging Face cache: copy that "
               f"folder here or point HF_HUB_CACHE at it), {local_fix}.")
    elif isinstance(err, e.GatedRepoError):
        msg = (f"hf-hub:{source.repo} (for {filename}) is gated: accept its terms at {env.endpoint}/{source.repo} "
               f"and log in (`hf auth login` or set HF_TOKEN), {local_fix}.")
    elif isinstance(err, e.RepositoryNotFoundError):
        msg = (f"hf-hub:{source.repo} (for {filename}) does not exist or is private. Check the name; for a "
               f"private repo log in (`hf auth login`) or set HF_TOKEN to a token that can read it.")
    elif isinstance(err, e.RevisionNotFoundError):
        msg = (f"revision {source.revision!r} does not exist in hf-hub:{source.repo} (for {filename}). Use a "
               f"branch, tag or commit of that repo (or drop '@{source.revision}').")
    elif isinstance(err, remote_missing):
        msg = (f"hf-hub:{source.repo} has no file {filename}. The zoo reads only .safetensors weights from the "
               f"Hub; if the repo holds a pickle (.bin/.pth), download it yourself and convert it with "
               f"`zoo convert FILE --arch {source.arch or 'ARCH'}`, then pass pretrained=<the .safetensors>.")
    elif isinstance(err, e.HfHubHTTPError):
        status = getattr(getattr(err, "response", None), "status_code", "?")
        msg = (f"the Hub answered HTTP {status} for {where}; nothing was loaded. Try again later; if it persists, "
               f"pre-download with `{source.download_hint}` elsewhere, {local_fix}.")
    else:
        msg = (f"downloading {where} failed ({_root_cause(err)}); nothing was loaded. "
               f"Try again (an interrupted download resumes); if it persists, pre-download with "
               f"`{source.download_hint}`, {local_fix}.")
    return WeightsUnavailableError(head + msg)


def _root_cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _hf_download(source: WeightsSource, filename: str, env: HubEnv, *, force: bool = False,
                 revision: str | None = None) -> Path:
    from huggingface_hub import hf_hub_download

    from . import __version__

    try:
        return Path(hf_hub_download(source.repo, filename, revision=revision or source.revision,
                                    cache_dir=env.cache_dir, endpoint=env.endpoint,
                                    local_files_only=env.offline, force_download=force,
                                    library_name="attention-zoo", library_version=__version__))
    except (KeyboardInterrupt, ZooError):
        raise
    except Exception as err:  # noqa: BLE001 - every failure becomes one actionable error
        raise _download_error(source, filename, err, env) from err


def _cached_file(source: WeightsSource, filename: str, env: HubEnv) -> Path | None:
    """The file in the Hugging Face cache for the source's revision, without any request."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(source.repo, filename, cache_dir=env.cache_dir, revision=source.revision)
    return Path(found) if isinstance(found, str) else None


def _commit_of(path: Path, env: HubEnv, repo: str) -> str | None:
    """The commit a cached file belongs to: .../models--owner--name/snapshots/<commit>/<file>."""
    from huggingface_hub.file_download import repo_folder_name

    snapshots = Path(env.cache_dir, repo_folder_name(repo_id=repo, repo_type="model"), "snapshots")
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(snapshots)).parts[0]
    except ValueError:
        return None


def _repo_config(source: WeightsSource) -> dict:
    """The repo's config.json (timm's or the zoo's), {} when it has none or it cannot be read now."""
    from huggingface_hub import try_to_load_from_cache

    env = hub_env()
    found = try_to_load_from_cache(source.repo, CONFIG_FILENAME, cache_dir=env.cache_dir, revision=source.revision)
    if not isinstance(found, str) and found is not None:
        return {}   # huggingface_hub cached that this commit has no config.json: nothing to ask
    path = Path(found) if isinstance(found, str) and (source.trust_cache or env.offline) else None
    if path is None:
        try:
            path = _hf_download(source, CONFIG_FILENAME, env)
        except WeightsUnavailableError as err:
            e, _ = _hf_errors()
            unreachable = isinstance(err.__cause__, (e.LocalEntryNotFoundError, e.OfflineModeIsEnabled))
            if unreachable and _cached_file(source, source.filename, env) is None:
                # the weights cannot come either: say so now rather than wait for another round of retries
                raise _download_error(source, source.filename, err.__cause__, env) from err.__cause__
            logger.debug("no config.json for %s: %s", source.repo, err)
            return {}
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _verify(source: WeightsSource, path: Path) -> tuple[str, str] | None:
    """(kind, problem) when the file must not be used: 'corrupt' or 'mismatch'; None when it is good."""
    broken = checkpoint.safetensors_problem(path)
    if broken:
        return "corrupt", f"{source.filename} in the Hugging Face cache is truncated or corrupt ({broken})"
    blob = Path(os.path.realpath(path)).name
    etag = blob if _SHA256_RE.fullmatch(blob) else None
    if not (source.sha256 or etag):
        return None
    actual = checkpoint.sha256_file(path)
    if source.sha256 and actual != source.sha256.lower():
        return "mismatch", (f"{source.filename} of hf-hub:{source.repo}@{source.commit or source.revision} has "
                            f"sha256 {actual}, but the manifest expects {source.sha256}; the file was not used")
    if etag and actual != etag:
        return "corrupt", (f"{source.filename} in the Hugging Face cache does not match the Hub's checksum "
                           f"(sha256 {actual}, expected {etag}); it is corrupt")
    return None


def _locate(source: WeightsSource, env: HubEnv, *, force: bool = False) -> tuple[Path, bool]:
    """(path, from_cache): the file in the Hugging Face cache, downloading it when needed. A published
    weight set already cached is used without any request. Sets `source.commit`."""
    if source.kind != "hub":
        raise InvalidArgumentError(f"fetch() takes a Hub source, got {source.describe()}")
    _refuse_pickle(source.repo, source.filename, source.label)
    cached = _cached_file(source, source.filename, env)
    if cached is not None and (source.trust_cache or env.offline) and not force:
        path = cached
    else:
        path = _hf_download(source, source.filename, env, force=force)
    source.commit = _commit_of(path, env, source.repo)
    return path, (not force and path == cached)


def _checked(source: WeightsSource, env: HubEnv, path: Path, from_cache: bool) -> Path:
    """The file once it passed the checks; a cached file that fails is downloaded again once."""
    problem = _verify(source, path)
    if problem and from_cache:
        if env.offline:
            raise WeightsUnavailableError(
                f"Cannot load pretrained weights {source.label}: {problem[1]}. HF_HUB_OFFLINE is set, so it "
                f"cannot be downloaded again: run `{source.download_hint}` where the Hub is reachable.")
        logger.warning("%s; downloading it again", problem[1])
        path = _hf_download(source, source.filename, env, force=True,
                            revision=source.commit if source.commit and source.trust_cache else None)
        source.commit = _commit_of(path, env, source.repo)
        problem = _verify(source, path)
    if problem:
        kind, text = problem
        if kind == "mismatch":
            fix = (f"If the upstream weights changed on purpose, run `zoo manifest refresh --only {source.label}` "
                   f"(or set the new sha256 in weights_manifest.json); to load a specific upstream revision "
                   f"anyway, pass pretrained='hf-hub:{source.repo}@<commit>'.")
        else:
            fix = ("The download itself is broken; try again later, or pass pretrained=<path to a good "
                   f"local model.safetensors>.")
        raise WeightsUnavailableError(f"Cannot load pretrained weights {source.label}: {text}. {fix}")
    return path


def fetch(source: WeightsSource, *, force: bool = False) -> Path:
    """The verified local file of a hub source, downloaded through the Hugging Face cache if needed.

    A published weight set already in the cache is used without any request. A cached file that
    fails the checks is downloaded again once (force_download); a fresh file that fails is an error.
    Sets `source.commit`.
    """
    env = hub_env()
    path, from_cache = _locate(source, env, force=force)
    return _checked(source, env, path, from_cache)


# --- conversion cache ----------------------------------------------------------------------------

def _code_version(spec: registry.ArchSpec) -> str:
    """A digest of the code that decides converted values: the converter and the family module."""
    import inspect

    from . import __version__

    h = hashlib.sha256(__version__.encode())
    for mod in (convert, inspect.getmodule(spec.builder)):
        try:
            h.update(Path(inspect.getfile(mod)).read_bytes())
        except (TypeError, OSError):
            h.update(str(mod).encode())
    return h.hexdigest()[:16]


def _conversion_key(spec, source: WeightsSource, model, *, in_chans: int, num_classes: int) -> dict:
    shapes = sorted((v.path, list(v.shape)) for v in model.weights)
    return {
        "arch": spec.name, "repo": source.repo, "filename": source.filename, "sha256": source.sha256,
        "in_chans": in_chans, "num_classes": num_classes, "headless": num_classes == 0,  # features_only too
        "shapes": hashlib.sha256(json.dumps(shapes).encode()).hexdigest()[:16], "code": _code_version(spec),
    }


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _converted_path(key: dict, commit: str) -> Path:
    repo = key["repo"].replace("/", "--")
    name = f"{repo}--{commit[:12]}--{_digest({**key, 'commit': commit})}.safetensors"
    return cache_root() / "converted" / key["arch"] / name


def _lock_path(key: dict) -> Path:
    return cache_root() / "converted" / key["arch"] / f".{key['repo'].replace('/', '--')}--{_digest(key)}.lock"


def _load_converted(model, path: Path, what: str) -> bool:
    """Load cached converted weights; a bad cache file is removed (it is rebuilt) and False returned."""
    if not path.is_file():
        return False
    try:
        checkpoint.load_keras_state(model, checkpoint.read_safetensors(path), source=str(path))
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

def _load_file(model, spec, path: Path, describe: str, *, in_chans: int, num_classes: int):
    """Load one local weights file of any supported format into the model."""
    if path.name.endswith(checkpoint.KERAS_WEIGHTS_SUFFIX):
        try:
            model.load_weights(str(path))
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(
                f"Keras weights {path} do not fit {spec.name} as built (in_chans={in_chans}, "
                f"num_classes={num_classes}): {e}") from None
        return
    state = checkpoint.read_safetensors(path)
    if checkpoint.is_keras_file(path):
        checkpoint.load_keras_state(model, state, first_conv=spec.first_conv, classifier=spec.classifier,
                                    in_chans=in_chans, model_name=spec.name, source=describe)
        return
    convert.load_torch_state(model, state, first_conv=spec.first_conv, classifier=spec.classifier,
                             in_chans=in_chans, checkpoint_filter=spec.checkpoint_filter,
                             model_name=spec.name, source=describe)


def load_pretrained(model, spec: registry.ArchSpec, source: WeightsSource, *, in_chans: int, num_classes: int):
    """Load `source` into `model` (built with in_chans/num_classes; num_classes 0 = no head)."""
    if source.kind == "local":
        _load_file(model, spec, source.path, source.describe(), in_chans=in_chans, num_classes=num_classes)
        return
    if source.format == checkpoint.KERAS_FORMAT:   # already Keras layout: nothing to convert or cache
        path = fetch(source)
        _load_file(model, spec, path, source.describe(), in_chans=in_chans, num_classes=num_classes)
        return
    key = _conversion_key(spec, source, model, in_chans=in_chans, num_classes=num_classes)
    env = hub_env()
    # a known commit with converted weights in the cache: no download, no conversion, no request
    commit = source.revision if _COMMIT_RE.fullmatch(source.revision or "") else None
    if commit is None and (source.trust_cache or env.offline):
        cached = _cached_file(source, source.filename, env)
        commit = _commit_of(cached, env, source.repo) if cached else None
    if commit and _load_converted(model, _converted_path(key, commit), source.label):
        source.commit = commit
        return
    with _file_lock(_lock_path(key)):   # one download and one conversion, however many processes
        path, from_cache = _locate(source, env)
        target = _converted_path(key, source.commit) if source.commit else None
        if target is not None and _load_converted(model, target, source.label):
            return   # converted before (maybe by another process): the file itself is not needed
        path = _checked(source, env, path, from_cache)
        if checkpoint.is_keras_file(path):
            _load_file(model, spec, path, source.describe(), in_chans=in_chans, num_classes=num_classes)
            return
        logger.info("converting %s (%s)", source.label, source.describe())
        _load_file(model, spec, path, source.describe(), in_chans=in_chans, num_classes=num_classes)
        if source.commit:
            _save_converted(model, _converted_path(key, source.commit), key, source.commit)


def download(source: WeightsSource) -> Path:
    """The verified weights file of a hub source, through huggingface_hub's cache (see fetch)."""
    return fetch(source)


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


# --- publishing ----------------------------------------------------------------------------------

def _hf_api(token=None):
    from huggingface_hub import HfApi

    env = hub_env()
    if env.offline:
        raise WeightsUnavailableError("HF_HUB_OFFLINE is set: unset it to talk to the Hub.")
    return HfApi(endpoint=env.endpoint, token=token), env


def _card(*, repo_id: str, spec, tag, cfg: dict, entry, weights: str, weights_sha256: str, source_desc: str,
          parity: dict | None, round_trip: float, license: str | None) -> str:
    """The model card (README.md): what the weights are, where they came from, what we measured."""
    from . import __version__

    name = f"{spec.name}.{tag}" if tag else spec.name
    lic = license or "other"
    lines = ["---", f"license: {lic}", "library_name: attention-zoo", "pipeline_tag: image-classification",
             "tags:", "- image-classification", "- keras", "- attention-zoo", f"- {spec.name}", "---", "",
             f"# {name}", "",
             f"Keras 3 (TensorFlow backend, NHWC) weights of `{spec.name}` for attention-zoo "
             f"{__version__}, converted from PyTorch weights and stored as safetensors keyed by Keras "
             f"variable path (`{weights}`, format `keras`).", "",
             "```python", "import zoo",
             f'model = zoo.create("{spec.name}", pretrained="hf-hub:{repo_id}")',
             f'logits = model(zoo.preprocess(images, "{name}"))', "```", "",
             "## Source", "", f"- Converted from: {source_desc}"]
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
    entry = source.entry or (registry._entry(spec, tag) if tag else None)
    cfg = spec.cfg(tag)
    if parity is None and source.kind == "local" and source.path.name.endswith(".safetensors"):
        meta = checkpoint.safetensors_metadata(source.path)
        parity = json.loads(meta["parity"]) if meta.get("parity") else None
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
              weights_sha256=sha, source_desc=source_desc, parity=parity, round_trip=round_trip, license=license),
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
