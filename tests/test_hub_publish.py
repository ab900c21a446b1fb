"""Publishing and maintenance: `zoo push` and loading it back, `zoo manifest refresh`, `zoo download`."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from hubtest import (ARCH, IMG, REPO, TAG, checkpoint_bytes, converted_files, fake_hub, hub_env,  # noqa: F401
                     hub_source_patch, logits, reference_logits, use_manifest, write_manifest)

import zoo
from zoo import manifest, publish
from zoo.cli import main
from zoo.errors import WeightsUnavailableError

NAME = f"{ARCH}.{TAG}"


@pytest.fixture
def lfs_uploads(monkeypatch):
    """Upload through the LFS protocol the test Hub speaks (hf_xet's storage protocol is not emulated)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)


@pytest.fixture
def converted_file(hub_env):
    """What `zoo convert` leaves: a PyTorch-layout .safetensors of the weights, with parity metadata."""
    from zoo import checkpoint

    path = hub_env / "legacy_seresnet18-converted.safetensors"
    path.write_bytes(checkpoint_bytes())
    state = checkpoint.read_safetensors(path)
    parity = {"reference": "timm 1.0.31", "max_abs_diff": 3.3e-06}
    checkpoint.save_torch_safetensors(state, path, metadata={"parity": parity})
    return path


def test_push_then_load_back(hub_env, fake_hub, lfs_uploads, converted_file, monkeypatch):
    """legacy_seresnet18 is published upstream only as a GitHub .pth: convert, push, load back."""
    monkeypatch.delenv("ZOO_MANIFEST")                     # the real manifest: not on the Hub
    fake_hub.token = "hf_write"
    result = publish.push_to_hub(NAME, "me/legacy_seresnet18.in1k", pretrained=str(converted_file), token="hf_write")
    files = fake_hub.files("me/legacy_seresnet18.in1k")
    assert sorted(files) == ["README.md", "config.json", "model.safetensors"]
    assert result["commit"] == fake_hub.repos["me/legacy_seresnet18.in1k"].refs["main"]
    assert hashlib.sha256(files["model.safetensors"]).hexdigest() == result["sha256"]
    assert fake_hub.count("PUT", "/lfs-upload/") == 1          # the weights went through LFS
    config = json.loads(files["config.json"])
    assert config["arch"] == ARCH and config["tag"] == TAG and config["format"] == "keras"
    assert config["cfg"]["interpolation"] == "bicubic" and config["license"] == "apache-2.0"
    card = files["README.md"].decode()
    for part in ("license: apache-2.0", "seresnet18-4bb0ce65.pth", "71.742", "timm results-imagenet.csv",
                 "max_abs_diff: 3.3e-06", "Round trip", 'pretrained="hf-hub:me/legacy_seresnet18.in1k"'):
        assert part in card, part

    monkeypatch.setenv("HF_TOKEN", "hf_write")
    back = zoo.create(ARCH, pretrained="hf-hub:me/legacy_seresnet18.in1k", img_size=IMG)
    np.testing.assert_array_equal(logits(back), reference_logits())
    assert back.pretrained_cfg["tag"] == TAG                  # the card's tag gives the preprocessing cfg
    assert converted_files(hub_env) == []                     # Keras layout: nothing to convert or cache
    headless = zoo.create(ARCH, pretrained="hf-hub:me/legacy_seresnet18.in1k", img_size=IMG, features_only=True)
    assert len(headless.outputs) == 5

    # once the manifest points at the pushed repo, pretrained=True uses it (format "keras")
    use_manifest(monkeypatch, hub_env, {NAME: hub_source_patch(repo="me/legacy_seresnet18.in1k", format="keras",
                                                               sha256=result["sha256"])})
    model = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())


def test_push_without_write_access_says_how(hub_env, fake_hub, lfs_uploads, converted_file, tmp_path):
    fake_hub.token = "hf_write"
    with pytest.raises(WeightsUnavailableError, match="401.*hf auth login"):
        publish.push_to_hub(NAME, "me/x", pretrained=str(converted_file), token="wrong", out_dir=tmp_path / "out")
    assert (tmp_path / "out" / "model.safetensors").is_file()   # the files stay for another try


def test_push_cli_dry_run(hub_env, fake_hub, converted_file, tmp_path, capsys):
    rc = main(["push", ARCH, "--weights", str(converted_file), "--repo", "me/se18", "--dry-run",
               "--out", str(tmp_path / "out")])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert fake_hub.requests == []
    assert "identical logits" in capsys.readouterr().out


