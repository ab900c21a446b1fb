"""Start TensorFlow without its start-up chatter on the terminal.

TensorFlow 2.21 writes absl/C++ messages to stderr before its logging is configured
(TF_CPP_MIN_LOG_LEVEL does not reach them): "All log messages before absl::InitializeLog()",
oneDNN notices, "Could not find cuda drivers", "failed call to cuInit". The CLI imports
TensorFlow with file descriptor 2 captured and passes on every line that is not one of those.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile

_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on|"
    r"Could not find cuda drivers|failed call to cuInit|TensorFlow binary is optimized|"
    r"To enable the following instructions|rebuild TensorFlow with the appropriate compiler flags|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered|"
    r"Attempting to register factory for plugin")


def import_tensorflow_quietly():
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            import tensorflow as tf
            import keras  # noqa: F401
            tf.config.list_physical_devices()  # device discovery prints its own notices
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not _NOISE.search(line):
                    print(line, file=sys.stderr)
