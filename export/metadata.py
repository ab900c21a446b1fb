"""TFLite metadata (normalization, labels, descriptions) for MediaPipe Tasks and the Task Library.

Written with tflite-support's image-classifier metadata writer, imported as a subpackage:
`import tflite_support` itself fails under protobuf >= 5, and tflite-support (0.4.4, its last
release) pins protobuf<4, so it is installed with --no-deps (see docs/export.md). Its compiled
modules link the system library libusb-1.0.

What the metadata says:
  pixel input (the default; every int8 model): the model takes RGB pixels 0..255 (float32, or
      uint8 with input quantization scale 1, zero point 0) and normalizes inside the graph, so
      NormalizationOptions are mean 0, std 1 (identity): MediaPipe and the Task Library feed
      pixels unchanged. (MediaPipe 1.2 refuses per-channel NormalizationOptions.)
  preprocessed float input (pixel_input=False): NormalizationOptions mean = 255 * mean,
      std = 255 * std per RGB channel (one value when all channels are equal).
  output: the logits (not probabilities), with the labels as a TENSOR_AXIS_LABELS file.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from zoo.errors import ExportError

from ._cfg import ServingCfg


def _writers():
    try:
        from tensorflow_lite_support.metadata import metadata_schema_py_generated as md_fb
        from tensorflow_lite_support.metadata.python.metadata_writers import image_classifier, metadata_info
    except ImportError as e:
        if "libusb" in str(e):
            raise ExportError(
                "writing TFLite metadata needs the system library libusb-1.0, which tflite-support's "
                "compiled modules link (Debian/Ubuntu: apt-get install libusb-1.0-0); "
                f"import failed: {e}. Or pass metadata=False (MediaPipe then cannot read the model).") from None
        raise ExportError(
            "writing TFLite metadata needs tflite-support's metadata writers: "
            "pip install --no-deps tflite-support==0.4.4 flatbuffers (it pins protobuf<4, so --no-deps; "
            f"see docs/export.md). Import failed: {e}. Or pass metadata=False.") from None
    return md_fb, image_classifier, metadata_info


def add_classifier_metadata(model_bytes: bytes, cfg: ServingCfg, *, pixel_input: bool,
                            quantize: str) -> bytes:
    """`model_bytes` with image-classifier metadata for MediaPipe / the Task Library."""
    md_fb, image_classifier, metadata_info = _writers()
    from tensorflow_lite_support.metadata.python.metadata_writers import writer_utils

    if pixel_input:
        mean, std = [0.0], [1.0]
        in_desc = "RGB image, pixels 0..255 (the model normalizes inside)."
    else:
        cfg.require_normalization("TFLite metadata for a float input")
        mean = [round(255.0 * m, 6) for m in cfg.mean]
        std = [round(255.0 * s, 6) for s in cfg.std]
        if len(set(mean)) == 1 and len(set(std)) == 1:
            mean, std = mean[:1], std[:1]
        in_desc = ("RGB image as float32, normalized: (pixel - mean) / std with the mean and std "
                   "of this metadata (pixels 0..255).")
    h, w, _ = cfg.input_size
    general = metadata_info.GeneralMd(
        name=cfg.name, version="1",
        description=(f"{cfg.arch or cfg.name} image classifier ({quantize} TFLite) from attention-zoo. "
                     f"Input {h}x{w} RGB, resized (shorter side to size / {cfg.crop_pct:g}, "
                     f"{cfg.interpolation}) and center-cropped before this model. Output: logits."),
        author="attention-zoo")
    in_types = writer_utils.get_input_tensor_types(model_bytes)
    out_types = writer_utils.get_output_tensor_types(model_bytes)
    with tempfile.TemporaryDirectory() as d:
        label_files = []
        if cfg.labels:
            lp = Path(d) / "labels.txt"
            lp.write_text("\n".join(cfg.labels) + "\n", encoding="utf-8")
            label_files = [metadata_info.LabelFileMd(str(lp))]
        input_md = metadata_info.InputImageTensorMd(
            name="image", description=in_desc, norm_mean=mean, norm_std=std,
            color_space_type=md_fb.ColorSpaceType.RGB, tensor_type=in_types[0])
        output_md = metadata_info.ClassificationTensorMd(
            name="logits", description="Class scores (logits; apply softmax for probabilities).",
            label_files=label_files, tensor_type=out_types[0])
        try:
            writer = image_classifier.MetadataWriter.create_from_metadata_info(
                model_buffer=bytearray(model_bytes), general_md=general, input_md=input_md, output_md=output_md)
            return bytes(writer.populate())
        except Exception as e:  # noqa: BLE001
            raise ExportError(f"writing TFLite metadata failed: {type(e).__name__}: {e}") from e


def read_metadata(model_bytes: bytes) -> dict | None:
    """The metadata of a TFLite file as a dict (normalization, label count), or None."""
    try:
        from tensorflow_lite_support.metadata.python import metadata
    except ImportError:
        return None
    import json
    try:
        d = metadata.MetadataDisplayer.with_model_buffer(bytearray(model_bytes))
    except ValueError:
        return None
    return {"json": json.loads(d.get_metadata_json()), "files": d.get_packed_associated_file_list()}
