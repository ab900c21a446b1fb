"""Deterministic synthetic checkpoints (the recipe of the reference checkpoints' README).

Every floating-point tensor of a reference layout gets random values drawn from a generator
seeded by (seed, crc32(key)), shaped by what the tensor is: BN variances in [0.5, 1.5),
means and biases in [-0.1, 0.1), 1-D weights in [0.9, 1.1), position tables small, other
weights uniform with std 1/sqrt(fan_in). BN statistics are random too, so a mapping error
in them shows up in the logits.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from export.testing import SEED, synth_tensor  # noqa: F401 - the recipe lives with the package

FIXTURES = Path(__file__).parent / "fixtures"


def synth_input(shape, seed: int = SEED) -> np.ndarray:
    u = np.random.default_rng([seed, 7]).random(int(np.prod(shape)), dtype=np.float64)
    return (u * 4 - 2).astype(np.float32).reshape(shape)


def layout(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.layout.json").read_text())


def golden(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{name}.golden.npz") as z:
        return dict(z)


def synth_state_dict(name: str, seed: int = SEED) -> dict[str, np.ndarray]:
    """The synthetic checkpoint of reference model `name`: floats drawn, integer buffers zero."""
    state = {}
    for e in layout(name)["keys"]:
        if e["kind"] == "buffer" or not e["dtype"].startswith("float"):
            state[e["key"]] = np.zeros(e["shape"], dtype=e["dtype"])
        else:
            state[e["key"]] = synth_tensor(e["key"], e["shape"], seed)
    return state


def write_checkpoint(name: str, path: Path, seed: int = SEED) -> Path:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(synth_state_dict(name, seed), str(path))
    return path
