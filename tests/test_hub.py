"""Pretrained weights through the Hugging Face Hub: download, cache, pinning, checks, offline, races.

A local Hub look-alike (tests/hf_server.py) serves synthetic timm-layout checkpoints; the real
huggingface_hub client reaches it through HF_ENDPOINT. The model is legacy_seresnet18 at 64x64.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import synth
from hubtest import (ARCH, IMG, REPO, SEED_B, TAG, checkpoint_bytes, converted_files, fake_hub,  # noqa: F401
                     fast_retries, hub_env, hub_source_patch, logits, prefill_hf_cache, reference_logits,
                     subprocess_env, use_manifest)

import zoo
from zoo import hub, pretrained
from zoo.errors import InvalidArgumentError, WeightsUnavailableError

NAME = f"{ARCH}.{TAG}"


def publish(fake_hub, seed=synth.SEED, repo=REPO, **files):
    fake_hub.add_repo(repo)
    return fake_hub.commit(repo, {"model.safetensors": checkpoint_bytes(ARCH, seed), **files})


def blob_of(tmp_path, repo=REPO) -> Path:
    blobs = list((tmp_path / "hf" / f"models--{repo.replace('/', '--')}" / "blobs").iterdir())
    assert len(blobs) == 1, blobs
    return blobs[0]


def test_first_download_then_cached_loads_make_no_request(hub_env, fake_hub):
    commit = publish(fake_hub)
    model = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())
    assert fake_hub.count("GET", "/cdn/") == 1
    assert commit in model.pretrained_cfg["weights"]          # provenance: the resolved commit
    assert len(converted_files(hub_env)) == 1

    fake_hub.reset_log()
    again = zoo.create(NAME, pretrained=True, img_size=IMG)   # converted weights from the zoo cache
    np.testing.assert_array_equal(logits(again), reference_logits())
    assert fake_hub.requests == []

    # another head: converted again from the Hugging Face cache, still without any request
    ten = zoo.create(ARCH, pretrained=True, img_size=IMG, num_classes=10)
    assert fake_hub.requests == []
    assert ten.output_shape == (None, 10)
    features = zoo.create(ARCH, pretrained=True, img_size=IMG, features_only=True)
    assert fake_hub.requests == [] and len(features.outputs) == 5
    assert len(converted_files(hub_env)) == 3              # one per weight layout: 1000, 10, no head


def test_revision_pinning(hub_env, fake_hub, monkeypatch):
    first = publish(fake_hub)
    second = publish(fake_hub, seed=SEED_B)   # main moves on
    assert first != second
    old = zoo.create(ARCH, pretrained=f"hf-hub:{REPO}@{first}", img_size=IMG)
    new = zoo.create(ARCH, pretrained=f"hf-hub:{REPO}", img_size=IMG)
    np.testing.assert_array_equal(logits(old), reference_logits())
    np.testing.assert_array_equal(logits(new), reference_logits(SEED_B))
    assert f"@{first}/" in old.pretrained_cfg["weights"] and f"@{second}/" in new.pretrained_cfg["weights"]
    # a branch is asked about again (HEAD), but nothing is downloaded or converted twice
    fake_hub.reset_log()
    zoo.create(ARCH, pretrained=f"hf-hub:{REPO}", img_size=IMG)
    assert fake_hub.count("GET") == 0 and fake_hub.count("HEAD", "/resolve/main/") >= 1

    # a manifest pinned to a commit gets that commit, and once cached asks nothing
    use_manifest(monkeypatch, hub_env, {NAME: hub_source_patch(revision=first)})
    fake_hub.reset_log()
    pinned = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(pinned), reference_logits())
    assert fake_hub.requests == []

    with pytest.raises(WeightsUnavailableError, match="revision 'v9' does not exist"):
        zoo.create(ARCH, pretrained=f"hf-hub:{REPO}@v9", img_size=IMG)


def test_sha256_mismatch_is_refused(hub_env, fake_hub, monkeypatch):
    publish(fake_hub)
    use_manifest(monkeypatch, hub_env, {NAME: hub_source_patch(sha256="0" * 64)})
    with pytest.raises(WeightsUnavailableError) as err:
        zoo.create(ARCH, pretrained=True, img_size=IMG)
    msg = str(err.value)
    assert NAME in msg and "model.safetensors" in msg and "sha256" in msg and "not used" in msg
    assert "zoo manifest refresh" in msg
    assert fake_hub.count("GET", "/cdn/") == 1           # a fresh download that fails is not retried
    assert converted_files(hub_env) == []

    # the right sha256 loads (from the cache: no second download)
    good = hashlib.sha256(checkpoint_bytes()).hexdigest()
    use_manifest(monkeypatch, hub_env, {NAME: hub_source_patch(sha256=good)}, name="m3.json")
    model = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())
    assert fake_hub.count("GET", "/cdn/") == 1


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_cached_file_is_fetched_again_once(hub_env, fake_hub, damage):
    publish(fake_hub)
    zoo.create(ARCH, pretrained=True, img_size=IMG)
    blob = blob_of(hub_env)
    data = blob.read_bytes()
    if damage == "truncate":
        blob.write_bytes(data[: len(data) // 2])
    else:  # same size, different bytes: only the checksum sees it
        mid = len(data) // 2
        blob.write_bytes(data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 16]) + data[mid + 16:])
    for f in converted_files(hub_env):     # force a conversion from the damaged file
        f.unlink()
    fake_hub.reset_log()
    model = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())
    assert fake_hub.count("GET", "/cdn/") == 1
    assert blob.read_bytes() == data


def test_damaged_converted_cache_is_rebuilt_without_request(hub_env, fake_hub):
    publish(fake_hub)
    zoo.create(ARCH, pretrained=True, img_size=IMG)
    [cached] = converted_files(hub_env)
    cached.write_bytes(cached.read_bytes()[:1000])
    fake_hub.reset_log()
    model = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())
    assert fake_hub.requests == []
    zoo.checkpoint.check_safetensors(cached)                  # rewritten whole


def test_truncated_download_is_an_error_then_retry_works(hub_env, fake_hub):
    publish(fake_hub)
    fake_hub.fail("GET", "/cdn/", "truncate")
    with pytest.raises(WeightsUnavailableError) as err:
        zoo.create(ARCH, pretrained=True, img_size=IMG)
    msg = str(err.value)
    assert NAME in msg and "model.safetensors" in msg and "Try again" in msg
    model = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())


def test_connection_cut_mid_download_resumes(hub_env, fake_hub):
    publish(fake_hub)
    fake_hub.fail("GET", "/cdn/", "cut")
    model = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())
    gets = [r for r in fake_hub.requests if r.method == "GET" and "/cdn/" in r.path]
    assert len(gets) == 2     # huggingface_hub retried (resuming with a Range header once it had a chunk)


def test_server_error_mid_download(hub_env, fake_hub):
    publish(fake_hub)
    fake_hub.fail("GET", "/cdn/", "500")
    with pytest.raises(WeightsUnavailableError) as err:
        zoo.create(ARCH, pretrained=True, img_size=IMG)
    msg = str(err.value)
    assert "HTTP 500" in msg and NAME in msg and "model.safetensors" in msg and f"zoo download {NAME}" in msg
    snapshots = hub_env / "hf" / f"models--{REPO.replace('/', '--')}" / "snapshots"
    assert not list(snapshots.rglob("model.safetensors"))     # nothing half-written is left to load
    model = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())


def test_offline_without_cache(hub_env, fake_hub, monkeypatch):
    publish(fake_hub)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as err:
        zoo.create(ARCH, pretrained=True, img_size=IMG)
    msg = str(err.value)
    for part in (NAME, REPO, "model.safetensors", "HF_HUB_OFFLINE", f"zoo download {NAME}", "pretrained=<path"):
        assert part in msg, (part, msg)
    assert fake_hub.requests == []


def test_no_network_without_cache(hub_env, fake_hub, fast_retries):
    publish(fake_hub)
    fake_hub.stop()                                           # the endpoint refuses connections
    with pytest.raises(WeightsUnavailableError) as err:
        zoo.create(ARCH, pretrained=True, img_size=IMG)
    msg = str(err.value)
    assert "cannot be reached" in msg and f"zoo download {NAME}" in msg and "model.safetensors" in msg


def test_unreachable_hub_fails_at_once_without_retry_noise(hub_env, fake_hub, monkeypatch, caplog):
    """The README's example offline: one connect attempt, no back-off, no retry lines, the fix named."""
    from huggingface_hub.utils import _http

    sleeps = []
    monkeypatch.setattr(_http.time, "sleep", sleeps.append)
    publish(fake_hub)
    fake_hub.stop()
    with caplog.at_level("WARNING"), pytest.raises(WeightsUnavailableError) as err:
        zoo.create(ARCH, pretrained=True, img_size=IMG)
    assert sleeps == [], "huggingface_hub backed off and retried"
    assert not [r for r in caplog.records if r.name.startswith("huggingface_hub")]
    msg = str(err.value)
    assert "cannot be reached" in msg and "HF_HUB_OFFLINE=1" in msg and f"zoo download {NAME}" in msg


