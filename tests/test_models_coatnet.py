"""CoAtNet (zoo/models/coatnet.py, zoo.layers.CoAtNetAttention): golden parity, features, other
input sizes, in_chans, .keras round trip, deploy form, alias, manifest; live parity against timm
(`-m torch`, skipped without torch/timm), every arch under `-m slow`.

Golden data: tests/fixtures/coatnet_0_rw_224.* (copied from the shared reference checkpoints:
timm 1.0.31 float32 logits of the synthetic checkpoint, tests/synth.py recipe).
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
import synth

import zoo
from zoo import registry
from zoo.errors import InvalidArgumentError
from zoo.layers.coatnet import CoAtNetAttention, FixedRelPos, RelPosBias, RelPosMlp, TorchMaxPool2d
from zoo.models import coatnet
from zoo.resample import resize_rel_pos_bias_table

from hubtest import checkpoint_bytes, fake_hub, prefill_hf_cache  # noqa: F401  (fixture)

GOLDEN = "coatnet_0_rw_224"
SMALL = "coatnet_pico_rw_224"


def _nhwc(x):
    return x.transpose(0, 2, 3, 1)


def _rel_err(y, ref):
    return float(np.abs(np.asarray(y) - ref).max() / max(1.0, np.abs(ref).max()))


@pytest.fixture(scope="module")
def golden_model(checkpoints):
    return zoo.create(GOLDEN, pretrained=str(checkpoints(GOLDEN)))


def test_golden_logits_and_pre_logits(golden_model):
    """timm's logits and pre-logits (the pooled features, what num_classes=0 returns)."""
    g = synth.golden(GOLDEN)
    both = keras.Model(golden_model.inputs, [golden_model.output, golden_model.get_layer("head.global_pool").output])
    y, pre = both.predict(_nhwc(g["input_nchw"]), verbose=0)
    assert y.shape == g["logits"].shape == (2, 1000)
    assert _rel_err(y, g["logits"]) < 1e-4
    assert _rel_err(pre, g["pre_logits"]) < 1e-4


def test_golden_layout_maps_every_key(golden_model):
    """Every float tensor of timm's state dict has a place in the model and vice versa (the index
    buffers excepted), and the parameter count is timm's."""
    from zoo.convert import weight_slots
    lay = synth.layout(GOLDEN)
    keys = {e["key"] for e in lay["keys"] if not e["key"].endswith(("num_batches_tracked", "relative_position_index"))}
    assert keys == set(weight_slots(golden_model))
    assert zoo.model_info(GOLDEN)["params"] == lay["num_params"]


def test_other_img_size_resamples_the_tables(checkpoints, golden_model):
    """img_size=256 from the 224 checkpoint: each relative_position_bias_table is timm's resampling
    of the file's table (27x27 -> 31x31 at stride 16, 13x13 -> 15x15 at stride 32)."""
    from safetensors.numpy import load_file
    state = load_file(str(checkpoints(GOLDEN)))
    m = zoo.create(GOLDEN, pretrained=str(checkpoints(GOLDEN)), img_size=256)
    layers = {l.name: l for l in m.layers}
    for block, window in (("stages.2.blocks.0", 16), ("stages.3.blocks.1", 8)):
        attn = layers[f"{block}.attn"]
        table = np.asarray(attn.rel_pos.relative_position_bias_table)
        key = f"{block}.attn.rel_pos.relative_position_bias_table"
        assert table.shape == ((2 * window - 1) ** 2, attn.num_heads)
        np.testing.assert_allclose(table, resize_rel_pos_bias_table(state[key], (window, window), table.shape),
                                   rtol=0, atol=1e-7)
        assert not np.allclose(table[:10], state[key][:10])


def test_features_only_stem_and_four_stages():
    m = zoo.create(SMALL, img_size=64, features_only=True)
    outs = m.predict(np.zeros((1, 64, 64, 3), np.float32), verbose=0)
    assert [o.shape for o in outs] == [(1, 32, 32, 64), (1, 16, 16, 64), (1, 8, 8, 128), (1, 4, 4, 256),
                                       (1, 2, 2, 512)]


