"""The family contract: one load pipeline with the family's adapt_state for every file format,
table resampling at another img_size, family kwargs, group matchers, the cfg after `.keras`."""
import subprocess
import sys

import keras
import numpy as np
import pytest

import zoo
from zoo import checkpoint, registry, resample
from zoo.errors import InvalidArgumentError
from zoo.models._common import ModelParts, image_input


@keras.saving.register_keras_serializable("zoo_tests")
class PosTable(keras.layers.Layer):
    """A learned table over the token grid (a ViT/GFNet-style pos_embed): its shape depends on img_size."""

    def build(self, input_shape):
        _, h, w, c = input_shape
        self.grid = (h, w)
        self.pos_embed = self.add_weight(name="pos_embed", shape=(1, h * w, c), initializer="zeros")

    def call(self, x):
        return x + keras.ops.reshape(self.pos_embed, (1, *self.grid, -1))


ADAPTED = []   # (state format, old grid) of every call of the hook that resized something


def _adapt_state(state, targets):
    key = "pos.pos_embed"
    if key in state and tuple(state[key].shape) != targets[key].shape:
        old = int(round(state[key].shape[1] ** 0.5))
        new = int(round(targets[key].shape[1] ** 0.5))
        ADAPTED.append(old)
        state[key] = resample.resize_pos_embed(state[key], (new, new), old_size=(old, old))
    return state


