"""Write artifacts safely.

Atomically: build under a temporary name beside the target, move into place only when everything
succeeded, so a failed export never leaves a half-written artifact.

And only over an artifact of the same kind: `overwrite=True` replaces a .tflite file by a .tflite
file, a SavedModel folder by a SavedModel, a verify report by a report, and never unrelated
files or a folder that is not an artifact. A folder given where a single file is written means
"write the file inside it" (`file_in_folder`).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path

from zoo.errors import ExportError

KINDS = {
    "tflite": "a TFLite file",
    "onnx": "an ONNX file",
    "saved_model": "a SavedModel folder",
    "tfhub": "a SavedModel folder",
    "report": "a verify report",
}
FOLDER_KINDS = ("saved_model", "tfhub")
_SUFFIX_KINDS = {".tflite": "tflite", ".onnx": "onnx", ".json": "report"}
# what tf.saved_model.save and the zoo write into a SavedModel folder
SAVED_MODEL_ENTRIES = {"saved_model.pb", "saved_model.pbtxt", "fingerprint.pb", "variables", "assets",
                       "assets.extra"}
REPORT_KEYS = {"format", "artifact", "passed"}


def file_in_folder(path, filename: str) -> Path:
    """Where a single-file artifact goes: `path`, or `path/filename` when `path` is an existing
    folder (or is written with a trailing separator)."""
    s = os.fspath(path)
    p = Path(s)
    if p.is_dir() or s.endswith((os.sep, "/")):
        return p / filename
    return p


def _is_tflite(p: Path) -> bool:
    with open(p, "rb") as f:
        return f.read(8)[4:8] == b"TFL3"


def _is_onnx(p: Path) -> bool:
    try:
        import onnx
    except ImportError:       # cannot look inside: trust the suffix
        return p.suffix.lower() == ".onnx"
    try:
        m = onnx.load_model(str(p), load_external_data=False)
    except Exception:  # noqa: BLE001 - not a ModelProto
        return False
    return len(m.graph.node) > 0


def _is_report(p: Path) -> bool:
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(d, dict) and REPORT_KEYS <= set(d)


_FILE_TESTS = {"tflite": _is_tflite, "onnx": _is_onnx, "report": _is_report}


def _listing(p: Path, names) -> str:
    names = sorted(names)
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _why_not_replaceable(p: Path, kind: str | None) -> str | None:
    """None when `p` holds an artifact of `kind` (so overwrite may replace it), else what it is."""
    if p.is_symlink():
        return "is a symbolic link"
    if kind in FOLDER_KINDS:
        if not p.is_dir():
            return "is a file, not a SavedModel folder"
        entries = {e.name for e in p.iterdir()}
        if "saved_model.pb" not in entries:
            return f"is a folder that is not a SavedModel (no saved_model.pb; it holds {_listing(p, entries)})"
        extra = entries - SAVED_MODEL_ENTRIES
        if extra:
            return f"is a SavedModel folder that also holds other files ({_listing(p, extra)})"
        return None
    if p.is_dir():
        return "is a folder"
    tests = [_FILE_TESTS[kind]] if kind else [_is_tflite, _is_onnx]
    if any(t(p) for t in tests):
        return None
    return f"is not {KINDS[kind]}" if kind else "is not a TFLite or ONNX file"


def check_target(path, overwrite: bool, kind: str | None = None) -> Path:
    """`path`, checked: free, an empty folder (folder artifacts), or with overwrite an artifact of
    the same `kind` (default: by the suffix: .tflite, .onnx, .json report)."""
    path = Path(path)
    kind = kind or _SUFFIX_KINDS.get(path.suffix.lower())
    if not (path.exists() or path.is_symlink()):
        return path
    if kind in FOLDER_KINDS and path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
        return path  # an empty folder: nothing to lose
    if kind not in FOLDER_KINDS and path.is_dir() and not path.is_symlink():
        raise ExportError(f"{path} is a folder; pass a file path inside it (e.g. {path / ('model.' + (kind or 'onnx'))}).")
    if not overwrite:
        raise ExportError(
            f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it, or choose another path.")
    why = _why_not_replaceable(path, kind)
    if why:
        what = KINDS[kind] if kind else "a TFLite or ONNX file"
        raise ExportError(f"{path} {why}: overwrite only replaces {what}. Choose another path, or move it "
                          f"away yourself.")
    return path


def _remove(p: Path):
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink(missing_ok=True)


@contextlib.contextmanager
def staged(path, overwrite: bool = False, kind: str | None = None):
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed
    together with any parent folders this call created. See `check_target` for what may be replaced."""
    path = check_target(path, overwrite, kind)
    created = []
    parent = path.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    for d in reversed(created):
        d.mkdir()
    tmp = path.parent / f".{path.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        if not tmp.exists():
            raise ExportError(f"internal error: nothing was written for {path}")
        if path.exists():
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        for d in created:  # innermost first
            with contextlib.suppress(OSError):
                d.rmdir()
        raise


def size_of(path) -> int:
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
