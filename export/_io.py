"""Write artifacts atomically: build under a temporary name beside the target, move into place
only when everything succeeded, so a failed export never leaves a half-written artifact."""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

from zoo.errors import ExportError


def check_target(path, overwrite: bool) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise ExportError(
            f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it, or choose another path.")
    return path


def _remove(p: Path):
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink(missing_ok=True)


@contextlib.contextmanager
def staged(path, overwrite: bool = False):
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed
    together with any parent folders this call created."""
    path = check_target(path, overwrite)
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
