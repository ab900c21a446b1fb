"""Checkpoint parity: our Keras graphs with the reference's weights give the reference's logits.

The synthetic checkpoints follow tests/synth.py (every float tensor random, BN statistics
included) and the golden logits come from timm 1.0.31 in float32 on CPU.
"""
import numpy as np
import pytest
import synth

import zoo

PARITY = ["seresnet50", "legacy_seresnet18"]


def _nhwc(x):
    return x.transpose(0, 2, 3, 1)


def _rel_err(y, ref):
    return float(np.abs(y - ref).max() / max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("name", PARITY)
def test_golden_logits(name, checkpoints):
    g = synth.golden(name)
    model = zoo.create(name, pretrained=str(checkpoints(name)))
    y = model.predict(_nhwc(g["input_nchw"]), verbose=0)
    assert y.shape == g["logits"].shape
    assert _rel_err(y, g["logits"]) < 1e-4


@pytest.mark.parametrize("name", PARITY)
def test_golden_pre_logits(name, checkpoints):
    """num_classes=0 gives timm's pre-logits (pooled features); the classifier is dropped."""
    g = synth.golden(name)
    model = zoo.create(name, pretrained=str(checkpoints(name)), num_classes=0)
    y = model.predict(_nhwc(g["input_nchw"]), verbose=0)
    np.testing.assert_allclose(y, g["pre_logits"], atol=1e-4 * max(1.0, np.abs(g["pre_logits"]).max()))


def test_folder_path_loads_model_safetensors(checkpoints, tmp_path):
    g = synth.golden("legacy_seresnet18")
    folder = tmp_path / "legacy_seresnet18"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(checkpoints("legacy_seresnet18").read_bytes())
    y = zoo.create("legacy_seresnet18", pretrained=folder).predict(_nhwc(g["input_nchw"]), verbose=0)
    assert _rel_err(y, g["logits"]) < 1e-4


def test_wrong_weights_change_the_logits(checkpoints, tmp_path):
    """The parity test can fail: another seed's weights give other logits."""
    g = synth.golden("legacy_seresnet18")
    path = synth.write_checkpoint("legacy_seresnet18", tmp_path / "other.safetensors", seed=1)
    y = zoo.create("legacy_seresnet18", pretrained=str(path)).predict(_nhwc(g["input_nchw"]), verbose=0)
    assert _rel_err(y, g["logits"]) > 1e-2


def test_synth_recipe_matches_reference_values():
    """Spot values of the shared recipe (seed 20261124), so the helper cannot drift silently."""
    w = synth.synth_tensor("conv1.weight", (64, 3, 7, 7))
    assert w.dtype == np.float32 and w.shape == (64, 3, 7, 7)
    assert abs(w.std() - 1 / np.sqrt(3 * 49)) < 0.01
    v = synth.synth_tensor("bn1.running_var", (64,))
    assert v.min() >= 0.5 and v.max() < 1.5
    x = synth.synth_input((2, 3, 224, 224))
    np.testing.assert_array_equal(x, synth.golden("seresnet50")["input_nchw"])
