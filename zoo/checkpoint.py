"""Weight files: safetensors state dicts (PyTorch layout or the zoo's Keras layout) and Keras
weights files; integrity checks and atomic writes.

Nothing here unpickles a downloaded file. `read_pytorch_file` (torch.load with weights_only=True)
exists only for `zoo convert` of a file the user has on disk.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import uuid
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


def safetensors_problem(path: str | Path) -> str | None:
    """Why `path` is not a complete safetensors file (header and data), or None when it is one."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return "file shorter than a safetensors header"
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                return "header longer than the file"
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + n + end != size:
            return f"data ends at byte {8 + n + end} but the file has {size} bytes"
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as e:
        return f"unreadable header: {e}"
    return None


def check_safetensors(path: str | Path) -> None:
    """Raise CheckpointError unless `path` is a complete safetensors file (header and data)."""
    problem = safetensors_problem(path)
    if problem:
        raise CheckpointError(
            f"{path} is not a complete safetensors file ({problem}); it is truncated or corrupt. "
            f"Delete it and download or convert it again.")


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


# --- integrity and atomic writes ---------------------------------------------------------------

def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; on success it replaces `path` in one step (os.replace),
    on failure it is removed. Readers never see a half-written file, and two writers of the same
    file both succeed (the last rename wins; both wrote the same content)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # keep the suffix: some writers insist on it (Keras wants *.weights.h5)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{''.join(path.suffixes)}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# --- safetensors metadata and the zoo's own Keras-layout files ----------------------------------

ZOO_LIBRARY = "attention-zoo"
KERAS_FORMAT = "keras"


def safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The `__metadata__` of a safetensors file (string to string), read from the header only."""
    check_safetensors(path)
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return dict(header.get("__metadata__") or {})


def is_keras_file(path: str | Path) -> bool:
    """True for a safetensors file the zoo wrote from a Keras model (keys are Keras variable paths)."""
    meta = safetensors_metadata(path)
    return meta.get("library") == ZOO_LIBRARY and meta.get("format") == KERAS_FORMAT


def _model_variables(model) -> dict:
    out = {}
    for v in model.weights:
        if "seed_generator" in v.path or not np.dtype(v.dtype).kind == "f":
            continue
        if v.path in out:
            raise CheckpointError(
                f"Two variables of {model.name} share the path {v.path!r}: layer names must be unique.")
        out[v.path] = v
    return out


def keras_state(model) -> dict[str, np.ndarray]:
    """The model's weights keyed by Keras variable path (`layer1.0.conv1/kernel`), in Keras layout."""
    return {p: np.ascontiguousarray(np.asarray(v.numpy())) for p, v in _model_variables(model).items()}


def save_keras_safetensors(model, path: str | Path, metadata: dict | None = None) -> Path:
    """Write the model's weights (keras_state) to a safetensors file, atomically.

    metadata: extra string fields for the header; `library` and `format` mark the file as the zoo's
    Keras layout so that loaders never mistake it for a PyTorch state dict.
    """
    from safetensors.numpy import save_file

    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    meta.update(library=ZOO_LIBRARY, format=KERAS_FORMAT)
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(keras_state(model), str(tmp), metadata=meta)
    return path


# --- PyTorch pickles: only for `zoo convert` of a user's own local file --------------------------

_WRAPPER_KEYS = ("state_dict", "model", "state_dict_ema", "model_ema")


def read_pytorch_file(path: str | Path, *, ema: bool = False) -> tuple[dict[str, np.ndarray], dict]:
    """Read a local PyTorch checkpoint (.pth/.pt/.pth.tar/.bin) into numpy arrays.

    This is the one place the zoo reads a pickle-based file, and only a file the user points at on
    their own disk (never a download): torch.load(weights_only=True) refuses to run code while
    unpickling. The state dict is unwrapped from {'state_dict' | 'model' | 'state_dict_ema'}
    (ema=True prefers the EMA weights) and a DataParallel 'module.' prefix is removed.
    Returns (state, info) where info says what was unwrapped and dropped.
    """
    try:
        import torch
    except ImportError:
        raise CheckpointError(
            f"Reading {Path(path).name} needs PyTorch, which is optional: pip install 'attention-zoo[torch]' "
            f"(or convert the file where torch is installed and copy the .safetensors).") from None
    import argparse

    try:
        # training checkpoints (DeiT / GFNet main_*.py) store their argparse.Namespace under 'args':
        # a plain attribute bag, allowlisted; every other class is still refused
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"Checkpoint {path} does not exist.") from None
    except Exception as e:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, ...
        raise CheckpointError(
            f"torch.load(weights_only=True) cannot read {path}: {type(e).__name__}: {str(e).splitlines()[0]}. "
            f"The zoo only reads plain tensor checkpoints; it never runs arbitrary unpickling.") from None
    info = {"unwrapped": [], "dropped": [], "prefix_removed": None}
    order = ("state_dict_ema", "model_ema") + _WRAPPER_KEYS[:2] if ema else _WRAPPER_KEYS
    while isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
        key = next((k for k in order if k in obj and isinstance(obj[k], dict)), None)
        if key is None:
            break
        info["unwrapped"].append(key)
        obj = obj[key]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors.")
    state = {}
    for k, v in obj.items():
        if not torch.is_tensor(v):
            info["dropped"].append(str(k))
            continue
        v = v.detach().cpu()
        if v.dtype == torch.bfloat16:  # numpy has no bfloat16
            v = v.float()
        state[str(k)] = np.ascontiguousarray(v.numpy())
    if not state:
        raise CheckpointError(f"{path} holds no tensors (keys: {', '.join(map(str, list(obj)[:8]))}).")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
        info["prefix_removed"] = "module."
    return state, info


def save_torch_safetensors(state: dict[str, np.ndarray], path: str | Path, metadata: dict | None = None) -> Path:
    """Write a PyTorch-layout state dict (numpy) as safetensors, atomically (what `zoo convert` writes)."""
    from safetensors.numpy import save_file

    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    meta.setdefault("format", "pt")
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(tmp), metadata=meta)
    return path
