"""Reading weight files: safetensors state dicts and Keras weights files, nothing that unpickles."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from .errors import CheckpointError

SAFETENSORS_SUFFIX = ".safetensors"
KERAS_WEIGHTS_SUFFIX = ".weights.h5"
PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".tar", ".pkl", ".pickle")


def find_weights_file(path: str | Path) -> Path:
    """A weights file, or the one weights file in a folder (model.safetensors preferred)."""
    p = Path(path).expanduser()
    if p.is_dir():
        for name in ("model.safetensors", "model.weights.h5"):
            if (p / name).is_file():
                return p / name
        found = sorted(p.glob("*.safetensors")) + sorted(p.glob("*.weights.h5"))
        if len(found) == 1:
            return found[0]
        pickles = [f.name for f in p.iterdir() if f.name.endswith(PICKLE_SUFFIXES)]
        hint = (f" It holds {', '.join(pickles)}: convert it first with `zoo convert`." if pickles else "")
        if not found:
            raise CheckpointError(f"No model.safetensors or .weights.h5 file in folder {p}.{hint}")
        raise CheckpointError(f"Folder {p} holds several weight files ({', '.join(f.name for f in found)}); "
                              f"pass the path of the one to load.")
    if not p.exists():
        raise CheckpointError(f"Weights file {p} does not exist.")
    if p.name.endswith(PICKLE_SUFFIXES):
        raise CheckpointError(
            f"{p.name} is a pickle-based PyTorch file, which the zoo never unpickles (it can run code). "
            f"Convert it once with `zoo convert {p} --arch ARCH` (needs the torch extra) and load the "
            f"resulting .safetensors file.")
    if not (p.name.endswith(SAFETENSORS_SUFFIX) or p.name.endswith(KERAS_WEIGHTS_SUFFIX)):
        raise CheckpointError(f"{p.name}: expected a .safetensors file or a Keras .weights.h5 file.")
    return p


def check_safetensors(path: str | Path) -> None:
    """Raise CheckpointError unless `path` is a complete safetensors file (header and data)."""
    p = Path(path)
    size = p.stat().st_size
    try:
        with open(p, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError("file shorter than a safetensors header")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + n + end != size:
            raise ValueError(f"data ends at byte {8 + n + end} but the file has {size} bytes")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise CheckpointError(
            f"{p} is not a complete safetensors file ({e}); it is truncated or corrupt. "
            f"Delete it and download or convert it again.") from None


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """A safetensors state dict as numpy arrays (bfloat16/float16 widened to float32)."""
    from safetensors.numpy import load_file

    check_safetensors(path)
    try:
        state = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"Cannot read {path}: {e}. Delete it and download or convert it again.") from None
    return {k: (v.astype(np.float32) if v.dtype.kind == "f" and v.dtype.itemsize < 4 else v)
            for k, v in state.items()}
