"""Generic PyTorch-checkpoint -> Keras mapping, by name.

Every zoo layer is named after the module path of the reference checkpoint
(`layer1.0.conv1`, `layer1.0.se.fc1`), so a state-dict key is `<layer path>.<leaf>` and one
walk over the model finds the variable of every key. The layout changes are few and fixed:

    Conv (O, I, *k)        -> (*k, I, O)
    DepthwiseConv (C*m, 1, kh, kw) -> (kh, kw, C, m)
    Linear (O, I)          -> (I, O)        (a 1x1 Conv weight (O, I, 1, 1) fits a Dense too)
    BN weight/bias/running_mean/running_var -> gamma/beta/moving_mean/moving_variance
    integer buffers (num_batches_tracked, index tables) -> skipped

A layer with raw weights of its own may define `torch_to_keras(name, array)`; a family's
`adapt_state` handles the real layout differences (tables resampled for another input size).
`load_state` is the one pipeline every weights file goes through (PyTorch files, the zoo's own
Keras-layout files, the converted-weights cache); any unmatched, missing or mis-shaped tensor
fails the load, listing all of them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np

from .errors import CheckpointError

_LEAF_NAMES = {"kernel": "weight"}
# Keras norm layers name their affine weights gamma/beta; PyTorch calls them weight/bias. Only
# for these classes: a layer's own `gamma` (CrissCross, UFO) or `beta` (ResMLP Affine) keeps its name.
_NORM_LEAF_NAMES = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}
_NORM_LAYERS = (keras.layers.BatchNormalization, keras.layers.LayerNormalization, keras.layers.GroupNormalization)


def torch_leaf(layer, var_name: str) -> str:
    """The PyTorch state-dict leaf name of a Keras variable."""
    if isinstance(layer, _NORM_LAYERS) and var_name in _NORM_LEAF_NAMES:
        return _NORM_LEAF_NAMES[var_name]
    return _LEAF_NAMES.get(var_name, var_name)

# integer buffers that checkpoints carry and Keras has no use for
SKIPPED_SUFFIXES = ("num_batches_tracked", "relative_position_index")


@dataclass
class Slot:
    """Where one checkpoint tensor goes."""
    key: str
    variable: keras.Variable
    layer: keras.layers.Layer

    def to_keras(self, array: np.ndarray) -> np.ndarray:
        return torch_to_keras(self.layer, self.variable, array)


def _own_variables(layer):
    return list(layer._trainable_variables) + list(layer._non_trainable_variables)


def _walk(layer, prefix):
    yield prefix, layer
    for sub in getattr(layer, "_layers", []):
        yield from _walk(sub, f"{prefix}.{sub.name}")


def weight_slots(model: keras.Model) -> dict[str, Slot]:
    """Checkpoint key -> Slot for every variable of the model."""
    slots: dict[str, Slot] = {}
    for top in model.layers:
        for path, layer in _walk(top, top.name):
            for var in _own_variables(layer):
                leaf = torch_leaf(layer, var.name)
                key = f"{path}.{leaf}"
                if key in slots:
                    raise RuntimeError(f"two variables map to checkpoint key {key!r}: layer names must be unique")
                slots[key] = Slot(key, var, layer)
    return slots


def torch_to_keras(layer, variable, array: np.ndarray) -> np.ndarray:
    """One tensor from PyTorch layout to the Keras variable's layout."""
    custom = getattr(layer, "torch_to_keras", None)
    if custom is not None:
        out = custom(variable.name, array)
        if out is not None:
            return out
    if variable.name != "kernel":
        return array
    target = tuple(variable.shape)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw, c, m = target
        return np.transpose(array, (2, 3, 0, 1)).reshape(array.shape[2], array.shape[3], -1, m)
    if isinstance(layer, keras.layers.Dense):
        if array.ndim == 4 and array.shape[2:] == (1, 1):   # 1x1 conv weights into a Dense
            array = array[:, :, 0, 0]
        return array.T if array.ndim == 2 else array
    if array.ndim >= 3:  # ConvNd: (O, I, *k) -> (*k, I, O)
        nd = array.ndim
        return np.transpose(array, tuple(range(2, nd)) + (1, 0))
    if array.ndim == 2 and len(target) == 4 and target[:2] == (1, 1):  # a Linear into a 1x1 conv
        return array.T.reshape(target)
    return array


