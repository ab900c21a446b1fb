"""MobileViT v1 / MobileViTv2 (zoo/models/mobilevit.py) against timm 1.0.31 `mobilevit.py`.

Golden parity uses the shared synthetic checkpoints (tests/fixtures/mobilevit*, every float tensor
random, BN statistics included) and timm's float32 logits for them; the live tests (torch extra)
draw checkpoints for timm's own layout of more archs and compare logits and feature maps.
"""
from __future__ import annotations

import numpy as np
import pytest
import synth

import export
import zoo
from export import tflite as tfl
from zoo import manifest, registry
from zoo.errors import InvalidArgumentError
from zoo.layers.mobilevit import GroupNorm1, ResizeAlignCorners

GOLDEN = ["mobilevitv2_050", "mobilevit_xxs"]
V1 = ["mobilevit_xxs", "mobilevit_xs", "mobilevit_s"]
V2 = ["mobilevitv2_050", "mobilevitv2_075", "mobilevitv2_100", "mobilevitv2_125", "mobilevitv2_150",
      "mobilevitv2_175", "mobilevitv2_200"]


def _nhwc(x):
    return x.transpose(0, 2, 3, 1)


def _rel(y, ref):
    return float(np.abs(np.asarray(y) - ref).max() / max(1.0, np.abs(ref).max()))


_MODELS: dict = {}


def _golden_model(name, checkpoints, **kw):
    key = (name, tuple(sorted(kw.items())))
    if key not in _MODELS:
        _MODELS[key] = zoo.create(name, pretrained=str(checkpoints(name)), **kw)
    return _MODELS[key]


# ---------------------------------------------------------------------------------------------
# golden parity (no torch needed)

@pytest.mark.parametrize("name", GOLDEN)
def test_golden_logits(name, checkpoints):
    g = synth.golden(name)
    y = _golden_model(name, checkpoints).predict(_nhwc(g["input_nchw"]), verbose=0)
    assert y.shape == g["logits"].shape == (2, 1000)
    assert _rel(y, g["logits"]) < 1e-4
    assert _rel(y, g["logits_float64"]) < 1e-4


def test_golden_pre_logits_and_new_head(checkpoints):
    """num_classes=0: timm's pre-logits (v2 has no final_conv, so the pooled stage-4 map)."""
    g = synth.golden("mobilevitv2_050")
    feats = zoo.create("mobilevitv2_050", pretrained=str(checkpoints("mobilevitv2_050")), num_classes=0)
    pre = feats.predict(_nhwc(g["input_nchw"]), verbose=0)
    assert pre.shape == (2, 256) and _rel(pre, g["pre_logits"]) < 1e-4
    head10 = zoo.create("mobilevitv2_050", pretrained=str(checkpoints("mobilevitv2_050")), num_classes=10,
                        img_size=64)
    assert head10.output_shape == (None, 10)
    assert head10.get_layer("head.fc").kernel.shape == (256, 10)


def test_wrong_weights_change_the_logits(tmp_path):
    g = synth.golden("mobilevit_xxs")
    path = synth.write_checkpoint("mobilevit_xxs", tmp_path / "other.safetensors", seed=1)
    y = zoo.create("mobilevit_xxs", pretrained=str(path)).predict(_nhwc(g["input_nchw"]), verbose=0)
    assert _rel(y, g["logits"]) > 1e-2


def test_param_counts_are_timms():
    # timm 1.0.31 num_params of the two reference layouts (tests/fixtures/*.layout.json)
    for name in GOLDEN:
        assert zoo.model_info(name)["params"] == synth.layout(name)["num_params"], name


# ---------------------------------------------------------------------------------------------
# sizes, features, channels

def test_features_strides_2_to_32_and_the_non_multiple_sizes():
    """features_only gives timm's feature_info (stages.0..3, final_conv); at 224 v2 resizes the
    7x7 stage-4 input up to 8x8 (align_corners=True) and stays there, v1 resizes up and back."""
    v2 = zoo.create("mobilevitv2_050", features_only=True, img_size=224)
    assert [tuple(s[1:]) for s in v2.output_shape] == [(112, 112, 32), (56, 56, 64), (28, 28, 128),
                                                       (14, 14, 192), (8, 8, 256)]
    assert isinstance(v2.get_layer("stages.4.1.resize"), ResizeAlignCorners)
    v1 = zoo.create("mobilevit_xxs", features_only=True, img_size=224)
    assert [tuple(s[1:]) for s in v1.output_shape] == [(112, 112, 16), (56, 56, 24), (28, 28, 48),
                                                       (14, 14, 64), (7, 7, 320)]
    info = zoo.feature_info("mobilevit_xxs")
    assert [f["reduction"] for f in info] == [2, 4, 8, 16, 32]
    assert [f["module"] for f in info] == ["stages.0", "stages.1", "stages.2", "stages.3", "final_conv"]
    # out_indices selects among them; at 96 the 3x3 stage-4 input becomes 4x4
    last2 = zoo.create("mobilevitv2_050", features_only=True, out_indices=(3, 4), img_size=96)
    assert [tuple(s[1:]) for s in last2.output_shape] == [(6, 6, 192), (4, 4, 256)]


