"""Shared pieces of the hub tests: a local Hub, an isolated environment, synthetic weights.

Import the fixtures into a test module (`from hubtest import fake_hub, hub_env  # noqa: F401`).
Every test gets its own Hugging Face cache, zoo cache and manifest under tmp_path, and a FakeHub
that the real huggingface_hub client reaches through HF_ENDPOINT.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

import synth
from hf_server import FakeHub

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "weights_manifest.json"
ARCH = "legacy_seresnet18"          # small: 11.8M params; its key layout is in tests/fixtures
TAG = "in1k"
REPO = "timm/legacy_seresnet18.in1k"
IMG = 64                            # tests that are not about parity run at 64x64
SEED_B = synth.SEED + 1             # a second, different weight set (a later upstream commit)


@functools.cache
def checkpoint_bytes(name: str = ARCH, seed: int = synth.SEED) -> bytes:
    """A synthetic timm-layout model.safetensors (reference key layout, random values)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = synth.write_checkpoint(name, Path(d) / "model.safetensors", seed)
        return path.read_bytes()


def prefill_hf_cache(monkeypatch, tmp_path: Path, hub: FakeHub, repo_id: str, data: bytes,
                     commit: str = "0123456789abcdef0123456789abcdef01234567") -> str:
    """A standard Hugging Face cache holding `data` as repo_id's model.safetensors at `commit`,
    laid out by hand as huggingface_hub writes it (blobs / refs / snapshot symlinks), and the
    environment of an offline user of it: HF_HUB_OFFLINE=1, HF_ENDPOINT at `hub` (any request
    would show in its log), a fresh zoo cache. Returns the commit."""
    for var in ("HF_TOKEN", "HF_HOME", "ZOO_MANIFEST"):
        monkeypatch.delenv(var, raising=False)
    sha = hashlib.sha256(data).hexdigest()
    repo = tmp_path / "hf" / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / sha).write_bytes(data)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / "model.safetensors").symlink_to(Path("..", "..", "blobs", sha))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "zoo"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    return commit


def test_input(img: int = IMG) -> np.ndarray:
    return synth.synth_input((2, img, img, 3))


test_input.__test__ = False  # not a test


@functools.cache
def reference_logits(seed: int = synth.SEED, num_classes: int | None = None) -> np.ndarray:
    """Logits of the model loaded from the same weights as a local file (no hub involved)."""
    import tempfile

    import zoo

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.safetensors"
        path.write_bytes(checkpoint_bytes(ARCH, seed))
        model = zoo.create(ARCH, pretrained=str(path), img_size=IMG, num_classes=num_classes)
        return np.asarray(model(test_input()))


def logits(model) -> np.ndarray:
    return np.asarray(model(test_input()))


def hub_source_patch(repo: str = REPO, **source) -> dict:
    src = {"hub": repo, "filename": "model.safetensors", "revision": "main", "sha256": None, "format": "timm",
           "url": None}
    src.update(source)
    return {"source": src}


def write_manifest(path: Path, patches: dict[str, dict] | None = None, extra: dict[str, dict] | None = None) -> Path:
    """The real manifest with some entries patched (deep-merged) or added."""
    raw = json.loads(MANIFEST.read_text(encoding="utf-8"))
    for key, patch in (patches or {}).items():
        entry = raw["weights"][key]
        for k, v in patch.items():
            if isinstance(v, dict) and isinstance(entry.get(k), dict):
                entry[k] = {**entry[k], **v}
            else:
                entry[k] = v
    for key, entry in (extra or {}).items():
        raw["weights"][key] = copy.deepcopy(entry)
    path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def fake_hub():
    hub = FakeHub().start()
    yield hub
    hub.stop()


@pytest.fixture
def hub_env(monkeypatch, tmp_path, fake_hub):
    """HF_ENDPOINT -> the fake hub, private caches, legacy_seresnet18.in1k published at timm/... ."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HOME",
                "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "zoo"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    manifest = write_manifest(tmp_path / "manifest.json", {f"{ARCH}.{TAG}": hub_source_patch()})
    monkeypatch.setenv("ZOO_MANIFEST", str(manifest))
    # huggingface_hub reads the token file from HF_HOME at import: make sure none is sent
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
    return tmp_path


@pytest.fixture
def fast_retries(monkeypatch):
    """huggingface_hub backs off 1+2+4+8+8 s before it gives up on an unreachable Hub; tests skip
    the waiting (not the retries)."""
    import time
    import types

    from huggingface_hub.utils import _http

    monkeypatch.setattr(_http, "time", types.SimpleNamespace(**{**vars(time), "sleep": lambda s: None}))


def converted_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "zoo" / "converted").rglob("*.safetensors"))


def use_manifest(monkeypatch, tmp_path: Path, patches=None, extra=None, name="manifest2.json") -> Path:
    path = write_manifest(tmp_path / name, patches, extra)
    monkeypatch.setenv("ZOO_MANIFEST", str(path))
    return path


def subprocess_env(tmp_path: Path, hub: FakeHub, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "ZOO_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_CACHE=str(tmp_path / "hf"), ZOO_CACHE=str(tmp_path / "zoo"),
               ZOO_MANIFEST=os.environ["ZOO_MANIFEST"], HF_HUB_DISABLE_PROGRESS_BARS="1",
               HF_HOME=str(tmp_path / "hf-home"), NO_PROXY="127.0.0.1,localhost", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=str(ROOT) + os.pathsep + str(ROOT / "tests"))
    env.update(extra)
    return env
