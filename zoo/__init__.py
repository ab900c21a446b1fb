"""attention-zoo: attention-based vision backbones for TensorFlow/Keras 3.

    import zoo
    zoo.list_models("seresnet*", pretrained=True)
    model = zoo.create("seresnet50", pretrained=True)
    logits = model(zoo.preprocess(images, "seresnet50"))
    zoo.decode_predictions(logits)
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from . import layers  # noqa: E402
from .data import decode_predictions, preprocess  # noqa: E402
from .errors import (CheckpointError, ExportError, InvalidArgumentError, UnknownModelError,  # noqa: E402
                     WeightsUnavailableError, ZooError)
from .factory import create, feature_info, model_info  # noqa: E402
from .registry import list_models  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "create", "list_models", "model_info", "feature_info", "preprocess", "decode_predictions", "layers",
    "ZooError", "UnknownModelError", "InvalidArgumentError", "CheckpointError", "WeightsUnavailableError",
    "ExportError",
]
