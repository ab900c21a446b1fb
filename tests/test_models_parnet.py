"""ParNet (zoo/models/parnet.py): golden parity with the official SimpNet, the deploy (fused) form,
features, sizes, in_chans, .keras round trip; live parity and `zoo convert` of an official-style
.pth.tar against our PyTorch re-implementation (zoo/torch_ref/parnet.py), with torch only.

The golden fixture (tests/fixtures/parnet_s.*, copied from the shared reference checkpoints) holds
the official code's logits for synthetic weights (tests/synth.py recipe); its logits reach ~25,
so differences are relative to max|logits|.
"""
import numpy as np
import pytest
import synth

import keras

import zoo
from zoo.errors import InvalidArgumentError
from zoo.layers import ParNetAttention
from zoo.models import parnet

ARCHS = ["parnet_s", "parnet_m", "parnet_l", "parnet_xl"]
N_BLOCKS = 22     # 4 inits + 4 + 5 + 5 stream blocks + 2 downsamples + 2 combine


def _rel(y, ref):
    return float(np.abs(np.asarray(y, np.float64) - ref).max() / np.abs(ref).max())


@pytest.fixture(scope="module")
def golden():
    g = synth.golden("parnet_s")
    return g, g["input_nchw"].transpose(0, 2, 3, 1)


@pytest.fixture(scope="module")
def model_s(checkpoints):
    return zoo.create("parnet_s", pretrained=str(checkpoints("parnet_s")))


def test_golden_logits(model_s, golden):
    g, x = golden
    y = model_s.predict(x, verbose=0)
    d = _rel(y, g["logits"])
    print(f"parnet_s golden: max|diff| / max|logits| = {d:.2g}")
    assert y.shape == (2, 1000) and d < 1e-4


def test_paper_activation_is_not_what_the_checkpoints_run(checkpoints, golden):
    """The official YAMLs never switch SiLU on (see zoo/models/parnet.py): the same weights in the
    SiLU network give other logits, so the golden test above can tell the two apart."""
    g, x = golden
    silu = zoo.create("parnet_s", pretrained=str(checkpoints("parnet_s")), activation="silu")
    assert _rel(silu.predict(x, verbose=0), g["logits"]) > 0.1


def test_fused_equals_unfused_parnet_s(model_s, golden):
    g, x = golden
    fused = parnet.fuse_model(model_s)
    blocks = [l for l in fused.layers if isinstance(l, ParNetAttention)]
    assert len(blocks) == N_BLOCKS and all(b.deploy and b.rbr_1x1 is None for b in blocks)
    assert not any(l.deploy for l in model_s.layers if isinstance(l, ParNetAttention))  # training form kept
    d = _rel(fused.predict(x, verbose=0), model_s.predict(x, verbose=0))
    print(f"parnet_s fused vs unfused: {d:.2g}")
    assert d < 1e-4
    assert zoo.pretrained_cfg(fused)["interpolation"] == "bilinear"


def test_export_deploys_the_fused_form(model_s, golden):
    from export.deploy import deploy_model
    _, x = golden
    new, swapped, d = deploy_model(model_s, x)
    assert len(swapped) == N_BLOCKS and d < 1e-5
    assert all(l.deploy for l in new.layers if isinstance(l, ParNetAttention))


def _data_init(arch, size=64, **kw):
    from export import testing
    keras.utils.set_random_seed(0)
    return testing.data_init(zoo.create(arch, img_size=size, **kw))


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_fused_equals_unfused_every_arch(arch):
    """Every registered arch, stand-in weights with data-initialised BatchNorm statistics (the fast
    run covers parnet_s with the golden weights above)."""
    model = _data_init(arch)
    x = np.random.default_rng(1).standard_normal((2, 64, 64, 3)).astype(np.float32)
    ref = model.predict(x, verbose=0)
    assert np.abs(ref).max() > 1e-3
    assert _rel(parnet.fuse_model(model).predict(x, verbose=0), ref) < 1e-4


@pytest.mark.parametrize("cin,cout,stride,groups", [(8, 8, 1, 1), (8, 12, 2, 1), (8, 12, 2, 2), (16, 8, 1, 2)])
def test_block_shapes_fuse_and_keep_official_names(cin, cout, stride, groups):
    """ParNetAttention in every shape the networks use: fused == unfused (random BN statistics),
    checkpoint names as the official block has them."""
    from zoo.convert import weight_slots
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, cin))
    layer = ParNetAttention(cin, out_channel=cout, stride=stride, groups=groups, name="blk")
    model = keras.Model(inp, layer(inp))
    rng = np.random.default_rng(0)
    for v in layer.weights:
        v.assign(rng.uniform(0.5, 1.5, v.shape) if "variance" in v.path else rng.normal(0, 0.5, v.shape))
    x = rng.standard_normal((2, 6, 6, cin)).astype(np.float32)
    fused = layer.fuse()
    assert _rel(fused(x), model(x)) < 1e-5
    one = "blk.rbr_1x1.1.conv.weight" if stride == 2 else "blk.rbr_1x1.conv.weight"
    keys = set(weight_slots(model))
    assert one in keys and ("blk.rbr_identity.weight" in keys) == (cin == cout and stride == 1)
    with pytest.raises(ValueError, match="even height"):
        ParNetAttention(cin, out_channel=cout, stride=2)(keras.Input((5, 6, cin)))