def adapt_input_conv(weight: np.ndarray, in_chans: int) -> np.ndarray:
    """Adapt first-conv weights (O, I, kh, kw) trained on 3 channels to `in_chans`, as timm does:
    sum over the input channels for 1 channel, tile and rescale by 3/in_chans otherwise."""
    o, i, kh, kw = weight.shape
    if in_chans == i:
        return weight
    w = weight.astype(np.float32)
    if in_chans == 1:
        if i > 3:
            w = w.reshape(o, i // 3, 3, kh, kw).sum(axis=2)
        else:
            w = w.sum(axis=1, keepdims=True)
    else:
        if i != 3:
            raise CheckpointError(f"cannot adapt a first conv with {i} input channels to {in_chans}")
        repeat = int(math.ceil(in_chans / 3))
        w = np.tile(w, (1, repeat, 1, 1))[:, :in_chans] * (3.0 / in_chans)
    return w.astype(weight.dtype)


def _short_list(items, n=8):
    items = list(items)
    more = f" ... and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def mismatch_error(title: str, unexpected, missing, misshaped, advice: str, hint: str = "") -> CheckpointError:
    """One error listing every unexpected, missing and mis-shaped tensor of a strict load."""
    return CheckpointError(
        f"{title}: {len(unexpected)} unexpected, {len(missing)} missing, {len(misshaped)} mis-shaped tensors.{hint}\n"
        + (f"  unexpected: {_short_list(unexpected)}\n" if unexpected else "")
        + (f"  missing: {_short_list(missing)}\n" if missing else "")
        + (f"  mis-shaped: {_short_list(misshaped, 5)}\n" if misshaped else "")
        + advice)


@dataclass(frozen=True)
class Target:
    """What the model expects under one checkpoint key (what a family's adapt_state sees)."""
    shape: tuple            # the Keras variable's shape (the layout the state arrives in)
    layer: keras.layers.Layer
    variable: keras.Variable


def targets(slots: dict[str, Slot]) -> dict[str, Target]:
    """Checkpoint key -> Target for every variable of `weight_slots(model)`."""
    return {k: Target(tuple(s.variable.shape), s.layer, s.variable) for k, s in slots.items()}


def _ckpt_key(path: str) -> str:
    """The checkpoint key of a Keras variable path the model does not have (`a.b/kernel` -> `a.b.weight`)."""
    layer, _, leaf = path.rpartition("/")
    return f"{layer}.{_LEAF_NAMES.get(leaf, _NORM_LEAF_NAMES.get(leaf, leaf))}"


def canonical_state(slots: dict[str, Slot], state: dict[str, np.ndarray],
                    layout: str) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, tuple]]:
    """A state dict in either layout -> (checkpoint key -> array in the Keras layout, problems,
    key -> the tensor's shape in the file, for messages).

    layout "torch": a PyTorch state dict (timm's or the official file); every key the model has is
    converted with its layer's layout change; keys it lacks stay as the file has them; integer
    buffers (index tables, num_batches_tracked) are dropped.
    layout "keras": the zoo's own files (`checkpoint.keras_state`: Keras variable paths, Keras
    layout); only the keys are renamed.
    problems: key -> why the tensor cannot go in (its layout change cannot apply to its shape, or
    it is not floating point); those keys are left out of the state.
    """
    out, problems, shapes = {}, {}, {}
    if layout == "keras":
        by_path = {slot.variable.path: key for key, slot in slots.items()}
        for path, array in state.items():
            key = by_path.get(path) or _ckpt_key(path)
            out[key] = np.asarray(array)
            shapes[key] = tuple(out[key].shape)
        return out, problems, shapes
    if layout != "torch":
        raise ValueError(f"layout must be 'torch' or 'keras', got {layout!r}")
    for key, array in state.items():
        if key.endswith(SKIPPED_SUFFIXES):
            continue
        array = np.asarray(array)
        shapes[key] = tuple(array.shape)
        slot = slots.get(key)
        if slot is not None:
            if not np.issubdtype(array.dtype, np.floating):
                problems[key] = f"{key} (dtype {array.dtype})"
                continue
            try:
                array = slot.to_keras(array)
            except ValueError:  # the layout change cannot apply to this shape (reshape, transpose)
                problems[key] = f"{key}: checkpoint {tuple(array.shape)}, model {tuple(slot.variable.shape)}"
                continue
        out[key] = array
    return out, problems, shapes


