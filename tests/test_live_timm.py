"""Live parity against timm (optional: needs the torch extra, skipped without it).

Each arch gets a synthetic checkpoint drawn for timm's own state-dict layout (tests/synth.py
recipe), is loaded into timm and into our Keras graph, and both run the same input:
logits, pre-logits and the features_only maps must agree.
"""
import numpy as np
import pytest
import synth

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import zoo  # noqa: E402

pytestmark = pytest.mark.torch

FAST = ["seresnet18", "seresnet50d", "skresnet18", "skresnext50_32x4d", "seresnext26d_32x4d", "ecaresnet26t",
        "ecaresnetlight", "seresnetaa50d", "legacy_seresnet50", "legacy_seresnext26_32x4d"]
SLOW = ["skresnet50d", "seresnet152d", "senet154", "legacy_senet154", "seresnext101_32x8d", "ecaresnet101d",
        "seresnextaa101d_32x8d", "legacy_seresnet34"]


def _timm_model(arch, **kwargs):
    if arch == "seresnet50d":  # not a timm registration: timm's resnet50d arguments with SE blocks
        from timm.models.resnet import Bottleneck, ResNet
        return ResNet(block=Bottleneck, layers=(3, 4, 6, 3), stem_width=32, stem_type="deep", avg_down=True,
                      block_args=dict(attn_layer="se"), **kwargs)
    return timm.create_model(arch, pretrained=False, **kwargs)


def _timm_with_synth_weights(arch, tmp_path, **kwargs):
    from safetensors.numpy import save_file

    ref = _timm_model(arch, **kwargs).eval()
    state = {k: (synth.synth_tensor(k, tuple(v.shape)) if v.is_floating_point() else v.numpy())
             for k, v in ref.state_dict().items()}
    ref.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    path = tmp_path / f"{arch}.safetensors"
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path))
    return ref, path


def _check(arch, tmp_path, size):
    ref, path = _timm_with_synth_weights(arch, tmp_path)
    x = synth.synth_input((2, 3, size, size))
    with torch.no_grad():
        t_logits = ref(torch.from_numpy(x)).numpy()
        t_feats = ref.forward_intermediates(torch.from_numpy(x), intermediates_only=True)
    model = zoo.create(arch, pretrained=str(path), img_size=size)
    y = model.predict(x.transpose(0, 2, 3, 1), verbose=0)
    scale = max(1.0, np.abs(t_logits).max())
    assert np.abs(y - t_logits).max() / scale < 1e-4, arch
    feats = zoo.create(arch, pretrained=str(path), img_size=size, features_only=True)
    outs = feats.predict(x.transpose(0, 2, 3, 1), verbose=0)
    assert len(outs) == len(t_feats)
    for o, t in zip(outs, t_feats):
        t = t.numpy().transpose(0, 2, 3, 1)
        assert o.shape == t.shape
        assert np.abs(o - t).max() / max(1.0, np.abs(t).max()) < 1e-4


@pytest.mark.parametrize("arch", FAST)
def test_live_parity(arch, tmp_path):
    _check(arch, tmp_path, 96)  # odd intermediate sizes (96 -> 3 at stride 32) exercise ceil-mode pooling


@pytest.mark.slow
@pytest.mark.parametrize("arch", SLOW)
def test_live_parity_large(arch, tmp_path):
    _check(arch, tmp_path, 160)


def test_param_counts_match_timm():
    for arch in ["seresnet50", "legacy_seresnet18", "ecaresnet50t", "seresnext26t_32x4d"]:
        assert zoo.model_info(arch)["params"] == sum(p.numel() for p in timm.create_model(arch).parameters()), arch