def test_offline_and_no_network_with_cache(hub_env, fake_hub, monkeypatch, fast_retries):
    publish(fake_hub)
    zoo.create(ARCH, pretrained=True, img_size=IMG)
    zoo.create(ARCH, pretrained=f"hf-hub:{REPO}", img_size=IMG)
    for f in converted_files(hub_env):
        f.unlink()
    fake_hub.reset_log()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())
    assert fake_hub.requests == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    fake_hub.stop()     # a branch of an hf-hub: repo falls back to the cache when the Hub is down
    model = zoo.create(ARCH, pretrained=f"hf-hub:{REPO}", img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())


def test_private_repo_needs_a_token(hub_env, fake_hub, monkeypatch):
    fake_hub.token = "hf_secret"
    fake_hub.add_repo("me/private-se18", private=True)
    fake_hub.commit("me/private-se18", {"model.safetensors": checkpoint_bytes()})
    with pytest.raises(WeightsUnavailableError, match="HF_TOKEN"):
        zoo.create(ARCH, pretrained="hf-hub:me/private-se18", img_size=IMG)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    model = zoo.create(ARCH, pretrained="hf-hub:me/private-se18", img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())


def test_pickles_are_never_taken_from_the_hub(hub_env, fake_hub, monkeypatch):
    fake_hub.add_repo("someone/se18-pth", {"pytorch_model.bin": b"\x80\x02not really", "config.json": b"{}"})
    with pytest.raises(WeightsUnavailableError, match="has no file model.safetensors.*zoo convert"):
        zoo.create(ARCH, pretrained="hf-hub:someone/se18-pth", img_size=IMG)
    assert fake_hub.count("GET", "pytorch_model.bin") == 0
    use_manifest(monkeypatch, hub_env, {NAME: hub_source_patch(repo="someone/se18-pth", filename="pytorch_model.bin")})
    fake_hub.reset_log()
    with pytest.raises(WeightsUnavailableError, match="pickle"):
        zoo.create(ARCH, pretrained=True, img_size=IMG)
    assert fake_hub.requests == []


