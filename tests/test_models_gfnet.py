"""GFNet (zoo/models/gfnet.py): the official raoyongming/GFNet checkpoints' layout and numerics.

Golden logits come from the official `gfnet.py` (tests/fixtures/gfnet_*, see
shared checkpoints README); live checks against `zoo.torch_ref.gfnet` (our PyTorch
re-implementation of that file) need the torch extra and skip without it.
"""
from __future__ import annotations

import io
import json
import pickle
import zipfile

import keras
import numpy as np
import pytest
import synth

import zoo
from export.deploy import deploy_model
from zoo import checkpoint, convert, manifest, registry
from zoo.errors import InvalidArgumentError, WeightsUnavailableError
from zoo.layers import GlobalFilter
from zoo.models import gfnet

ARCHS = ["gfnet_ti", "gfnet_xs", "gfnet_s", "gfnet_b", "gfnet_h_ti", "gfnet_h_s", "gfnet_h_b"]
GOLDEN = ["gfnet_xs", "gfnet_h_ti"]
# official infer.py: parameter counts of the models it builds (the layouts' num_params for the golden two)
PARAMS = {"gfnet_xs": 15985768, "gfnet_h_ti": 15085096}


def _nhwc(x):
    return x.transpose(0, 2, 3, 1)


def _rel(y, ref):
    return float(np.abs(np.asarray(y) - ref).max() / max(1.0, np.abs(ref).max()))


def _synth_weights(model, seed=synth.SEED):
    """Every variable drawn by the shared recipe under its checkpoint key (Keras layout)."""
    for key, slot in convert.weight_slots(model).items():
        slot.variable.assign(synth.synth_tensor(key, tuple(slot.variable.shape), seed))
    return model


# ------------------------------------------------------------------------------------ parity

@pytest.mark.parametrize("name", GOLDEN)
def test_golden_logits(name, checkpoints):
    g = synth.golden(name)
    model = zoo.create(name, pretrained=str(checkpoints(name)))
    assert model.count_params() == PARAMS[name] == synth.layout(name)["num_params"]
    y = model.predict(_nhwc(g["input_nchw"]), verbose=0)
    assert y.shape == g["logits"].shape
    assert _rel(y, g["logits"]) < 1e-4
    if name == "gfnet_xs":   # the parity can fail: another seed's weights are far off
        convert.load_torch_state(model, synth.synth_state_dict(name, seed=1), adapt_state=gfnet.adapt_state)
        assert _rel(model.predict(_nhwc(g["input_nchw"]), verbose=0), g["logits"]) > 1e-2


def test_official_key_layout():
    """Every official key (the golden layouts, both kinds of net) loads strictly into a variable of
    ours (the strict load fails on any unexpected, missing or mis-shaped tensor)."""
    for name, filt in [("gfnet_xs", "blocks.0.filter"), ("gfnet_h_ti", "blocks.3.2.filter")]:
        model = zoo.create(name)
        zeros = {e["key"]: np.zeros(e["shape"], np.float32) for e in synth.layout(name)["keys"]}
        convert.load_torch_state(model, zeros, adapt_state=gfnet.adapt_state)
        slots = convert.weight_slots(model)
        assert set(slots) == (set(zeros) - {"pos_embed"}) | {"pos_embed.pos_embed"}
        assert isinstance(slots[f"{filt}.complex_weight"].layer, GlobalFilter)
        assert tuple(slots[f"{filt}.complex_weight"].variable.shape) == tuple(zeros[f"{filt}.complex_weight"].shape)


# ---------------------------------------------------------------------- sizes, features, channels