def _build_toy(*, width, num_classes, in_chans, img_size, drop_rate, drop_path_rate, name, extra=1.0):
    inputs, x = image_input(img_size, in_chans, name)
    x = keras.layers.Conv2D(width, 8, strides=8, name="patch_embed.proj")(x)
    x = PosTable(name="pos")(x)
    x = keras.layers.Rescaling(extra, name="scale")(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    if num_classes:
        x = keras.layers.Dense(num_classes, name="head")(x)
    return ModelParts(inputs, x, [])


@pytest.fixture(scope="module", autouse=True)
def toy_family():
    """The toy family is registered for this module only (the index and hubconf tests see the real ones)."""
    registry.register_family(
        "toy", _build_toy, {"toy_table": registry.Variant(dict(width=4), cfg=dict(input_size=(64, 64, 3)))},
        first_conv="patch_embed.proj", classifier="head", adapt_state=_adapt_state, family_kwargs=("extra",),
        group_matcher={"stem": r"^patch_embed\b", "stages": r"^pos()", "head": r"^head\b"},
        aliases={"toy_alias": "toy_table"})
    yield
    registry._ARCHS.pop("toy_table")
    registry._ALIASES.pop("toy_alias")


def _torch_state(model):
    """The model's weights as a PyTorch file would hold them (OIHW conv, (out, in) linear)."""
    w = model.get_layer("patch_embed.proj")
    return {"patch_embed.proj.weight": np.transpose(w.kernel.numpy(), (3, 2, 0, 1)),
            "patch_embed.proj.bias": w.bias.numpy(),
            "pos.pos_embed": model.get_layer("pos").pos_embed.numpy(),
            "head.weight": model.get_layer("head").kernel.numpy().T,
            "head.bias": model.get_layer("head").bias.numpy()}


@pytest.fixture
def trained(tmp_path):
    src = zoo.create("toy_table", num_classes=3)       # 64x64 -> an 8x8 grid
    rng = np.random.default_rng(0)
    for v in src.weights:
        v.assign(rng.normal(size=v.shape).astype("float32"))
    from safetensors.numpy import save_file

    torch_file = tmp_path / "toy_torch.safetensors"
    save_file({k: np.ascontiguousarray(v) for k, v in _torch_state(src).items()}, str(torch_file))
    keras_file = checkpoint.save_keras_safetensors(src, tmp_path / "toy_keras.safetensors")
    return src, torch_file, keras_file


def test_both_layouts_go_through_the_family_hook(trained):
    src, torch_file, keras_file = trained
    expected = resample.resize_pos_embed(src.get_layer("pos").pos_embed.numpy(), (12, 12), old_size=(8, 8))
    loaded = {}
    for kind, path in (("torch", torch_file), ("keras", keras_file)):
        ADAPTED.clear()
        model = zoo.create("toy_table", pretrained=str(path), img_size=96, num_classes=3)
        assert ADAPTED == [8], f"the {kind} file did not go through adapt_state"
        loaded[kind] = model.get_layer("pos").pos_embed.numpy()
        np.testing.assert_allclose(loaded[kind], expected, atol=1e-6)
        np.testing.assert_array_equal(model.get_layer("head").kernel.numpy(), src.get_layer("head").kernel.numpy())
    np.testing.assert_array_equal(loaded["torch"], loaded["keras"])


def test_same_size_leaves_tables_alone_and_in_chans_adapts(trained):
    src, torch_file, _ = trained
    ADAPTED.clear()
    same = zoo.create("toy_table", pretrained=str(torch_file), num_classes=3)
    assert ADAPTED == []
    x = np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(same(x), src(x), atol=1e-5)
    gray = zoo.create("toy_table", pretrained=str(torch_file), num_classes=3, in_chans=1)
    np.testing.assert_allclose(gray.get_layer("patch_embed.proj").kernel.numpy(),
                               src.get_layer("patch_embed.proj").kernel.numpy().sum(axis=2, keepdims=True),
                               rtol=1e-6)


def test_a_table_the_hook_does_not_resize_is_a_misshaped_tensor(tmp_path, trained):
    _, torch_file, _ = trained
    spec = registry.archs()["toy_table"]
    from zoo import convert

    model = zoo.create("toy_table", img_size=96, num_classes=3)
    with pytest.raises(zoo.CheckpointError, match=r"(?s)1 mis-shaped.*pos\.pos_embed: checkpoint \(1, 64, 4\)"):
        convert.load_torch_state(model, checkpoint.read_safetensors(torch_file), first_conv=spec.first_conv,
                                 classifier=spec.classifier)


def test_family_kwargs_are_validated_and_reach_the_builder():
    model = zoo.create("toy_table", extra=2.0, num_classes=0)
    assert model.get_layer("scale").scale == 2.0
    with pytest.raises(InvalidArgumentError, match=r"unknown argument\(s\) width_mult.*accepts: extra"):
        zoo.create("toy_table", width_mult=2)
    with pytest.raises(InvalidArgumentError, match=r"accepts: none"):
        zoo.create("legacy_seresnet18", attn_layer="cbam")
    cbam = zoo.create("seresnet18", attn_layer="cbam", img_size=64)
    assert isinstance(cbam.get_layer("layer1.0.se"), zoo.layers.CBAMBlock)


def test_builder_level_bad_arguments_are_zoo_errors():
    with pytest.raises(InvalidArgumentError, match="drop_path_rate=0"):
        zoo.create("legacy_seresnet18", drop_path_rate=0.1)
    with pytest.raises(InvalidArgumentError, match="attn_layer 'nope'"):
        zoo.create("seresnet18", attn_layer="nope", img_size=64)


def test_cli_prints_one_line_for_a_builder_error(capsys):
    from zoo.cli import main

    assert main(["export", "seresnet18", "--format", "onnx", "--weights", "none", "--img-size", "16"]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert errors == ["zoo export: error: img_size 16x16 is too small for seresnet18: at least 32x32 (stride 32)."]
    assert "Traceback" not in err


def test_group_matcher_names_stem_stages_and_head():
    spec = registry.archs()["seresnet18"]
    assert [spec.layer_group(n) for n in ("conv1", "bn1", "layer1.0.conv1", "layer4.1.se.fc1", "fc")] == \
        ["stem", "stem", "stages.0", "stages.3", "head"]
    legacy = registry.archs()["legacy_seresnet18"]
    assert [legacy.layer_group(n) for n in ("layer0.conv1", "layer2.0.conv1", "last_linear")] == \
        ["stem", "stages.1", "head"]
    model = zoo.create("seresnet18", img_size=64)
    groups = {spec.layer_group(layer.name) for layer in model.layers if layer.weights}
    assert groups == {"stem", "head", *(f"stages.{i}" for i in range(4))}, "every weight layer has a group"


def test_pretrained_cfg_survives_keras_files(tmp_path):
    model = zoo.create("seresnet18", img_size=64, num_classes=7)
    path = tmp_path / "m.keras"
    model.save(path)
    back = keras.models.load_model(path)
    assert not hasattr(back, "pretrained_cfg")
    assert dict(zoo.pretrained_cfg(back)) == dict(zoo.pretrained_cfg(model)) == dict(model.pretrained_cfg)
    assert zoo.pretrained_cfg(back)["input_size"] == (64, 64, 3)
    assert zoo.pretrained_cfg(keras.Sequential([keras.layers.Dense(1)])) is None


def test_names_are_case_insensitive():
    assert registry.resolve("SERESNET18")[0].name == "seresnet18"
    assert registry.resolve("SEResNet50.A1_IN1K") == (registry.archs()["seresnet50"], "a1_in1k")
    assert registry.resolve("TOY_ALIAS")[0].name == "toy_table"
    assert "seresnet18" in zoo.list_models("SERESNET1*")


def test_family_files_do_not_import_factory_or_hub():
    code = ("import zoo.models.resnet, sys; "
            "assert 'zoo.factory' not in sys.modules and 'zoo.hub' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300, capture_output=True)