def test_in_chans_and_num_classes_and_non_square():
    m = zoo.create(SMALL, img_size=(64, 96), in_chans=1, num_classes=7)
    assert m.predict(np.zeros((2, 64, 96, 1), np.float32), verbose=0).shape == (2, 7)
    attn = m.get_layer("stages.3.blocks.1.attn")
    assert attn.window_size == (2, 3) and attn.rel_pos.relative_position_bias_table.shape == (3 * 5, 16)


@pytest.mark.parametrize("size", [(48, 64), (224, 100), (80, 80)])
def test_img_size_must_be_a_multiple_of_32(size):
    with pytest.raises(InvalidArgumentError, match="multiples of 32"):
        zoo.create(SMALL, img_size=size)


def test_registry_alias_and_no_weight_archs():
    assert len(zoo.list_models("coatne*")) == 22
    spec, tag = registry.resolve("coatnet_0")
    assert spec.name == "coatnet_0_rw_224" and spec.default_tag == "sw_in1k"
    note = registry.alias_note("CoAtNet_0")
    assert note.startswith("alias of coatnet_0_rw_224:") and "paper" in note
    assert registry.alias_note("coatnet_0_rw_224") is None
    for arch in ("coatnet_0_224", "coatnet_5_224", "coatnet_nano_cc_224", "coatnet_pico_rw_224",
                 "coatnet_rmlp_0_rw_224", "coatnet_rmlp_3_rw_224"):
        assert registry.archs()[arch].weights == [], arch
    assert registry.archs()["coatnet_0_224"].cfg()["mean"] == (0.5, 0.5, 0.5)


def test_manifest_entries():
    from zoo import manifest
    entries = {n: e for n, e in manifest.entries().items() if e.arch.startswith(("coatnet", "coatnext"))}
    assert len(entries) == 16
    assert manifest.validate(entries, archs=set(registry.archs())) == []
    in12k = {n for n, e in entries.items() if e.cfg["num_classes"] == 11821}
    assert in12k == {"coatnet_2_rw_224.sw_in12k", "coatnet_3_rw_224.sw_in12k", "coatnet_rmlp_1_rw2_224.sw_in12k",
                     "coatnet_rmlp_2_rw_224.sw_in12k"}
    for n, e in entries.items():
        assert e.source["hub"] == f"timm/{n}" and e.license == "apache-2.0"
        assert e.cfg["labels"] == (None if n in in12k else "imagenet-1k")
        assert (e.reported["top1"] is None) == (n in in12k) and "timm results" in e.reported["by"]
    assert entries["coatnet_bn_0_rw_224.sw_in1k"].cfg["mean"] == [0.485, 0.456, 0.406]
    assert entries["coatnet_0_rw_224.sw_in1k"].cfg["mean"] == [0.5, 0.5, 0.5]
    assert entries["coatnet_nano_rw_224.sw_in1k"].cfg["crop_pct"] == 0.9
    assert entries["coatnet_rmlp_2_rw_384.sw_in12k_ft_in1k"].cfg["input_size"] == [384, 384, 3]
    assert entries["coatnet_0_rw_224.sw_in1k"].reported["top1"] == 82.396


# --- a tiny CoAtNet with every block kind the family has (rmlp, max pool, LayerScale, ConvNeXt) ---