def test_another_img_size_resamples_pos_embed_and_filters(checkpoints):
    """At 160 the 14x14 tables of the 224 checkpoint become 10x10 (filters 10x6), exactly as
    zoo.resample's main_gfnet.py rules give them (the live test checks those against torch)."""
    from zoo import resample

    state = checkpoint.read_safetensors(checkpoints("gfnet_xs"))
    model = zoo.create("gfnet_xs", pretrained=str(checkpoints("gfnet_xs")), img_size=160)
    slots = convert.weight_slots(model)
    np.testing.assert_array_equal(slots["pos_embed.pos_embed"].variable.numpy(),
                                  resample.resize_pos_embed(state["pos_embed"], (10, 10)))
    np.testing.assert_array_equal(slots["blocks.5.filter.complex_weight"].variable.numpy(),
                                  resample.resize_gfnet_filter(state["blocks.5.filter.complex_weight"], 10))
    assert slots["blocks.5.filter.complex_weight"].variable.shape == (10, 6, 384, 2)
    x = synth.synth_input((1, 160, 160, 3))
    assert np.isfinite(model.predict(x, verbose=0)).all()
    # the hierarchical net resamples every stage's filters to its own grid (160: 40, 20, 10, 5)
    h = zoo.create("gfnet_h_ti", pretrained=str(checkpoints("gfnet_h_ti")), img_size=160)
    shapes = [convert.weight_slots(h)[f"blocks.{s}.0.filter.complex_weight"].variable.shape[:2] for s in range(4)]
    assert shapes == [(40, 21), (20, 11), (10, 6), (5, 3)]


def test_features_only():
    iso = zoo.create("gfnet_ti", features_only=True, img_size=64)
    outs = iso(np.zeros((1, 64, 64, 3), np.float32))
    assert len(outs) == 12 and all(tuple(o.shape) == (1, 4, 4, 256) for o in outs)
    assert [f["module"] for f in zoo.feature_info("gfnet_ti", img_size=64)][:2] == ["blocks.0", "blocks.1"]
    hier = zoo.create("gfnet_h_ti", features_only=True, img_size=64, out_indices=(0, 1, 2, 3))
    shapes = [tuple(o.shape) for o in hier(np.zeros((2, 64, 64, 3), np.float32))]
    assert shapes == [(2, 16, 16, 64), (2, 8, 8, 128), (2, 4, 4, 256), (2, 2, 2, 512)]
    assert [f["reduction"] for f in zoo.feature_info("gfnet_h_ti", img_size=64)] == [4, 8, 16, 32]


def test_in_chans_adapts_the_patch_embedding(checkpoints):
    """in_chans=1: the patch embedding's weights are summed over RGB (timm's rule, the platform's
    adapt_input_conv), the hierarchical net's first conv being patch_embed.0.proj."""
    state = checkpoint.read_safetensors(checkpoints("gfnet_h_ti"))
    gray = zoo.create("gfnet_h_ti", pretrained=str(checkpoints("gfnet_h_ti")), img_size=64, in_chans=1)
    kernel = convert.weight_slots(gray)["patch_embed.0.proj.weight"].variable.numpy()
    want = state["patch_embed.0.proj.weight"].sum(axis=1, keepdims=True).transpose(2, 3, 1, 0)
    np.testing.assert_allclose(kernel, want, rtol=1e-6, atol=1e-7)
    assert gray.predict(synth.synth_input((1, 64, 64, 1)), verbose=0).shape == (1, 1000)


def test_bad_img_size_is_a_clear_error():
    with pytest.raises(InvalidArgumentError, match="divisible by 16"):
        zoo.create("gfnet_xs", img_size=200)
    with pytest.raises(InvalidArgumentError, match="divisible by 32.*down layers"):
        zoo.create("gfnet_h_ti", img_size=208)


def _round_trip(model, tmp_path):
    _synth_weights(model)
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    again = keras.models.load_model(path)
    size = model.input_shape[1]
    x = synth.synth_input((2, size, size, 3))
    np.testing.assert_array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0))
    assert {type(layer).__name__ for layer in again.layers} >= {"PosEmbed", "LayerScale", "GlobalFilter", "Mlp"}


