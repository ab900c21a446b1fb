"""What every attention layer of `zoo.layers` shares: input checks and serialization.

Conventions (read this before adding a layer):
- channels-last: images are (batch, height, width, channels), token sequences are
  (batch, tokens, channels); the docstring of each layer says which it takes.
- Constructor arguments keep the names of the External-Attention usage examples
  (`SEAttention(channel=512, reduction=8)`), with the paper's defaults.
- Sublayers are named after the PyTorch module path of the reference implementation
  (`fc1`, `conv`, `attn.qkv` ...): `zoo.convert` maps checkpoints to weights by those names.
  A layer with raw weights of its own (tables, filters) names them after the reference too
  and may define `torch_to_keras(name, array)` for a non-trivial layout change.
- Bad input raises ValueError naming the layer and the shape it expects (`check_input`).
"""
from __future__ import annotations

import keras

PACKAGE = "zoo"


def register(cls):
    """Make a layer serializable as `zoo>ClassName` (`.keras` files, `from_config`)."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


def check_input(layer, shape, *, rank: int | tuple[int, ...] = 4, channels: int | None = None,
                layout: str | None = None):
    """Raise a ValueError naming `layer` when `shape` is not what it takes.

    rank: the expected rank (or ranks); channels: the expected size of the last axis.
    """
    ranks = (rank,) if isinstance(rank, int) else tuple(rank)
    layout = layout or {3: "(batch, tokens, channels)", 4: "(batch, height, width, channels)"}.get(
        ranks[0], f"rank {ranks[0]}")
    shape = tuple(shape)
    name = f"{type(layer).__name__} '{layer.name}'"
    if len(shape) not in ranks:
        raise ValueError(
            f"{name} expects input of shape {layout}{' with ' + str(channels) + ' channels' if channels else ''}, "
            f"got rank {len(shape)} input of shape {shape}.")
    if channels is not None and shape[-1] is not None and shape[-1] != channels:
        raise ValueError(
            f"{name} was built for {channels} channels, input shape {layout}, "
            f"but got {shape[-1]} channels (input shape {shape}).")
    return shape
