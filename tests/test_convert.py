"""The generic by-name mapping of zoo.convert, layer kind by layer kind."""
import keras
import numpy as np
import pytest

from zoo import convert
from zoo.errors import CheckpointError
from zoo.layers import CrissCrossAttention


def _model():
    inp = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(6, 3, padding="same", name="stem.conv")(inp)
    x = keras.layers.BatchNormalization(name="stem.bn")(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(x)
    x = CrissCrossAttention(12, name="cca")(x)   # owns a raw `gamma`, not a norm weight
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.LayerNormalization(name="norm")(x)
    return keras.Model(inp, keras.layers.Dense(5, name="head")(x))


def test_keys_follow_layer_paths_and_torch_leaf_names():
    keys = set(convert.weight_slots(_model()))
    assert {"stem.conv.weight", "stem.conv.bias", "stem.bn.weight", "stem.bn.bias", "stem.bn.running_mean",
            "stem.bn.running_var", "dw.weight", "dw.bias", "norm.weight", "norm.bias", "head.weight",
            "head.bias", "cca.gamma"} <= keys
    assert "cca.weight" not in keys   # only norm layers rename gamma/beta


def test_layout_changes():
    m = _model()
    slots = convert.weight_slots(m)
    rng = np.random.default_rng(0)
    conv = rng.normal(size=(6, 4, 3, 3)).astype("float32")              # (O, I, kh, kw)
    np.testing.assert_array_equal(slots["stem.conv.weight"].to_keras(conv), conv.transpose(2, 3, 1, 0))
    dw = rng.normal(size=(12, 1, 3, 3)).astype("float32")               # (C*m, 1, kh, kw)
    k = slots["dw.weight"].to_keras(dw)
    assert k.shape == (3, 3, 6, 2)
    np.testing.assert_array_equal(k[:, :, 1, 0], dw[2, 0])              # out channel c*m + j
    lin = rng.normal(size=(5, 12)).astype("float32")
    np.testing.assert_array_equal(slots["head.weight"].to_keras(lin), lin.T)
    np.testing.assert_array_equal(slots["head.weight"].to_keras(lin[:, :, None, None]), lin.T)  # 1x1 conv


def test_adapt_input_conv():
    w = np.arange(2 * 3 * 1 * 1, dtype=np.float32).reshape(2, 3, 1, 1)
    np.testing.assert_array_equal(convert.adapt_input_conv(w, 1), w.sum(1, keepdims=True))
    four = convert.adapt_input_conv(w, 4)
    np.testing.assert_allclose(four, np.concatenate([w, w[:, :1]], 1) * 0.75)
    with pytest.raises(CheckpointError, match="cannot adapt"):
        convert.adapt_input_conv(np.zeros((2, 4, 1, 1), np.float32), 2)


def test_strict_load_reports_everything():
    m = _model()
    def torch_shape(slot):
        shape = tuple(slot.variable.shape)
        if slot.variable.name != "kernel":
            return shape
        if isinstance(slot.layer, keras.layers.DepthwiseConv2D):
            return (shape[2] * shape[3], 1, shape[0], shape[1])
        return shape[::-1] if len(shape) == 2 else (shape[3], shape[2], shape[0], shape[1])

    state = {k: np.zeros(torch_shape(s), np.float32) for k, s in convert.weight_slots(m).items()}
    state["extra.weight"] = np.zeros(3, np.float32)
    del state["norm.bias"]
    with pytest.raises(CheckpointError, match=r"(?s)1 unexpected, 1 missing.*extra\.weight.*norm\.bias"):
        convert.load_torch_state(m, state)
    state["norm.bias"] = np.zeros(12, np.float32)
    del state["extra.weight"]
    convert.load_torch_state(m, state)   # complete and well-shaped: loads
    state["dw.weight"] = np.zeros((3, 3, 6, 2), np.float32)              # Keras layout by mistake
    state["stem.conv.weight"] = np.zeros((6, 4, 3, 3), np.int64)
    with pytest.raises(CheckpointError, match=r"(?s)2 mis-shaped.*dw\.weight.*stem\.conv\.weight \(dtype int64\)"):
        convert.load_torch_state(m, state)