def test_keras_round_trip(tmp_path):
    """The family's layers (PosEmbed, LayerScale, GlobalFilter, Mlp) through a .keras file, on a
    one-block-per-stage GFNet-H-Ti (the full arch: the slow test below)."""
    parts = registry.archs()["gfnet_h_ti"].builder(depth=(1, 1, 1, 1), num_classes=10, in_chans=3, img_size=(64, 64),
                                                   drop_rate=0.0, drop_path_rate=0.0)
    _round_trip(keras.Model(parts.inputs, parts.outputs, name="gfnet_h_ti_small"), tmp_path)


@pytest.mark.slow
def test_keras_round_trip_full(tmp_path):
    _round_trip(zoo.create("gfnet_h_ti", img_size=64), tmp_path)


def test_group_matcher():
    spec = registry.archs()["gfnet_h_ti"]
    assert [spec.layer_group(n) for n in ("patch_embed.0.proj", "pos_embed", "patch_embed.2.proj",
                                          "blocks.3.1.filter", "norm", "head")] == [
        "stem", "stem", "stages.2", "stages.3", "head", "head"]
    assert registry.archs()["gfnet_xs"].layer_group("patch_embed.proj") == "stem"
    assert registry.archs()["gfnet_xs"].layer_group("blocks.11.mlp") == "stages.11"


# ----------------------------------------------------------------------------------- deploy form

def _deploy_check(arch):
    model = _synth_weights(zoo.create(arch))
    x = synth.synth_input((2, 224, 224, 3))
    dmodel, swapped, rel = deploy_model(model, x[:1])
    depth = sum(gfnet.GFNETS[arch]["depth"])
    assert len(swapped) == depth and all(n.endswith(".filter") for n in swapped)
    assert all(layer.use_dft for layer in dmodel.layers if isinstance(layer, GlobalFilter))
    assert not any(layer.use_dft for layer in model.layers if isinstance(layer, GlobalFilter))  # untouched
    y, yd = model.predict(x, verbose=0), dmodel.predict(x, verbose=0)
    assert np.abs(yd - y).max() <= 1e-5 * max(1.0, np.abs(y).max()), (arch, np.abs(yd - y).max())
    assert np.abs(y).max() > 0.1   # the weights are not degenerate: logits a filter error would move


def test_deploy_form_equals_fft_form_smallest():
    _deploy_check("gfnet_ti")


@pytest.mark.slow
@pytest.mark.parametrize("arch", [a for a in ARCHS if a != "gfnet_ti"])
def test_deploy_form_equals_fft_form(arch):
    _deploy_check(arch)


# ------------------------------------------------------------------------------- weights, hub

def test_manifest_has_the_seven_official_checkpoints():
    top1 = {"gfnet_ti": 74.6, "gfnet_xs": 78.6, "gfnet_s": 80.0, "gfnet_b": 80.7, "gfnet_h_ti": 80.1,
            "gfnet_h_s": 81.5, "gfnet_h_b": 82.9}
    entries = {e.arch: e for e in manifest.entries().values() if e.arch.startswith("gfnet")}
    assert sorted(entries) == sorted(ARCHS)
    for arch, e in entries.items():
        assert e.default and e.source["hub"] is None and e.source["format"] == "official"
        assert e.source["url"].startswith("https://cloud.tsinghua.edu.cn/f/") and e.license == "mit"
        assert e.reported["top1"] == top1[arch] and "raoyongming/GFNet README" in e.reported["by"]
    assert not [p for p in manifest.validate(archs=set(registry.archs())) if p.startswith("gfnet")]


def test_pretrained_true_says_how_to_get_the_weights():
    with pytest.raises(WeightsUnavailableError) as e:
        zoo.create("gfnet_h_s", pretrained=True)
    msg = str(e.value)
    assert "https://cloud.tsinghua.edu.cn/f/5229cb4d1daf48e69675/?dl=1" in msg
    assert "zoo convert FILE.pth --arch gfnet_h_s" in msg and "pretrained=" in msg


def _pushed(checkpoints, folder):
    from zoo import publish

    result = publish.push_to_hub("gfnet_xs", "someone/gfnet-xs", pretrained=str(checkpoints("gfnet_xs")),
                                 out_dir=folder, upload=False)
    assert result["round_trip"] == 0.0 and checkpoint.is_keras_file(folder / "model.safetensors")
    return folder