def _tiny(conv_block="mbconv", rel_pos="mlp", pool="max", size=64, seed=0):
    keras.utils.set_random_seed(seed)
    cfg = coatnet.CoAtNetCfg(
        embed_dim=(16, 32, 64, 64), depths=(1, 1, 2, 2), stem_width=(8, 16),
        block_type=("C", "C", ("C", "T"), "T"),
        conv=coatnet.ConvCfg(block_type=conv_block, stride_mode="pool", pool_type=pool if conv_block == "mbconv"
                             else "avg2", pre_norm_act=True, expand_output=False, attn_early=True, act="silu"),
        transformer=coatnet.TransformerCfg(dim_head=16, expand_first=False, pool_type=pool, rel_pos_type=rel_pos,
                                           rel_pos_dim=32, init_values=0.5))
    parts = coatnet.build_coatnet(cfg=cfg, num_classes=5, img_size=(size, size), name="tiny")
    model = keras.Model(parts.inputs, parts.outputs)
    for w in model.weights:   # non-trivial weights everywhere (BN statistics, tables, LayerScale)
        if w.dtype == "float32" and "moving_variance" not in w.path:
            w.assign(np.random.default_rng(abs(hash(w.path)) % 2**32).normal(0, 0.3, w.shape).astype("float32"))
    return model


@pytest.mark.parametrize("kind", ["mbconv-mlp-max", "convnext-bias-avg2"])
def test_keras_round_trip(kind, tmp_path):
    block, rel, pool = kind.split("-")
    model = _tiny(block, rel, pool)
    x = synth.synth_input((2, 64, 64, 3))
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=1e-6)


@pytest.mark.parametrize("rel", ["mlp", pytest.param("bias", marks=pytest.mark.slow)])
def test_deploy_form_precomputes_the_bias_and_is_equal(rel):
    from export.deploy import deploy_model
    model = _tiny("mbconv", rel, "avg2")
    x = synth.synth_input((2, 64, 64, 3))
    dep, swapped, diff = deploy_model(model, x)
    assert len(swapped) == 3 and diff < 1e-5
    attn = [l for l in dep.layers if isinstance(l, CoAtNetAttention)]
    assert attn and all(isinstance(a.rel_pos, FixedRelPos) for a in attn)
    assert not any(isinstance(a.rel_pos, (RelPosBias, RelPosMlp)) for a in attn)
    np.testing.assert_allclose(dep.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=1e-5)


def test_attention_rel_pos_kinds_and_names():
    def keys(layer, shape):
        layer.build((None, *shape))
        return {f"{layer.name}.{v.path.split('/', 1)[1].replace('/', '.')}" for v in layer.weights}
    mlp = CoAtNetAttention(16, dim_head=8, rel_pos="mlp", rel_pos_dim=12, name="attn")
    mlp.build((None, 3, 4, 16))
    assert {tuple(w.shape) for w in mlp.rel_pos.mlp.weights} == {(2, 12), (12,), (12, 2), (2,)}
    assert isinstance(mlp.rel_pos, RelPosMlp) and mlp.rel_pos.mlp.fc1.name == "fc1"
    none = CoAtNetAttention(16, dim_head=8, rel_pos=None, name="attn")
    none.build((None, 3, 4, 16))
    assert none.rel_pos is None
    with pytest.raises(ValueError, match="rel_pos must be one of"):
        CoAtNetAttention(16, dim_head=8, rel_pos="rope")
    # the "mlp" bias has timm's symmetric structure: offsets (dy, dx) and (-dy, -dx) differ
    b = np.asarray(mlp.rel_pos.get_bias())[0, 0]
    assert b.shape == (12, 12) and np.allclose(np.diag(b), b[0, 0])


def test_torch_max_pool_matches_its_definition():
    x = np.random.default_rng(0).normal(size=(2, 6, 8, 3)).astype("float32")
    y = np.asarray(TorchMaxPool2d()(x))
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    ref = np.stack([np.stack([pad[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(1, 2)) for j in range(4)], 1)
                    for i in range(3)], 1)
    np.testing.assert_array_equal(y, ref)


def test_hub_name_resolves_and_loads_from_a_prefilled_cache_offline(monkeypatch, tmp_path, fake_hub):
    """zoo.create('coatnet_0', pretrained=True): the alias resolves to timm/coatnet_0_rw_224.sw_in1k,
    which loads offline from a Hugging Face cache filled by hand, with golden parity."""
    commit = prefill_hf_cache(monkeypatch, tmp_path, fake_hub,
                              "timm/coatnet_0_rw_224.sw_in1k", checkpoint_bytes(GOLDEN))
    model = zoo.create("coatnet_0", pretrained=True)
    assert fake_hub.requests == []
    g = synth.golden(GOLDEN)
    assert _rel_err(model(_nhwc(g["input_nchw"])), g["logits"]) < 1e-4
    cfg = model.pretrained_cfg
    assert cfg["tag"] == "sw_in1k" and commit in cfg["weights"] and cfg["mean"] == (0.5, 0.5, 0.5)