def test_golden_weights_at_another_size_and_one_channel(checkpoints):
    """The pretrained weights load at 160 (5x5 at stride 32: the resize path); in_chans=1 sums the first conv over
    its input channels as timm does, so a gray image gives what its 3-channel copy gives."""
    g = synth.golden("mobilevit_xxs")
    x = _nhwc(g["input_nchw"])[:, 48:208, 48:208]
    rgb = zoo.create("mobilevit_xxs", pretrained=str(checkpoints("mobilevit_xxs")), img_size=160)
    gray = zoo.create("mobilevit_xxs", pretrained=str(checkpoints("mobilevit_xxs")), img_size=160, in_chans=1)
    x1 = x[..., :1]
    y3 = rgb.predict(np.repeat(x1, 3, axis=-1), verbose=0)
    y1 = gray.predict(x1, verbose=0)
    assert np.isfinite(y3).all() and _rel(y1, y3) < 1e-5
    assert gray.get_layer("stem.conv").kernel.shape == (3, 3, 1, 16)


def test_bad_input_is_a_clear_error():
    with pytest.raises(InvalidArgumentError, match="too small"):
        zoo.create("mobilevitv2_050", img_size=16)
    model = zoo.create("mobilevit_xxs", img_size=64)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 64, 64, 3\)"):
        model(np.zeros((1, 3, 64, 64), np.float32))


# ---------------------------------------------------------------------------------------------
# layers the family adds

def test_group_norm1_is_torch_group_norm_1():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 6, 8)).astype(np.float32) * 3 + 1
    layer = GroupNorm1(name="gn")
    layer.build(x.shape)
    gamma, beta = rng.standard_normal(8).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    layer.set_weights([gamma, beta])
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(1, 2, 3), keepdims=True)
    var = x64.var(axis=(1, 2, 3), keepdims=True)
    ref = (x64 - mean) / np.sqrt(var + 1e-5) * gamma + beta
    np.testing.assert_allclose(np.asarray(layer(x)), ref, atol=2e-5)
    with pytest.raises(ValueError, match="one group"):
        GroupNorm1(groups=2)


def _resize_align_corners_ref(x, size):
    """PyTorch F.interpolate(bilinear, align_corners=True) in NumPy (NHWC)."""
    def axis_weights(n_in, n_out):
        src = np.arange(n_out) * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), lo] += 1 - (src - lo)
        m[np.arange(n_out), hi] += src - lo
        return m
    a, b = axis_weights(x.shape[1], size[0]), axis_weights(x.shape[2], size[1])
    return np.einsum("ih,bhwc,jw->bijc", a, x.astype(np.float64), b)


def test_resize_align_corners_is_torchs():
    x = np.random.default_rng(1).standard_normal((2, 7, 5, 3)).astype(np.float32)
    y = np.asarray(ResizeAlignCorners((8, 6))(x))
    np.testing.assert_allclose(y, _resize_align_corners_ref(x, (8, 6)), atol=1e-5)
    # the corners are kept exactly, which align_corners=False would not do
    np.testing.assert_allclose(y[:, [0, -1]][:, :, [0, -1]], x[:, [0, -1]][:, :, [0, -1]], atol=1e-6)


def test_blocks_are_the_public_layers():
    from zoo.layers import MobileViTAttention, MobileViTv2Attention
    v1 = zoo.create("mobilevit_xxs", img_size=64)
    assert [l.name for l in v1.layers if isinstance(l, MobileViTAttention)] == ["stages.2.1", "stages.3.1",
                                                                                 "stages.4.1"]
    v2 = zoo.create("mobilevitv2_050", img_size=64)
    attn = [l.name for l in v2.layers if isinstance(l, MobileViTv2Attention)]
    assert len(attn) == 2 + 4 + 3 and attn[0] == "stages.2.1.transformer.0.attn"