def test_deploy_kwarg_builds_the_official_fused_layout():
    """deploy=True builds what the official --fuse leaves (rbr_dense a conv with bias), with the
    same weight names as a fused model."""
    from zoo.convert import weight_slots
    direct = zoo.create("parnet_s", img_size=64, deploy=True)
    fused = parnet.fuse_model(zoo.create("parnet_s", img_size=64))
    keys = set(weight_slots(direct))
    assert keys == set(weight_slots(fused))
    assert "inits.0.0.block.rbr_dense.bias" in keys and not any(".rbr_1x1." in k for k in keys)


def test_features_only():
    feats = zoo.create("parnet_s", img_size=64, features_only=True)
    shapes = [tuple(t.shape[1:]) for t in feats.outputs]
    assert shapes == [(32, 32, 64), (16, 16, 92), (8, 8, 192), (4, 4, 384), (2, 2, 1280)]
    info = zoo.create("parnet_s", img_size=64, features_only=True, out_indices=(1, 4))
    assert [tuple(t.shape[1:]) for t in info.outputs] == [(16, 16, 92), (2, 2, 1280)]


def test_other_img_size_and_size_rule(checkpoints):
    m = zoo.create("parnet_s", pretrained=str(checkpoints("parnet_s")), img_size=96)
    y = m.predict(synth.synth_input((1, 96, 96, 3)), verbose=0)
    assert y.shape == (1, 1000) and np.isfinite(y).all()
    with pytest.raises(InvalidArgumentError, match="multiple of 32"):
        zoo.create("parnet_s", img_size=100)


def test_in_chans_adapts_all_three_input_convs(checkpoints):
    """in_chans=1 sums the first block's three input convs over RGB (timm's rule): a grey image
    gives the 3-channel model's logits on that image repeated."""
    path = str(checkpoints("parnet_s"))
    grey = zoo.create("parnet_s", pretrained=path, in_chans=1, img_size=64)
    rgb = zoo.create("parnet_s", pretrained=path, img_size=64)
    x = synth.synth_input((1, 64, 64, 1))
    d = _rel(grey.predict(x, verbose=0), rgb.predict(np.repeat(x, 3, -1), verbose=0))
    assert d < 1e-4


def test_keras_round_trip_training_and_fused(tmp_path):
    """Both forms reload from .keras with their outputs (a narrow ParNet: the same builder and
    layers as the registered archs, a fraction of the save/load time)."""
    from export import testing
    keras.utils.set_random_seed(0)
    parts = parnet.build_parnet((16, 32, 64, 128), name="parnet_tiny", num_classes=10, img_size=(64, 64))
    images = np.random.default_rng(3).standard_normal((8, 64, 64, 3)).astype(np.float32)
    model = testing.data_init(keras.Model(parts.inputs, parts.outputs, name="parnet_tiny"), images)
    x = np.random.default_rng(2).standard_normal((1, 64, 64, 3)).astype(np.float32)
    fused = parnet.fuse_model(model)
    for m, name in ((model, "train"), (fused, "fused")):
        path = tmp_path / f"{name}.keras"
        m.save(path)
        back = keras.models.load_model(path)
        np.testing.assert_allclose(back.predict(x, verbose=0), m.predict(x, verbose=0), rtol=0, atol=1e-5)
        assert [l.deploy for l in back.layers if isinstance(l, ParNetAttention)] == [name == "fused"] * N_BLOCKS
    assert _rel(fused.predict(x, verbose=0), model.predict(x, verbose=0)) < 1e-4


def test_bad_family_kwargs():
    with pytest.raises(InvalidArgumentError, match="activation"):
        zoo.create("parnet_s", img_size=64, activation="gelu")
    with pytest.raises(InvalidArgumentError, match="stochastic depth"):
        zoo.create("parnet_s", img_size=64, drop_path_rate=0.1)


def test_pretrained_true_says_how_to_get_the_weights():
    from zoo.errors import ZooError
    with pytest.raises(ZooError) as e:
        zoo.create("parnet_s", pretrained=True)
    msg = str(e.value)
    assert "releases/download/v.0.1.0/planes_92_192_384_1280_num_blocks_5_6_6_1_sebv_13.pth.tar" in msg
    assert "zoo convert" in msg and "--arch parnet_s" in msg