# --- live parity against timm 1.0.31 (the torch extra) ----------------------------------------------

LIVE = ["coatnet_pico_rw_224", "coatnet_nano_rw_224", "coatnet_rmlp_nano_rw_224", "coatnet_nano_cc_224",
        "coatnext_nano_rw_224", "coatnet_bn_0_rw_224", "coatnet_rmlp_1_rw_224", "coatnet_0_224"]


@pytest.fixture(scope="module")
def tm():
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    return torch, timm


def _timm_synth(tm, arch, path, **kwargs):
    """timm's model with the synthetic weights of its own state-dict layout, and that file."""
    torch, timm = tm
    from safetensors.numpy import save_file
    ref = timm.create_model(arch, pretrained=False, **kwargs).eval()
    state = {k: (synth.synth_tensor(k, tuple(v.shape)) if v.is_floating_point() else v.numpy())
             for k, v in ref.state_dict().items()}
    ref.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()})
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path))
    return ref, state


def _live(tm, arch, tmp_path, size=64, in_chans=3, features=True):
    torch, _ = tm
    ref, _ = _timm_synth(tm, arch, tmp_path / "w.safetensors", img_size=size, in_chans=in_chans)
    x = synth.synth_input((2, in_chans, size, size))
    with torch.no_grad():
        t_logits = ref(torch.from_numpy(x)).numpy()
        t_feats = ref.forward_intermediates(torch.from_numpy(x), intermediates_only=True)
    kw = dict(pretrained=str(tmp_path / "w.safetensors"), img_size=size, in_chans=in_chans)
    assert _rel_err(zoo.create(arch, **kw).predict(_nhwc(x), verbose=0), t_logits) < 1e-4, arch
    if features:
        outs = zoo.create(arch, features_only=True, **kw).predict(_nhwc(x), verbose=0)
        assert len(outs) == len(t_feats) == 5
        for o, t in zip(outs, t_feats):
            assert o.shape == _nhwc(t.numpy()).shape and _rel_err(o, _nhwc(t.numpy())) < 1e-4


@pytest.mark.torch
@pytest.mark.parametrize("arch", LIVE)
def test_live_parity(tm, arch, tmp_path):
    """rmlp, nano, bn, cc, coatnext, max-pool and paper-config variants: logits and features_only."""
    _live(tm, arch, tmp_path, features=arch in ("coatnet_pico_rw_224", "coatnext_nano_rw_224"))


@pytest.mark.torch
def test_live_in_chans_1(tm, tmp_path):
    """A 1-channel model from a 3-channel file (timm's first-conv adaptation on both sides)."""
    torch, timm = tm
    ref3, state = _timm_synth(tm, SMALL, tmp_path / "w.safetensors", img_size=64)
    ref1 = timm.create_model(SMALL, pretrained=False, img_size=64, in_chans=1).eval()
    from timm.models._manipulate import adapt_input_conv
    state1 = {k: torch.as_tensor(np.asarray(v)) for k, v in state.items()}
    state1["stem.conv1.weight"] = adapt_input_conv(1, state1["stem.conv1.weight"])
    ref1.load_state_dict(state1)
    x = synth.synth_input((2, 1, 64, 64))
    with torch.no_grad():
        t = ref1(torch.from_numpy(x)).numpy()
    y = zoo.create(SMALL, pretrained=str(tmp_path / "w.safetensors"), img_size=64, in_chans=1).predict(_nhwc(x),
                                                                                                          verbose=0)
    assert _rel_err(y, t) < 1e-4