def test_push_writes_keras_weights_that_load_back(checkpoints, tmp_path):
    """`zoo push` (dry run) of an official-key file: the published Keras-layout file gives the
    golden logits."""
    folder = _pushed(checkpoints, tmp_path / "repo")
    g = synth.golden("gfnet_xs")
    y = zoo.create("gfnet_xs", pretrained=str(folder)).predict(_nhwc(g["input_nchw"]), verbose=0)
    assert _rel(y, g["logits"]) < 1e-4


@pytest.mark.slow
def test_pushed_weights_resample_like_the_official_file(checkpoints, tmp_path):
    folder = _pushed(checkpoints, tmp_path / "repo")
    small = zoo.create("gfnet_xs", pretrained=str(folder), img_size=96)
    direct = zoo.create("gfnet_xs", pretrained=str(checkpoints("gfnet_xs")), img_size=96)
    x = synth.synth_input((1, 96, 96, 3))
    np.testing.assert_array_equal(small.predict(x, verbose=0), direct.predict(x, verbose=0))


def test_hubconf_entry_point():
    from test_hub_hubconf import load_hubconf

    hub = load_hubconf()
    model = hub.gfnet("gfnet_ti", img_size=64, num_classes=5)
    assert model.output_shape == (None, 5)
    with pytest.raises(InvalidArgumentError, match="not gfnet"):
        hub.gfnet("seresnet18")


# ------------------------------------------------------------------------- zoo convert (torch)

