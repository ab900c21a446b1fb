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

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from zoo.errors import ExportError  # noqa: E402

from . import photos  # noqa: E402
from .deploy import deploy_model  # noqa: E402
from .onnx import to_onnx  # noqa: E402
from .photos import calibration_data  # noqa: E402
from .saved_model import to_saved_model  # noqa: E402
from .tflite import to_tflite  # noqa: E402

__all__ = ["to_saved_model", "to_tflite", "to_onnx", "calibration_data", "deploy_model", "photos",
           "ExportError"]