def test_manifest_refresh_pins_revision_and_sha256(hub_env, fake_hub, tmp_path, capsys, monkeypatch):
    data = checkpoint_bytes()
    fake_hub.add_repo(REPO)
    commit = fake_hub.commit(REPO, {"model.safetensors": data})
    fake_hub.add_repo("timm/seresnet50.a1_in1k")               # a repo without the weights file
    fake_hub.commit("timm/seresnet50.a1_in1k", {"config.json": b"{}"})
    path = write_manifest(tmp_path / "refresh.json", {NAME: hub_source_patch()})
    before = json.loads(path.read_text())

    rc = main(["manifest", "refresh", "--manifest", str(path), "--only", NAME, "--only", "seresnet50.a1*",
               "--only", "legacy_seresnet34.*"])
    out = capsys.readouterr().out
    assert rc == 1                                              # seresnet50.a1_in1k failed and says so
    assert "seresnet50.a1_in1k" in out and "has no model.safetensors" in out and "not on the Hub" in out
    after = json.loads(path.read_text())
    src = after["weights"][NAME]["source"]
    assert src["revision"] == commit and src["sha256"] == hashlib.sha256(data).hexdigest()
    assert after["weights"]["seresnet50.a1_in1k"] == before["weights"]["seresnet50.a1_in1k"]
    before["weights"][NAME]["source"].update(revision=commit, sha256=src["sha256"])
    assert after == before                                      # nothing else changed
    assert path.read_text() == json.dumps(after, indent=2, ensure_ascii=False) + "\n"

    # pinned entries are left alone; the pinned manifest loads with the sha256 check
    fake_hub.reset_log()
    report = publish.refresh_manifest(path, only=NAME)
    assert report == [{"name": NAME, "status": "pinned", "revision": commit}] and fake_hub.requests == []
    monkeypatch.setenv("ZOO_MANIFEST", str(path))
    model = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())


def test_manifest_refresh_when_the_hub_is_unreachable(hub_env, fake_hub, tmp_path):
    path = write_manifest(tmp_path / "refresh.json", {NAME: hub_source_patch()})
    text = path.read_text()
    fake_hub.stop()
    with pytest.raises(WeightsUnavailableError, match="cannot be reached.*not changed"):
        publish.refresh_manifest(path, only=NAME)
    assert path.read_text() == text


def test_manifest_write_keeps_a_symlinked_manifest_a_symlink(tmp_path):
    real = tmp_path / "weights_manifest.json"
    real.write_text(json.dumps({"version": 1, "weights": {}}, indent=2) + "\n")
    link = tmp_path / "pkg.json"
    link.symlink_to(real)
    manifest.write_raw({"version": 1, "weights": {"x": 1}}, link)
    assert link.is_symlink() and json.loads(real.read_text()) == {"version": 1, "weights": {"x": 1}}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []   # no temp file left


def test_download_cli_then_offline(hub_env, fake_hub, monkeypatch, capsys):
    fake_hub.add_repo(REPO)
    commit = fake_hub.commit(REPO, {"model.safetensors": checkpoint_bytes()})
    assert main(["download", "legacy_seresnet18*"]) == 0
    out = capsys.readouterr().out
    assert commit in out and hashlib.sha256(checkpoint_bytes()).hexdigest() in out
    assert len(converted_files(hub_env)) == 1
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_hub.reset_log()
    model = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())
    assert fake_hub.requests == []


def test_download_cli_error_is_one_line(hub_env, fake_hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["download", NAME]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("zoo download: error: ") and "\n" not in err and f"zoo download {NAME}" in err


def test_card_states_the_real_origin_of_keras_weights(tmp_path):
    """Weights saved from a Keras model are not 'converted from PyTorch weights'."""
    import zoo

    src = zoo.create(ARCH, img_size=64)
    h5 = tmp_path / "mine.weights.h5"
    src.save_weights(h5)
    result = publish.push_to_hub(ARCH, "me/mine", pretrained=str(h5), upload=False, out_dir=tmp_path / "out")
    card = (Path(result["folder"]) / "README.md").read_text()
    assert "saved from a Keras model (a `.weights.h5` file)" in card
    assert "converted from PyTorch" not in card