@pytest.mark.torch
@pytest.mark.parametrize("arch,size", [("coatnet_nano_rw_224", (256, 256)), ("coatnet_pico_rw_224", (192, 256)),
                                       ("coatnet_rmlp_nano_rw_224", (256, 256))])
def test_live_other_img_size_from_a_224_checkpoint(tm, arch, size, tmp_path):
    """A 224 checkpoint into an img_size model: timm's checkpoint_filter_fn resamples the tables
    (square and non-square windows), ours adapt_state; the rmlp MLPs load unchanged."""
    torch, timm = tm
    from timm.models.maxxvit import checkpoint_filter_fn
    _, state = _timm_synth(tm, arch, tmp_path / "w224.safetensors")
    ref = timm.create_model(arch, pretrained=False, img_size=size).eval()
    ref.load_state_dict(checkpoint_filter_fn({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()}, ref))
    x = synth.synth_input((1, 3, *size))
    with torch.no_grad():
        t = ref(torch.from_numpy(x)).numpy()
    y = zoo.create(arch, pretrained=str(tmp_path / "w224.safetensors"), img_size=size).predict(_nhwc(x), verbose=0)
    assert _rel_err(y, t) < 1e-4


@pytest.mark.torch
def test_live_attention_layer_rmlp(tm):
    """zoo.layers.CoAtNetAttention(rel_pos='mlp') against timm's Attention2d + RelPosMlp."""
    torch, _ = tm
    from functools import partial

    from timm.layers.pos_embed_rel import RelPosMlp as TRelPosMlp
    from timm.models import maxxvit
    m = maxxvit.Attention2d(16, 24, dim_head=8, expand_first=False,
                            rel_pos_cls=partial(TRelPosMlp, window_size=(4, 5), hidden_dim=12)).eval()
    m.fused_attn = False
    state = {k: synth.synth_tensor(k, tuple(v.shape)) * (5 if "rel_pos" in k else 1) for k, v in m.state_dict().items()
             if v.is_floating_point() and "rel_coords" not in k}
    m.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    layer = CoAtNetAttention(16, 24, dim_head=8, expand_first=False, rel_pos="mlp", rel_pos_dim=12, name="attn")
    model = keras.Sequential([keras.Input((4, 5, 16)), layer])
    from zoo.convert import load_state
    load_state(model, {f"attn.{k}": v for k, v in state.items()})
    x = np.random.default_rng(0).standard_normal((2, 16, 4, 5)).astype("float32")
    with torch.no_grad():
        t = m(torch.from_numpy(x)).numpy()
    assert _rel_err(model(_nhwc(x)), _nhwc(t)) < 1e-5


@pytest.mark.torch
def test_param_counts_match_timm(tm):
    _, timm = tm
    for arch in ("coatnet_pico_rw_224", "coatnet_rmlp_nano_rw_224", "coatnext_nano_rw_224", "coatnet_0_224"):
        assert zoo.model_info(arch)["params"] == sum(p.numel() for p in timm.create_model(arch).parameters()), arch


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("arch", sorted(coatnet.ARCHS))
def test_live_parity_every_arch(tm, arch, tmp_path):
    _live(tm, arch, tmp_path, size=64)


def test_zoo_info_says_why_the_alias_points_there(capsys):
    from zoo.cli import main
    assert main(["info", "coatnet_0"]) == 0
    out = capsys.readouterr().out
    assert "coatnet_0_rw_224.sw_in1k" in out and "alias of coatnet_0_rw_224:" in out and "no released weights" in out
    assert main(["info", "coatnet_pico_rw_224", "--json"]) == 0
    import json
    assert "has no published weights" in json.loads(capsys.readouterr().out)["note"]


def test_hubconf_has_a_coatnet_entry_point():
    import hubconf
    assert "default 'coatnet_0_rw_224'" in hubconf.coatnet.__doc__ and "coatnext_nano_rw_224" in hubconf.coatnet.__doc__
    with pytest.raises(Exception, match="not coatnet"):
        hubconf.coatnet("seresnet18")