def load_state(model: keras.Model, state: dict[str, np.ndarray], *, layout: str = "torch", adapt_state=None,
               first_conv: str | None = None, classifier: str | None = None, in_chans: int = 3,
               model_name: str | None = None, source: str | None = None) -> None:
    """The one way weights enter a model, for every file the zoo reads:

        state (either layout) -> checkpoint keys, Keras layout -> family adapt_state(state, targets)
        -> first-conv (in_chans) and classifier adaptation -> strict by-name load.

    layout: "torch" (timm / official files) or "keras" (the zoo's own files, the converted cache).
    adapt_state: the family hook `f(state, targets) -> state`, targets = key -> Target (shape and
        layer); only real layout differences (tables resampled for another img_size). Keys the
        model has arrive in the Keras layout whatever the file's; keys it lacks, as the file has them.
    first_conv: key prefix of the input conv, adapted as timm does when `in_chans` differs.
    classifier: key prefix of the classifier; its tensors are dropped when the model has none or
        another number of classes (the new head keeps its fresh initialisation).
    Any unexpected, missing or mis-shaped tensor fails the load, listing all of them.
    """
    what = f"model {model_name or model.name!r}" + (f" from {source}" if source else "")
    slots = weight_slots(model)
    state, problems, file_shapes = canonical_state(slots, state, layout)
    if adapt_state is not None:
        state = adapt_state(state, targets(slots))

    def fits(key):
        return key in slots and tuple(np.shape(state[key])) == tuple(slots[key].variable.shape)

    new_head = False
    if classifier:
        cls_keys = [k for k in state if k.startswith(classifier + ".")]
        if any(not fits(k) for k in cls_keys):
            for k in cls_keys:  # no head, or another number of classes: the new head keeps its init
                state.pop(k)
            new_head = True
    key = f"{first_conv}.weight" if first_conv else None
    if key in state and key in slots and np.ndim(state[key]) == 4 and state[key].shape[2] != in_chans:
        w = np.transpose(state[key], (3, 2, 0, 1))            # HWIO -> OIHW, as timm adapts it
        state[key] = np.transpose(adapt_input_conv(w, in_chans), (2, 3, 1, 0))

    unexpected = sorted(k for k in state if k not in slots)
    missing = sorted(k for k in slots if k not in state and k not in problems
                     and not (new_head and k.startswith(classifier + ".")))

    def shapes(k):
        file, now = file_shapes.get(k), tuple(np.shape(state[k]))
        return f"checkpoint {file} -> {now}" if file and file != now else f"checkpoint {now}"

    problems.update({k: f"{k}: {shapes(k)}, model {tuple(slots[k].variable.shape)}"
                     for k in set(state) & set(slots) if not fits(k)})
    misshaped = [problems[k] for k in sorted(problems)]
    if unexpected or missing or misshaped:
        fitting = sum(1 for k in state if fits(k))
        hint = " This checkpoint looks like it belongs to another architecture." if (
            len(missing) + len(unexpected) > fitting) else ""
        raise mismatch_error(f"Checkpoint does not fit {what}", unexpected, missing, misshaped,
                             "Check that the checkpoint is for this architecture (zoo.model_info(name)['source']).",
                             hint)
    for k, value in state.items():
        var = slots[k].variable
        var.assign(np.asarray(value).astype(var.dtype))


def load_torch_state(model: keras.Model, state: dict[str, np.ndarray], **kwargs) -> None:
    """Load a PyTorch state dict (numpy arrays) into `model` by name, strictly (see load_state)."""
    load_state(model, state, layout="torch", **kwargs)


def load_keras_state(model: keras.Model, state: dict[str, np.ndarray], **kwargs) -> None:
    """Load weights keyed by Keras variable path (`checkpoint.keras_state`), strictly (see load_state)."""
    load_state(model, state, layout="keras", **kwargs)
