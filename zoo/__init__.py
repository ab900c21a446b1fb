"""attention-zoo: attention-based vision backbones for TensorFlow/Keras 3.

    import zoo
    zoo.list_models("seresnet*", pretrained=True)
    model = zoo.create("seresnet50", pretrained=True)
    logits = model(zoo.preprocess(images, "seresnet50"))
    zoo.decode_predictions(logits)

Importing `zoo` is cheap: TensorFlow loads on first use of a name that needs it.
"""
import importlib as _importlib
import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from . import _quiet as _quiet_start  # noqa: E402

_quiet_start.install()   # TensorFlow's C++ start-up lines stay off the terminal (ZOO_VERBOSE=1 shows them)

from .errors import (CheckpointError, ExportError, InvalidArgumentError, UnknownModelError,  # noqa: E402
                     WeightsUnavailableError, ZooError)

__version__ = "0.1.0"

# public name -> (module, attribute); attribute None: the module itself
_LAZY = {
    "create": ("factory", "create"),
    "model_info": ("factory", "model_info"),
    "feature_info": ("factory", "feature_info"),
    "pretrained_cfg": ("factory", "pretrained_cfg"),
    "list_models": ("registry", "list_models"),
    "preprocess": ("data", "preprocess"),
    "decode_predictions": ("data", "decode_predictions"),
    "layers": ("layers", None),
    "data": ("data", None),
    "train": ("train", None),
    "freeze": ("train", "freeze"),
    "unfreeze": ("train", "unfreeze"),
    "inference_model": ("inference", "inference_model"),
    "inference_function": ("inference", "inference_function"),
}

__all__ = [*_LAZY, "ZooError", "UnknownModelError", "InvalidArgumentError", "CheckpointError",
           "WeightsUnavailableError", "ExportError"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = _importlib.import_module(f".{module}", __name__)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