def test_drop_path_rates_are_timms_and_inference_ignores_them(checkpoints):
    """timm spreads drop_path_rate linearly over the 9 (v2) / 11 (v1) ByobNet blocks; the
    MobileViT block's transformer gets its block's rate. At inference the output is unchanged."""
    from zoo.layers.drop_path import DropPath
    v2 = zoo.create("mobilevitv2_050", drop_path_rate=0.1, img_size=64)
    rates = {l.name: l.rate for l in v2.layers if isinstance(l, DropPath)}
    assert rates["stages.1.0.drop_path"] == pytest.approx(0.1 / 8)
    assert rates["stages.3.1.transformer.0.drop_path1"] == pytest.approx(0.1 * 6 / 8)
    assert rates["stages.4.1.transformer.2.drop_path2"] == pytest.approx(0.1)
    v1 = zoo.create("mobilevit_xxs", drop_path_rate=0.2, img_size=64)
    block = v1.get_layer("stages.4.1")
    assert block.drop_path_rate == pytest.approx(0.2)
    assert block.transformer[0].drop_path1.rate == pytest.approx(0.2)
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype(np.float32)
    plain = zoo.create("mobilevit_xxs", img_size=64)
    plain.set_weights(v1.get_weights())
    np.testing.assert_allclose(np.asarray(v1(x, training=False)), np.asarray(plain(x, training=False)), atol=1e-6)


# ---------------------------------------------------------------------------------------------
# registry, manifest, hub entry points

def test_registry_families_and_manifest():
    archs = registry.archs()
    assert {archs[a].family for a in V1} == {"mobilevit"} and {archs[a].family for a in V2} == {"mobilevitv2"}
    tags = zoo.list_models("mobilevit*", pretrained=True)
    assert len(tags) == 16
    entries = manifest.entries()
    for name in tags:
        arch, tag = name.split(".", 1)
        cfg = archs[arch].cfg(tag)
        size = 384 if name.endswith("_384") else 256
        assert tuple(cfg["input_size"]) == (size, size, 3)
        assert tuple(cfg["mean"]) == (0.0, 0.0, 0.0) and tuple(cfg["std"]) == (1.0, 1.0, 1.0)
        crop = 1.0 if size == 384 else (0.888 if "v2" in name else 0.9)
        assert cfg["crop_pct"] == crop and cfg["interpolation"] == "bicubic", name
        e = entries[name]
        assert e.reported["by"] == "timm results-imagenet.csv" and e.reported["at"] == size
        assert e.source["hub"] == f"timm/{name}" and e.source["format"] == "timm"
    assert {a: archs[a].default_tag for a in V1 + V2} == {a: "cvnets_in1k" for a in V1 + V2}
    assert entries["mobilevitv2_050.cvnets_in1k"].reported["top1"] == 70.156
    assert entries["mobilevitv2_200.cvnets_in22k_ft_in1k_384"].reported["top1"] == 83.430
    assert not [p for p in manifest.validate(archs=set(archs)) if "mobilevit" in p]


def test_hubconf_entry_points(checkpoints):
    from test_hub_hubconf import load_hubconf
    hubconf = load_hubconf()
    g = synth.golden("mobilevitv2_050")
    model = hubconf.mobilevitv2("mobilevitv2_050", pretrained=str(checkpoints("mobilevitv2_050")))
    assert _rel(model.predict(_nhwc(g["input_nchw"]), verbose=0), g["logits"]) < 1e-4
    assert callable(hubconf.mobilevit)


# ---------------------------------------------------------------------------------------------
# serialization, deploy form, TFLite builtins on the resize path

def test_keras_round_trip(tmp_path, checkpoints):
    import keras
    model = _golden_model("mobilevitv2_050", checkpoints, img_size=96)
    x = np.random.default_rng(0).standard_normal((1, 96, 96, 3)).astype(np.float32)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert zoo.pretrained_cfg(again)["arch"] == "mobilevitv2_050"
    # the v1 block's config carries its drop_path (a .keras file of a v1 model rebuilds it)
    from zoo.layers import MobileViTAttention
    block = MobileViTAttention(8, 16, patch_size=2, depth=1, num_heads=2, drop_path=0.1, name="b")
    again = MobileViTAttention.from_config(block.get_config())
    assert again.drop_path_rate == 0.1 and again.transformer[0].drop_path2.rate == 0.1