def test_manifest_entries():
    info = zoo.model_info("parnet_xl")
    assert info["interpolation"] == "bilinear" and info["crop_pct"] == 0.875
    tags = {e.split(".", 1)[1] for e in zoo.list_models("parnet_xl.*", pretrained=True)}
    assert tags == {"in1k", "in1k_200ep", "in1k_200ep_ft320"}
    assert zoo.model_info("parnet_s")["params"] == synth.layout("parnet_s")["num_params"]


# ------------------------------------------------------------------------------------------------
# Live parity with torch (optional extra): zoo/torch_ref/parnet.py is checked against the golden
# fixture first, so it is the official network, then used as the reference at other sizes.

def _torch():
    return pytest.importorskip("torch")


def _reference_with_synth(arch, torch, seed=synth.SEED, **kw):
    from zoo.torch_ref import parnet as ref
    m = ref.build(arch, **kw)
    state = {k: (synth.synth_tensor(k, tuple(v.shape), seed) if v.is_floating_point() else v.numpy())
             for k, v in m.state_dict().items()}
    m.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    return m, state


@pytest.mark.torch
def test_torch_reference_reproduces_the_golden(golden):
    torch = _torch()
    g, _ = golden
    m, state = _reference_with_synth("parnet_s", torch)
    assert [(e["key"], e["shape"]) for e in synth.layout("parnet_s")["keys"]] == \
        [(k, list(v.shape)) for k, v in state.items()]
    with torch.no_grad():
        y = m(torch.from_numpy(g["input_nchw"])).numpy()
        assert _rel(y, g["logits"]) < 1e-5
        m.fuse()       # the official fuse_repvgg_block
        assert _rel(m(torch.from_numpy(g["input_nchw"])).numpy(), g["logits"]) < 1e-5


@pytest.mark.torch
@pytest.mark.parametrize("arch,size", [("parnet_s", 64), pytest.param("parnet_m", 96, marks=pytest.mark.slow),
                                       pytest.param("parnet_l", 64, marks=pytest.mark.slow),
                                       pytest.param("parnet_xl", 64, marks=pytest.mark.slow)])
def test_live_parity(arch, size, tmp_path):
    torch = _torch()
    from safetensors.numpy import save_file
    m, state = _reference_with_synth(arch, torch, img_size=size)
    path = tmp_path / f"{arch}.safetensors"
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path))
    x = synth.synth_input((2, 3, size, size))
    with torch.no_grad():
        ref = m(torch.from_numpy(x)).numpy()
    ours = zoo.create(arch, pretrained=str(path), img_size=size)
    assert _rel(ours.predict(x.transpose(0, 2, 3, 1), verbose=0), ref) < 1e-4
    with torch.no_grad():
        ref_fused = m.fuse()(torch.from_numpy(x)).numpy()
    assert _rel(parnet.fuse_model(ours).predict(x.transpose(0, 2, 3, 1), verbose=0), ref_fused) < 1e-4


@pytest.mark.torch
def test_zoo_convert_reads_an_official_pth_tar(tmp_path, golden, capsys):
    """An official-style training checkpoint (state_dict + state_dict_ema, DataParallel `module.`
    keys, other entries beside them), written here with torch.save, converted by `zoo convert`
    (which reads it with weights_only=True), loads to the reference's logits; --ema takes the EMA."""
    torch = _torch()
    from zoo.cli import main
    g, x = golden
    _, state = _reference_with_synth("parnet_s", torch)
    _, ema = _reference_with_synth("parnet_s", torch, seed=7)
    wrap = lambda s: {f"module.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in s.items()}  # noqa: E731
    src = tmp_path / "planes_92_192_384_1280_num_blocks_5_6_6_1_sebv_13.pth.tar"
    torch.save({"epoch": 119, "arch": "simplenet_repvgg", "state_dict": wrap(state), "state_dict_ema": wrap(ema),
                "optimizer": {"state": {}, "param_groups": []}, "version": 2}, str(src))
    out = tmp_path / "parnet_s.safetensors"
    assert main(["convert", str(src), "--arch", "parnet_s", "-o", str(out)]) in (0, None)
    printed = capsys.readouterr().out
    assert "unwrapped: state_dict" in printed and "removed key prefix 'module.'" in printed
    parity = next(line for line in printed.splitlines() if "reference parity" in line)
    assert "official ParNet SimpNet" in parity and parity.endswith("pass"), printed   # zoo.torch_ref.parnet ran
    y = zoo.create("parnet_s", pretrained=str(out)).predict(x, verbose=0)
    assert _rel(y, g["logits"]) < 1e-4
    out_ema = tmp_path / "parnet_s_ema.safetensors"
    assert main(["convert", str(src), "--arch", "parnet_s", "--ema", "--no-parity", "-o", str(out_ema)]) in (0, None)
    y_ema = zoo.create("parnet_s", pretrained=str(out_ema)).predict(x, verbose=0)
    assert _rel(y_ema, g["logits"]) > 1e-2
