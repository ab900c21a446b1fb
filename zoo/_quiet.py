"""Keep TensorFlow's, the TFLite converter's and LiteRT's routine chatter off the terminal.

TensorFlow 2.21 writes absl/C++ lines to file descriptor 2 before its logging is configured, so
TF_CPP_MIN_LOG_LEVEL does not reach them: "All log messages before absl::InitializeLog()",
oneDNN and CPU-feature notices, "Could not find cuda drivers", and on a machine without a GPU an
`E0000 ... failed call to cuInit` line at device discovery. The int8 converter prints
"fully_quantize: 0, inference_type: 6, ...", LiteRT "INFO: Created TensorFlow Lite XNNPACK
delegate", and graph exports a Python warning "Issue encountered when serializing
table_initializer" (a TF1 collection that a TF2 SavedModel does not use).

`quiet_stderr()` holds file descriptor 2 for a block and then passes on every line that is not
one of those: real warnings and errors still show, after the block. Python-level writes to
sys.stderr (progress bars, notes) go straight to the terminal meanwhile. `install()` makes the
first `import tensorflow` (and its device discovery) quiet; `zoo` calls it on import.

ZOO_VERBOSE=1 (the CLI's -v) turns all of it off.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import io
import logging
import os
import re
import sys
import tempfile
import threading

ENV_VERBOSE = "ZOO_VERBOSE"

NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on|"
    r"Could not find cuda drivers|failed call to cuInit|TensorFlow binary is optimized|"
    r"To enable the following instructions|rebuild TensorFlow with the appropriate compiler flags|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered|"
    r"Attempting to register factory for plugin|"
    # the TFLite converter and LiteRT
    r"fully_quantize: \d+, inference_type|Created TensorFlow Lite XNNPACK delegate|"
    r"Ignored output_format|Ignored drop_control_dependency|Reading SavedModel from|"
    r"Reading meta graph with tags|Reading SavedModel debug info|Restoring SavedModel bundle|"
    r"SavedModel load for tags|Running initialization op on SavedModel bundle|"
    r"Successfully converted|Estimated count of arithmetic ops|Loading SavedModel|"
    r"TF-TFL Conversion|MLIR V1 optimization pass is not enabled|"
    # tf.saved_model / tf2onnx graph export: TF1 collections a TF2 artifact does not use
    r"Issue encountered when serializing|Type is unsupported, or the types of the items don't match|"
    r"'NoneType' object has no attribute 'name'")

_lock = threading.RLock()


def verbose() -> bool:
    """True when the user asked for everything (ZOO_VERBOSE=1, the CLI's -v)."""
    return os.environ.get(ENV_VERBOSE, "").strip().lower() not in ("", "0", "false", "no")


class _NoiseFilter(logging.Filter):
    def filter(self, record):
        if verbose():
            return True
        try:
            return not NOISE.search(record.getMessage())
        except Exception:  # noqa: BLE001 - a broken record is not ours to drop
            return True


_FILTER = _NoiseFilter()


def filter_tensorflow_logging():
    """Drop the known-noise records of the `tensorflow` Python logger (idempotent)."""
    logger = logging.getLogger("tensorflow")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


class _Forward(io.TextIOBase):
    """sys.stderr while fd 2 is held: writes go to the terminal (a copy of the original fd 2).
    Whoever keeps a reference to it after the block writes through to the restored sys.stderr."""

    def __init__(self, live, after):
        self._live, self._after = live, after

    def write(self, s):
        target = self._live if self._live is not None else self._after
        n = target.write(s)
        if self._live is not None:
            self._live.flush()
        return n

    def flush(self):
        (self._live if self._live is not None else self._after).flush()

    def fileno(self):
        return (self._live if self._live is not None else self._after).fileno()

    def isatty(self):
        t = self._live if self._live is not None else self._after
        return bool(getattr(t, "isatty", lambda: False)())

    @property
    def encoding(self):
        return getattr(self._after, "encoding", "utf-8")

    def _release(self):
        live, self._live = self._live, None
        if live is not None:
            live.flush()
            live.close()


def _fd2_backed(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


@contextlib.contextmanager
def quiet_stderr(noise=NOISE):
    """Hold what C++ code writes to fd 2 during the block; afterwards print every held line that
    does not match `noise`. Python writes to sys.stderr still reach the terminal as they happen."""
    if verbose():
        yield
        return
    filter_tensorflow_logging()
    with _lock:
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError):
            pass
        saved = os.dup(2)
        tmp = tempfile.TemporaryFile(mode="w+b")
        orig = sys.stderr
        forward = None
        if _fd2_backed(orig):  # keep Python-level output (progress bars) live
            forward = _Forward(io.TextIOWrapper(os.fdopen(os.dup(saved), "wb", buffering=0),
                                                encoding=getattr(orig, "encoding", None) or "utf-8",
                                                errors="backslashreplace", write_through=True), orig)
            sys.stderr = forward
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            try:
                if forward is not None:
                    forward.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                if forward is not None:
                    if sys.stderr is forward:
                        sys.stderr = orig
                    forward._release()
                tmp.seek(0)
                held = tmp.read().decode("utf-8", "replace")
                tmp.close()
                for line in held.splitlines():
                    if line.strip() and not noise.search(line):
                        print(line, file=sys.stderr)


def import_tensorflow_quietly():
    """`import tensorflow` and its device discovery without the start-up chatter."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with quiet_stderr():
        import tensorflow as tf
        tf.config.list_physical_devices()  # device discovery prints its own notices
    return tf


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with quiet_stderr():
            self._loader.exec_module(module)
            try:
                module.config.list_physical_devices()
            except Exception:  # noqa: BLE001 - a partial import raises on its own
                pass

    def __getattr__(self, name):  # get_resource_reader, is_package, ... of the real loader
        return getattr(self._loader, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the top-level `tensorflow` package, once."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow" or verbose():
            return None
        uninstall()
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _QuietLoader(spec.loader)
        return spec


_FINDER = _QuietFinder()


def install():
    """Make the first `import tensorflow` of this process quiet (no-op if it already happened or
    ZOO_VERBOSE is set). Also filters the known-noise records of TensorFlow's Python logger."""
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    filter_tensorflow_logging()
    if "tensorflow" in sys.modules:
        return
    with _lock:
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)


def uninstall():
    with _lock:
        while _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)
