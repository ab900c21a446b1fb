"""Download and verify weight files through the Hugging Face Hub.

    WeightsSource (where a weight set lives) -> fetch (huggingface_hub cache + checks) -> a local file

* Downloads go through `huggingface_hub`: its cache (HF_HUB_CACHE / HF_HOME), HF_ENDPOINT,
  HF_HUB_OFFLINE, revisions and tokens (HF_TOKEN or `hf auth login`) for private repos. The
  environment is read at call time, so setting os.environ after `import zoo` works too.
* A published weight set (a manifest tag) is immutable by contract: once its file is in the
  Hugging Face cache it is used without asking the Hub again. `hf-hub:owner/repo` without a commit
  follows huggingface_hub's rules (a HEAD request checks the branch; the cache is used offline).
* Checks: the file must be a complete safetensors file and its sha256 must match the manifest (when
  known) and the Hub's own checksum (the LFS etag the cache names the blob by). A cached file that
  fails is downloaded again once; a fresh file that fails is never used.
* Pickle files (.bin/.pth/.pt) are never read from the Hub; `zoo convert` turns a local one into
  safetensors.

Resolving the `pretrained=` argument, the converted-weights cache and loading live in
`zoo.pretrained`; publishing and the manifest refresh in `zoo.publish`.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from . import checkpoint, manifest
from .errors import InvalidArgumentError, WeightsUnavailableError, ZooError

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


def _refuse_pickle(repo: str, filename: str, who: str):
    if filename.endswith(checkpoint.PICKLE_SUFFIXES):
        raise WeightsUnavailableError(
            f"{who}: {filename} in hf-hub:{repo} is a pickle-based PyTorch file, which the zoo never loads "
            f"from the Hub (unpickling can run code). Use a repo with model.safetensors, or download the file "
            f"yourself, convert it with `zoo convert {filename} --arch ARCH` and pass pretrained=<the .safetensors>.")


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
        skip = "" if env.offline else " On a machine without network, set HF_HUB_OFFLINE=1 to skip the attempt."
        msg = (f"{where} is not in the Hugging Face cache ({env.cache_dir}) and {reason}. Pre-download it where "
               f"the Hub is reachable with `{source.download_hint}` (it fills the Hugging Face cache: copy that "
               f"folder here or point HF_HUB_CACHE at it), {local_fix}.{skip}")
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


class HubUnreachable(OSError):
    """The Hub's host (or the proxy in front of it) does not accept a connection."""


CONNECT_TIMEOUT_S = 3.0   # a reachable Hub answers a TCP connect well within this


def _proxy_for(url: str) -> str | None:
    from urllib.request import getproxies, proxy_bypass

    host = urlsplit(url).hostname or ""
    proxies = getproxies()
    if not proxies or proxy_bypass(host):
        return None
    return proxies.get(urlsplit(url).scheme) or proxies.get("all")


def check_reachable(endpoint: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise HubUnreachable unless the endpoint's host (or its proxy) accepts a TCP connection within
    `timeout` seconds. huggingface_hub retries an unreachable Hub for half a minute, printing a line
    per retry; one connect tells the same in at most a few seconds."""
    import socket

    url = _proxy_for(endpoint) or endpoint
    parts = urlsplit(url if "//" in url else f"http://{url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as err:
        via = f" through the proxy {parts.hostname}:{port}" if url != endpoint else ""
        raise HubUnreachable(f"no connection to {parts.hostname}:{port}{via} within {timeout:g} s: "
                             f"{type(err).__name__}: {err}") from None


@contextlib.contextmanager
def _hf_call(env: HubEnv):
    """Around a huggingface_hub call: its per-retry warnings stay off the terminal (the zoo's own
    error says what happened; logging.getLogger('huggingface_hub').setLevel(logging.INFO) brings
    them back), and HF_HUB_OFFLINE set after import still means offline to it (huggingface_hub
    reads it at import, and would otherwise fetch its agent registry from the Hub)."""
    from huggingface_hub import constants

    hf = logging.getLogger("huggingface_hub")
    old_level, old_offline = hf.level, constants.HF_HUB_OFFLINE
    if old_level == logging.NOTSET:
        hf.setLevel(logging.ERROR)
    constants.HF_HUB_OFFLINE = old_offline or env.offline
    try:
        yield
    finally:
        hf.setLevel(old_level)
        constants.HF_HUB_OFFLINE = old_offline


def _hf_download(source: WeightsSource, filename: str, env: HubEnv, *, force: bool = False,
                 revision: str | None = None) -> Path:
    from huggingface_hub import hf_hub_download

    from . import __version__

    try:
        if not env.offline:
            try:
                check_reachable(env.endpoint)
            except HubUnreachable:
                cached = None if force else _cached_file(source, filename, env, revision=revision)
                if cached is not None:   # as huggingface_hub does: a cached branch is used when the Hub is down
                    logger.info("the Hub at %s cannot be reached: using the cached %s", env.endpoint, cached)
                    return cached
                raise
        with _hf_call(env):
            return Path(hf_hub_download(source.repo, filename, revision=revision or source.revision,
                                        cache_dir=env.cache_dir, endpoint=env.endpoint,
                                        local_files_only=env.offline, force_download=force,
                                        library_name="attention-zoo", library_version=__version__))
    except (KeyboardInterrupt, ZooError):
        raise
    except HubUnreachable as err:
        from huggingface_hub.errors import LocalEntryNotFoundError

        unreachable = LocalEntryNotFoundError(f"the Hub at {env.endpoint} cannot be reached")
        unreachable.__cause__ = err
        raise _download_error(source, filename, unreachable, env) from unreachable
    except Exception as err:  # noqa: BLE001 - every failure becomes one actionable error
        raise _download_error(source, filename, err, env) from err


def _cached_file(source: WeightsSource, filename: str, env: HubEnv, revision: str | None = None) -> Path | None:
    """The file in the Hugging Face cache for the source's revision, without any request."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(source.repo, filename, cache_dir=env.cache_dir,
                                   revision=revision or source.revision)
    return Path(found) if isinstance(found, str) else None


def _commit_of(path: Path, env: HubEnv, repo: str) -> str | None:
    """The commit a cached file belongs to: .../models--owner--name/snapshots/<commit>/<file>."""
    from huggingface_hub.file_download import repo_folder_name

    snapshots = Path(env.cache_dir, repo_folder_name(repo_id=repo, repo_type="model"), "snapshots")
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(snapshots)).parts[0]
    except ValueError:
        return None


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
                   "local model.safetensors>.")
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


def repo_config(source: WeightsSource) -> dict:
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
