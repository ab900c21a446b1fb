"""zoo.create options, fine-tuning round trip, and the errors a user meets first."""
import numpy as np
import pytest
import synth

import keras
import zoo
from zoo.errors import CheckpointError, InvalidArgumentError, UnknownModelError, WeightsUnavailableError

SMALL = dict(img_size=64)


def _rel_err(y, ref):
    return float(np.abs(y - ref).max() / max(1.0, np.abs(ref).max()))


def test_finetune_one_step_then_keras_round_trip(tmp_path):
    """The issue's example: new 10-class head on 1-channel input, one training step, .keras save/load."""
    model = zoo.create("seresnet50", num_classes=10, in_chans=1)
    assert model.input_shape == (None, 224, 224, 1) and model.output_shape == (None, 10)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 224, 224, 1)).astype("float32")
    y = np.array([3, 7])
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = sum(not np.array_equal(a, w.numpy()) for a, w in zip(before, model.trainable_weights))
    assert changed == len(before), "every trainable weight takes a step"
    path = tmp_path / "seresnet50_10.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), reloaded.predict(x, verbose=0))


def test_drop_path_and_dropout_round_trip(tmp_path):
    model = zoo.create("seresnet18", drop_rate=0.2, drop_path_rate=0.1, **SMALL)
    assert any(isinstance(l, zoo.layers.DropPath) for l in model.layers)
    x = np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype("float32")
    # inference is deterministic; training draws masks
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=True))
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0),
                                  keras.models.load_model(tmp_path / "m.keras").predict(x, verbose=0))


def test_in_chans_adapts_pretrained_first_conv(checkpoints):
    """timm's rule: sum over RGB for 1 channel; tile and rescale by 3/in_chans otherwise."""
    ref = synth.synth_state_dict("legacy_seresnet18")["layer0.conv1.weight"]  # (O, 3, kh, kw)
    one = zoo.create("legacy_seresnet18", pretrained=str(checkpoints("legacy_seresnet18")), in_chans=1)
    k1 = one.get_layer("layer0.conv1").kernel.numpy()  # (kh, kw, 1, O)
    np.testing.assert_allclose(k1[:, :, 0, :], ref.sum(axis=1).transpose(1, 2, 0), rtol=1e-6, atol=1e-6)
    five = zoo.create("legacy_seresnet18", pretrained=str(checkpoints("legacy_seresnet18")), in_chans=5)
    k5 = five.get_layer("layer0.conv1").kernel.numpy()
    expect = np.concatenate([ref, ref[:, :2]], axis=1) * (3 / 5)
    np.testing.assert_allclose(k5, expect.transpose(2, 3, 1, 0), rtol=1e-6, atol=1e-7)


def test_num_classes_replaces_head_and_keeps_backbone(checkpoints):
    g = synth.golden("legacy_seresnet18")
    x = g["input_nchw"].transpose(0, 2, 3, 1)
    path = str(checkpoints("legacy_seresnet18"))
    model = zoo.create("legacy_seresnet18", pretrained=path, num_classes=7)
    assert model.output_shape == (None, 7)
    backbone = keras.Model(model.input, model.get_layer("global_pool").output)
    np.testing.assert_allclose(backbone.predict(x, verbose=0), g["pre_logits"], atol=1e-4 * np.abs(g["pre_logits"]).max())


