import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).parent))  # tests/synth.py and friends

# With the optional torch extra installed, timm must be imported before TensorFlow: importing
# triton (via torchvision) after TensorFlow segfaults (torch 2.14.1 / TF 2.21).
try:
    import timm  # noqa: F401
except ImportError:
    pass

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _fresh_keras_session():
    """One Keras session per test module: clearing it after every test cost about a quarter of the
    suite's wall time in teardown, and tests name their layers, so they do not depend on it."""
    yield
    keras.backend.clear_session()


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """Synthetic reference checkpoints (safetensors), made once per session: name -> path."""
    import synth

    root = tmp_path_factory.mktemp("checkpoints")
    made = {}

    def get(name):
        if name not in made:
            made[name] = synth.write_checkpoint(name, root / f"{name}.safetensors")
        return made[name]

    return get