def test_deploy_forms(checkpoints):
    """Export's deploy step: MobileViTv2 swaps each separable attention for the form whose value
    projection carries its ReLU (`qk_proj` + `v_proj`, cut from `qkv_proj`), which gives the
    same outputs on the golden weights; MobileViT v1 has nothing to swap."""
    from export.deploy import deploy_model
    from zoo.layers import MobileViTv2Attention
    model = _golden_model("mobilevitv2_050", checkpoints)
    attn = [layer.name for layer in model.layers if isinstance(layer, MobileViTv2Attention)]
    x = np.random.default_rng(0).standard_normal((2, 256, 256, 3)).astype(np.float32)
    dmodel, swapped, diff = deploy_model(model, x)
    assert sorted(swapped) == sorted(attn) and len(attn) == 9 and diff < 1e-6
    assert all(dmodel.get_layer(n).split_value and not hasattr(dmodel.get_layer(n), "qkv_proj") for n in attn)
    v1 = zoo.create("mobilevit_xxs", img_size=64)
    same, swapped, diff = deploy_model(v1)
    assert same is v1 and swapped == [] and diff is None


def _dynamic_tensors(path):
    interp = tfl.load_interpreter(str(path), default_delegates=False)
    return [d for d in interp.get_tensor_details() if -1 in list(d.get("shape_signature", []))]


def test_tflite_builtins_static_shapes_on_the_resize_path(tmp_path, checkpoints):
    """At 96 mobilevitv2_050 resizes its 3x3 stage-4 input (align_corners) and runs GroupNorm ->
    conv: the TFLite file has builtin ops only (no Flex conv, no ExtractImagePatches), no
    dynamic-shape tensor, and matches Keras (the golden weights, a non-multiple size)."""
    model = _golden_model("mobilevitv2_050", checkpoints, img_size=96)
    path = export.to_tflite(model, tmp_path / "m.tflite", quantize="fp32", pixel_input=False, metadata=False)
    info = tfl.inspect_tflite(path.read_bytes())
    assert info["flex_or_custom"] == []
    assert {"RESIZE_BILINEAR", "TRANSPOSE", "CONV_2D", "DEPTHWISE_CONV_2D", "SOFTMAX"} <= set(info["ops"])
    assert not _dynamic_tensors(path)
    interp = tfl.load_interpreter(str(path))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 96, 96, 3)).astype(np.float32)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    ref = model.predict(x, verbose=0)
    assert _rel(interp.get_tensor(out["index"]), ref) < 1e-4


# ---------------------------------------------------------------------------------------------
# live parity against timm (torch extra; skipped cleanly without it)

LIVE = [  # (name, img_size, in_chans, features): 224 is the non-multiple path (7x7 at stride 32)
    ("mobilevitv2_075", 224, 3, True),
    ("mobilevit_xs", 224, 1, True),
]
LIVE_SLOW = [
    ("mobilevitv2_100", 224, 3, False),
    ("mobilevitv2_150.cvnets_in22k_ft_in1k_384", None, 3, True),   # the 384 tag's cfg: 384 input
    ("mobilevit_s", 224, 3, True),
]


def _live(name, img_size, in_chans, features, tmp_path):
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    from safetensors.numpy import save_file

    arch = name.split(".")[0]
    ref = timm.create_model(arch, pretrained=False, in_chans=in_chans).eval()
    state = {k: (synth.synth_tensor(k, tuple(v.shape)) if v.is_floating_point() else v.numpy())
             for k, v in ref.state_dict().items()}
    ref.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    path = tmp_path / f"{arch}.safetensors"
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path))
    model = zoo.create(name, pretrained=str(path), img_size=img_size, in_chans=in_chans)
    size = model.input_shape[1]
    assert size == (img_size or 384)
    x = synth.synth_input((1, in_chans, size, size))
    with torch.no_grad():
        t_logits = ref(torch.from_numpy(x)).numpy()
        t_feats = ref.forward_intermediates(torch.from_numpy(x), intermediates_only=True) if features else []
    assert _rel(model.predict(_nhwc(x), verbose=0), t_logits) < 1e-4, name
    if features:
        fm = zoo.create(name, pretrained=str(path), img_size=img_size, in_chans=in_chans, features_only=True)
        outs = fm.predict(_nhwc(x), verbose=0)
        assert len(outs) == len(t_feats) == 5
        for o, t in zip(outs, t_feats):
            t = t.numpy().transpose(0, 2, 3, 1)
            assert o.shape == t.shape and _rel(o, t) < 1e-4, name


@pytest.mark.torch
@pytest.mark.parametrize("name,img_size,in_chans,features", LIVE)
def test_live_parity(name, img_size, in_chans, features, tmp_path):
    _live(name, img_size, in_chans, features, tmp_path)


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("name,img_size,in_chans,features", LIVE_SLOW)
def test_live_parity_large(name, img_size, in_chans, features, tmp_path):
    _live(name, img_size, in_chans, features, tmp_path)


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("arch", V1 + V2)
def test_param_counts_match_timm(arch):
    timm = pytest.importorskip("timm")
    assert zoo.model_info(arch)["params"] == sum(p.numel() for p in timm.create_model(arch).parameters())