@pytest.mark.parametrize("name,strides", [("seresnet50", [2, 4, 8, 16, 32]), ("legacy_seresnet18", [2, 4, 8, 16, 32])])
def test_features_only(name, strides):
    feats = zoo.create(name, features_only=True, img_size=96)
    info = zoo.feature_info(name, img_size=96)
    assert [f["reduction"] for f in info] == strides
    outs = feats.predict(np.zeros((1, 96, 96, 3), "float32"), verbose=0)
    assert [o.shape for o in outs] == [(1, -(-96 // s), -(-96 // s), f["num_chs"]) for s, f in zip(strides, info)]
    two = zoo.create(name, features_only=True, out_indices=(1, -1), img_size=96)
    assert [o.shape[-1] for o in two.outputs] == [info[1]["num_chs"], info[-1]["num_chs"]]


def test_features_only_with_pretrained_weights_match_pre_logits(checkpoints):
    g = synth.golden("seresnet50")
    feats = zoo.create("seresnet50", pretrained=str(checkpoints("seresnet50")), features_only=True, out_indices=(-1,))
    last = feats.predict(g["input_nchw"].transpose(0, 2, 3, 1), verbose=0)
    np.testing.assert_allclose(last.mean(axis=(1, 2)), g["pre_logits"], atol=1e-4 * np.abs(g["pre_logits"]).max())


def test_img_size_changes_input_and_pretrained_cfg():
    model = zoo.create("seresnet18", img_size=(96, 128))
    assert model.input_shape == (None, 96, 128, 3)
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (96, 128, 3) and cfg["arch"] == "seresnet18" and cfg["weights"] is None
    assert cfg["mean"] == (0.485, 0.456, 0.406)


def test_names_tags_and_aliases():
    spec_cfg = zoo.model_info("seresnet50.a3_in1k")
    assert spec_cfg["tag"] == "a3_in1k" and spec_cfg["input_size"] == (160, 160, 3)
    assert zoo.model_info("seresnet50")["tag"] == "a1_in1k"  # timm's default tag
    model = zoo.create("seresnet50.a3_in1k")  # a tag's cfg without its weights, like timm
    assert model.input_shape == (None, 160, 160, 3) and model.pretrained_cfg["tag"] == "a3_in1k"


# --- errors: every one says what is wrong and what to do -----------------------------------------

def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError, match="Did you mean: .*seresnet50"):
        zoo.create("seresnet5O")


def test_unknown_tag_lists_known_tags():
    with pytest.raises(UnknownModelError, match="a1_in1k"):
        zoo.create("seresnet50.imagenet")
    with pytest.raises(UnknownModelError, match="a1_in1k"):
        zoo.create("seresnet50", pretrained="imagenet")


@pytest.mark.parametrize("kwargs,match", [
    (dict(in_chans=0), "in_chans"),
    (dict(num_classes=-1), "num_classes"),
    (dict(drop_rate=1.5), "drop_rate"),
    (dict(drop_path_rate=-0.1), "drop_path_rate"),
    (dict(out_indices=(1,)), "features_only"),
    (dict(features_only=True, num_classes=10), "features_only"),
    (dict(features_only=True, out_indices=(9,)), "out of range"),
    (dict(img_size=(16, 16)), "too small"),
    (dict(img_size="big"), "img_size"),
    (dict(pretrained=3.5), "pretrained"),
    (dict(pretrained="hf-hub:nobody"), "hf-hub:owner/repo"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        zoo.create("seresnet18", **kwargs)


def test_wrong_input_channels_is_a_clear_error():
    model = zoo.create("legacy_seresnet18", **SMALL)
    with pytest.raises(ValueError, match=r"takes NHWC images .* 3\).*in_chans=1"):
        model.predict(np.zeros((1, 64, 64, 1), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 64, 64, 3\), found shape=\(1, 3, 64, 64\)"):
        model(np.zeros((1, 64, 64, 3), "float32").transpose(0, 3, 1, 2))  # Keras' own input check


def test_checkpoint_for_another_architecture(checkpoints):
    with pytest.raises(CheckpointError, match="another architecture") as e:
        zoo.create("legacy_seresnet18", pretrained=str(checkpoints("seresnet50")))
    assert "unexpected: " in str(e.value) and "missing: " in str(e.value)


def test_mis_shaped_tensor_is_listed(checkpoints, tmp_path):
    from safetensors.numpy import save_file
    state = synth.synth_state_dict("legacy_seresnet18")
    state["layer1.0.conv1.weight"] = state["layer1.0.conv1.weight"][:32]
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(CheckpointError, match=r"(?s)1 mis-shaped.*layer1\.0\.conv1\.weight: checkpoint \(32, 64, 3, 3\)"):
        zoo.create("legacy_seresnet18", pretrained=str(tmp_path / "bad.safetensors"))


def test_truncated_safetensors(checkpoints, tmp_path):
    data = checkpoints("legacy_seresnet18").read_bytes()
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        zoo.create("legacy_seresnet18", pretrained=str(bad))


def test_pickle_checkpoints_are_refused(tmp_path):
    pth = tmp_path / "seresnet18-4bb0ce65.pth"
    pth.write_bytes(b"\x80\x02not really")
    with pytest.raises(CheckpointError, match="never unpickles.*zoo convert"):
        zoo.create("legacy_seresnet18", pretrained=str(pth))


def test_missing_local_file():
    with pytest.raises(CheckpointError, match="does not exist"):
        zoo.create("legacy_seresnet18", pretrained="./nope/model.safetensors")


def test_pretrained_true_without_published_weights():
    with pytest.raises(WeightsUnavailableError, match="no published pretrained weights"):
        zoo.create("seresnet18", pretrained=True)


def test_pretrained_true_for_weights_not_on_the_hub():
    with pytest.raises(WeightsUnavailableError, match="not on the Hugging Face Hub.*zoo convert"):
        zoo.create("legacy_seresnet18", pretrained=True)


@pytest.mark.parametrize("name", ["legacy_seresnet18", "ecaresnet26t", "skresnet18"])
def test_keras_round_trip_per_family(name, tmp_path):
    """Every family's custom layers serialize: .keras save/load gives identical outputs."""
    model = zoo.create(name, **SMALL)
    x = np.random.default_rng(2).normal(size=(2, 64, 64, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0),
                                  keras.models.load_model(tmp_path / "m.keras").predict(x, verbose=0))


def test_deepest_arch_builds():
    """269-layer graphs exceed Python's default recursion limit inside Keras' graph mapping."""
    info = zoo.feature_info("ecaresnet269d", img_size=32)
    assert [f["reduction"] for f in info] == [2, 4, 8, 16, 32]
    model = zoo.create("ecaresnet269d", img_size=32)
    assert model.output_shape == (None, 1000)


@pytest.mark.parametrize("attn", ["cbam", "coord", "gam", "simam", "triplet",
                                  lambda c, name: zoo.layers.SEAttention(channel=c, reduction=4, name=name)])
def test_resnet_builder_takes_any_channel_attention(attn):
    """build_resnet puts any attention module of zoo.layers in every block's `se` slot."""
    from zoo.models.resnet import build_resnet
    parts = build_resnet(block="basic", layers=(1, 1, 1, 1), attn_layer=attn, num_classes=5, img_size=(64, 64))
    model = keras.Model(parts.inputs, parts.outputs)
    assert model.get_layer("layer1.0.se") is not None
    assert model.predict(np.zeros((1, 64, 64, 3), "float32"), verbose=0).shape == (1, 5)


def test_keras_weights_file_of_another_arch_is_one_summary(tmp_path):
    import warnings

    other = zoo.create("seresnet18", **SMALL)
    path = tmp_path / "other.weights.h5"
    other.save_weights(path)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(CheckpointError) as err:
        warnings.simplefilter("always")
        zoo.create("legacy_seresnet18", pretrained=str(path), **SMALL)
    assert caught == [], [str(w.message)[:200] for w in caught]
    msg = str(err.value)
    assert "do not fit model 'legacy_seresnet18'" in msg and "saved from this architecture" in msg
    assert len(msg) < 2000 and len(msg.splitlines()) <= 6, msg
    same = zoo.create("seresnet18", pretrained=str(path), **SMALL)     # the right arch loads
    x = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype("float32")
    np.testing.assert_array_equal(same(x), other(x))
