"""Deterministic synthetic checkpoints (the recipe of the reference checkpoints' README).

Every floating-point tensor of a reference layout gets random values drawn from a generator
seeded by (seed, crc32(key)), shaped by what the tensor is: BN variances in [0.5, 1.5),
means and biases in [-0.1, 0.1), 1-D weights in [0.9, 1.1), position tables small, other
weights uniform with std 1/sqrt(fan_in). BN statistics are random too, so a mapping error
in them shows up in the logits.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

SEED = 20261124
FIXTURES = Path(__file__).parent / "fixtures"
_SMALL_TABLES = ("complex_weight", "relative_position", "pos_embed", "rel_pos", "cls_token")


def synth_tensor(key: str, shape, seed: int = SEED, layout: str = "torch") -> np.ndarray:
    """layout: where the fan-in axes are, "torch" (O, I, kh, kw) / (O, I) or "keras" (kh, kw, I, O)."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape)) if shape else 1
    u = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))]).random(n, dtype=np.float64)
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "running_var":
        x = 0.5 + u
    elif leaf in ("running_mean", "bias"):
        x = 0.2 * (u - 0.5)
    elif len(shape) <= 1:
        x = 1.0 + 0.2 * (u - 0.5)
    elif any(t in key for t in _SMALL_TABLES):
        x = 0.04 * (u - 0.5) * np.sqrt(3)
    else:
        a = np.sqrt(3.0 / int(np.prod(shape[1:] if layout == "torch" else shape[:-1])))
        x = a * (2 * u - 1)
    return x.astype(np.float32).reshape(shape)


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