def test_hf_hub_repo_of_another_architecture(hub_env, fake_hub):
    fake_hub.add_repo("timm/seresnet50.a1_in1k", {"config.json": b'{"architecture": "seresnet50"}',
                                                  "model.safetensors": checkpoint_bytes()})
    with pytest.raises(InvalidArgumentError, match="holds weights for 'seresnet50'"):
        zoo.create(ARCH, pretrained="hf-hub:timm/seresnet50.a1_in1k", img_size=IMG)


def test_weights_not_on_the_hub_say_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO_MANIFEST", raising=False)          # the real manifest: a GitHub .pth
    with pytest.raises(WeightsUnavailableError, match="not on the Hugging Face Hub.*zoo convert"):
        zoo.create(ARCH, pretrained=True, img_size=IMG)


_RACE = textwrap.dedent("""
    import sys, time, pathlib, logging
    import numpy as np
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    import zoo, synth
    me, other = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    me.with_suffix(".ready").touch()
    deadline = time.time() + 120
    while not other.with_suffix(".ready").exists() and time.time() < deadline:
        time.sleep(0.01)
    start = time.time()
    model = zoo.create("legacy_seresnet18", pretrained=True, img_size=64)
    me.with_suffix(".times").write_text(f"{start} {time.time()}")
    np.save(me, np.asarray(model(synth.synth_input((2, 64, 64, 3)))))
""")