class _Payload:
    """Unpickling this runs code: it would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def _official_state(torch, name="gfnet_xs"):
    return {k: torch.from_numpy(v) for k, v in synth.synth_state_dict(name).items()}


@pytest.mark.torch
def test_zoo_convert_official_container(tmp_path, capsys):
    """What main_gfnet.py saves (weights under 'model', its argparse args beside them), from a
    DataParallel run ('module.' keys): converted, checked against the official definition, and
    the written file gives the official logits."""
    torch = pytest.importorskip("torch")
    import argparse

    from zoo.cli import main

    state = _official_state(torch)
    pth = tmp_path / "gfnet-xs.pth"
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 299,
                "args": argparse.Namespace(arch="gfnet-xs", input_size=224)}, pth)
    out = tmp_path / "gfnet_xs.safetensors"
    assert main(["convert", str(pth), "--arch", "gfnet_xs", "-o", str(out)]) == 0
    report = capsys.readouterr().out
    assert "all 115 tensors fit" in report and "unwrapped: model" in report and "'module.'" in report
    assert "reference parity vs raoyongming/GFNet gfnet.py" in report and ": pass" in report
    parity = json.loads(checkpoint.safetensors_metadata(out)["parity"])
    assert parity["passed"] is True and parity["max_abs_diff"] < 1e-4, parity
    assert sorted(checkpoint.read_safetensors(out)) == sorted(state)
    g = synth.golden("gfnet_xs")
    y = zoo.create("gfnet_xs", pretrained=str(out)).predict(_nhwc(g["input_nchw"]), verbose=0)
    assert _rel(y, g["logits"]) < 1e-4


@pytest.mark.torch
def test_official_container_ema_weights(tmp_path):
    torch = pytest.importorskip("torch")
    state = _official_state(torch)
    pth = tmp_path / "gfnet-xs-ema.pth"
    torch.save({"state_dict": {f"module.{k}": torch.zeros_like(v) for k, v in state.items()},
                "state_dict_ema": {f"module.{k}": v for k, v in state.items()}}, pth)
    got, info = checkpoint.read_pytorch_file(pth, ema=True)
    assert info["unwrapped"] == ["state_dict_ema"] and info["prefix_removed"] == "module."
    np.testing.assert_array_equal(got["blocks.3.filter.complex_weight"], state["blocks.3.filter.complex_weight"].numpy())


@pytest.mark.torch
def test_zoo_convert_refuses_code_in_the_pickle(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from zoo.cli import main

    marker = tmp_path / "executed"
    pth = tmp_path / "gfnet-xs.pth"
    torch.save({"payload": _Payload(marker), "model": _official_state(torch)}, pth)
    assert main(["convert", str(pth), "--arch", "gfnet_xs"]) == 1
    err = capsys.readouterr().err
    assert "weights_only=True" in err and "never runs arbitrary unpickling" in err
    assert not marker.exists() and not (tmp_path / "gfnet-xs.safetensors").exists()
    # the test can fail: a plain unpickler of the same file does run the payload
    with zipfile.ZipFile(pth) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))

    class _NoStorages(pickle.Unpickler):
        def persistent_load(self, pid):
            raise pickle.UnpicklingError("no tensor storages here")

    with pytest.raises(pickle.UnpicklingError):
        _NoStorages(io.BytesIO(data)).load()     # the payload comes first and runs before this fails
    assert marker.exists()


# ------------------------------------------------------------------------ live parity (torch)

def _torch_ref(torch, arch, img_size=224, seed=synth.SEED):
    from zoo.torch_ref import reference_model

    ref = reference_model(arch, img_size=img_size)
    state = {k: synth.synth_tensor(k, tuple(v.shape), seed) for k, v in ref.state_dict().items()}
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    return ref, state


def _official_finetune_resample(torch, state, arch, new_size):
    """main_gfnet.py's fine-tuning block, as it is written there (torch F.interpolate)."""
    import torch.nn.functional as F

    pos = torch.from_numpy(state["pos_embed"])
    patch = 4 if "_h_" in arch else 16
    orig = int(pos.shape[-2] ** 0.5)
    new = new_size // patch
    c = pos.shape[-1]
    t = pos.reshape(-1, orig, orig, c).permute(0, 3, 1, 2)
    t = F.interpolate(t, size=(new, new), mode="bicubic", align_corners=False)
    out = dict(state, pos_embed=t.permute(0, 2, 3, 1).flatten(1, 2).numpy())
    for name, w in state.items():
        if "complex_weight" in name:
            h, wd, heads = w.shape[:3]
            up_h = h * new // orig
            up_w = up_h // 2 + 1
            x = torch.from_numpy(w).reshape(1, h, wd, heads * 2).permute(0, 3, 1, 2)
            x = F.interpolate(x, size=(up_h, up_w), mode="bicubic", align_corners=True)
            out[name] = x.permute(0, 2, 3, 1).reshape(up_h, up_w, heads, 2).numpy()
    return out


@pytest.mark.torch
@pytest.mark.parametrize("arch", [pytest.param("gfnet_xs", marks=pytest.mark.slow), "gfnet_h_ti"])
def test_live_parity_at_another_size(arch, tmp_path):
    """A 224 checkpoint at 160: our adapt_state + graph vs the official fine-tuning resample +
    the official model built at 160."""
    torch = pytest.importorskip("torch")
    from safetensors.numpy import save_file

    _, state224 = _torch_ref(torch, arch, 224)
    ref160, _ = _torch_ref(torch, arch, 160)
    ref160.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                            for k, v in _official_finetune_resample(torch, state224, arch, 160).items()})
    path = tmp_path / f"{arch}.safetensors"
    save_file(state224, str(path))
    x = synth.synth_input((2, 3, 160, 160))
    with torch.no_grad():
        want = ref160(torch.from_numpy(x)).numpy()
    y = zoo.create(arch, pretrained=str(path), img_size=160).predict(_nhwc(x), verbose=0)
    assert _rel(y, want) < 1e-4


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_live_parity(arch, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.numpy import save_file

    ref, state = _torch_ref(torch, arch)
    path = tmp_path / f"{arch}.safetensors"
    save_file(state, str(path))
    x = synth.synth_input((2, 3, 224, 224))
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    model = zoo.create(arch, pretrained=str(path))
    assert model.count_params() == sum(p.numel() for p in ref.parameters())
    assert _rel(model.predict(_nhwc(x), verbose=0), want) < 1e-4
