"""export: SavedModel, TFLite, ONNX and TF Hub artifacts of zoo models, each verified in its runtime.

    import zoo, export
    model = zoo.create("seresnet50", pretrained=True)
    export.to_saved_model(model, "models")                   # models/seresnet50/1/
    export.to_onnx(model, "seresnet50.onnx")
    calib = export.calibration_data(model, images=export.photos.images_from_folder("calib/"))
    export.to_tflite(model, "seresnet50_int8.tflite", quantize="int8", representative_data=calib)
    export.to_tfhub(model, "seresnet50_hub")
    report = export.verify(model, "seresnet50_int8.tflite")  # runs it in LiteRT (and MediaPipe)
    print(report.table()); report.to_json("report.json")

See docs/export.md for every artifact's contract.
"""
import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from zoo import _quiet  # noqa: E402

_quiet.install()  # TensorFlow starts without its C++ start-up lines (ZOO_VERBOSE=1 keeps them)

from zoo.errors import ExportError  # noqa: E402

from . import photos  # noqa: E402
from ._cfg import ServingCfg, serving_cfg  # noqa: E402
from .deploy import deploy_model  # noqa: E402
from .onnx import to_onnx  # noqa: E402
from .photos import calibration_data  # noqa: E402
from .saved_model import to_saved_model  # noqa: E402
from .tfhub import to_tfhub  # noqa: E402
from .tflite import to_tflite  # noqa: E402
from .verification import VerifyReport, verify  # noqa: E402

FORMATS = ("saved_model", "tflite", "onnx", "tfhub")
from .tflite import INT8_MIXED_FLOAT_OPS, QUANTIZE  # noqa: E402


def to_format(model, path, format: str, **kwargs):
    """Dispatch to to_saved_model / to_tflite / to_onnx / to_tfhub by name; returns the artifact path."""
    from zoo.errors import InvalidArgumentError
    fns = {"saved_model": to_saved_model, "tflite": to_tflite, "onnx": to_onnx, "tfhub": to_tfhub}
    if format not in fns:
        raise InvalidArgumentError(f"unsupported format {format!r}; choose from {list(FORMATS)}")
    return fns[format](model, path, **kwargs)

__all__ = ["to_saved_model", "to_tflite", "to_onnx", "to_tfhub", "to_format", "verify", "VerifyReport",
           "calibration_data", "deploy_model", "photos", "serving_cfg", "ServingCfg", "ExportError", "FORMATS",
           "QUANTIZE", "INT8_MIXED_FLOAT_OPS"]