def test_two_processes_create_the_same_model_at_once(hub_env, fake_hub):
    publish(fake_hub)
    fake_hub.fail("GET", "/cdn/", "slow", value=1.5)   # keep the first download going while the other asks
    script = hub_env / "race.py"
    script.write_text(_RACE)
    outs = [hub_env / "a.npy", hub_env / "b.npy"]
    env = subprocess_env(hub_env, fake_hub)
    procs = [subprocess.Popen([sys.executable, str(script), str(outs[i]), str(outs[1 - i])], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(logs)
    assert fake_hub.count("GET", "/cdn/") == 1                      # one download
    assert sum(log.count("converting legacy_seresnet18.in1k") for log in logs) == 1, logs   # one conversion
    assert sum("loaded converted weights" in log for log in logs) == 1, logs   # the other one used it
    assert len(converted_files(hub_env)) == 1
    spans = [[float(t) for t in out.with_suffix(".times").read_text().split()] for out in outs]
    assert max(s for s, _ in spans) < min(e for _, e in spans), spans        # they really overlapped
    for out in outs:
        np.testing.assert_array_equal(np.load(out), reference_logits())


def test_prefilled_hf_cache_offline_seresnet50_golden_parity(monkeypatch, tmp_path, fake_hub):
    """A standard Hugging Face cache folder, filled by hand as huggingface_hub lays it out, with
    HF_HUB_OFFLINE=1: zoo.create('seresnet50', pretrained=True) loads from it, and the logits match
    the PyTorch reference on the golden input."""
    commit = prefill_hf_cache(monkeypatch, tmp_path, fake_hub,
                              "timm/seresnet50.a1_in1k", checkpoint_bytes("seresnet50"))

    model = zoo.create("seresnet50", pretrained=True)
    golden = synth.golden("seresnet50")
    out = np.asarray(model(golden["input_nchw"].transpose(0, 2, 3, 1)))
    diff = np.max(np.abs(out - golden["logits"]))
    print(f"seresnet50 from a pre-filled cache: max |logit diff| vs golden {diff:.2e}")
    assert diff < 1e-4
    assert fake_hub.requests == []
    assert model.pretrained_cfg["tag"] == "a1_in1k" and commit in model.pretrained_cfg["weights"]


def test_env_is_read_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "yes")
    env = hub.hub_env()
    assert (env.endpoint, env.cache_dir, env.offline) == ("http://127.0.0.1:9", str(tmp_path / "c"), True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert hub.hub_env().offline is False
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "z"))
    assert pretrained.cache_root() == tmp_path / "z"


def test_unusable_zoo_cache_still_loads(hub_env, fake_hub, monkeypatch):
    publish(fake_hub)
    blocker = hub_env / "a-file"
    blocker.write_text("the cache cannot live under a file")
    monkeypatch.setenv("ZOO_CACHE", str(blocker / "cache"))
    model = zoo.create(ARCH, pretrained=True, img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())
