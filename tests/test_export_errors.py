"""Bad input gives one clear error that names the fix, and never a half-written artifact."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import export
from tests.export_helpers import MEAN, STD, FFTRoundTrip, tiny_inputs, tiny_model
from zoo.errors import ExportError, InvalidArgumentError, ZooError


def _leftovers(d):
    return sorted(p.name for p in d.iterdir())


def test_unsupported_format_and_quantization(tmp_path):
    m = tiny_model()
    with pytest.raises(InvalidArgumentError, match="unsupported format 'coreml'"):
        export.to_format(m, tmp_path / "m", "coreml")
    with pytest.raises(InvalidArgumentError, match="unsupported quantize='int4'.*fp32"):
        export.to_tflite(m, tmp_path / "m.tflite", quantize="int4", mean=MEAN, std=STD)
    with pytest.raises(InvalidArgumentError, match="opset must be"):
        export.to_onnx(m, tmp_path / "m.onnx", opset=19)
    assert _leftovers(tmp_path) == []


def test_int8_needs_representative_data(tmp_path):
    m = tiny_model()
    with pytest.raises(ExportError, match="representative_data.*calibration_data"):
        export.to_tflite(m, tmp_path / "m.tflite", quantize="int8", mean=MEAN, std=STD)
    with pytest.raises(InvalidArgumentError, match=r"shape \(16, 16, 3\)"):
        export.to_tflite(m, tmp_path / "m.tflite", quantize="int8", mean=MEAN, std=STD,
                         representative_data=np.zeros((2, 16, 16, 3), np.float32))
    assert _leftovers(tmp_path) == []


def test_existing_output_is_not_overwritten_silently(tmp_path):
    m = tiny_model()
    target = tmp_path / "m.onnx"
    target.write_bytes(b"keep me")
    with pytest.raises(ExportError, match="already exists.*overwrite=True"):
        export.to_onnx(m, target)
    assert target.read_bytes() == b"keep me"
    export.to_onnx(m, target, overwrite=True)
    assert target.stat().st_size > 1000
    base = tmp_path / "serving"
    export.to_saved_model(m, base, name="tiny")
    with pytest.raises(ExportError, match="already exists"):
        export.to_saved_model(m, base, name="tiny")
    assert export.to_saved_model(m, base, name="tiny", version=2).name == "2"
    assert sorted(p.name for p in (base / "tiny").iterdir()) == ["1", "2"]


def test_normalization_required_where_needed(tmp_path):
    m = tiny_model()  # no pretrained_cfg, no mean/std
    with pytest.raises(ExportError, match=r"Pass mean=\(r, g, b\) and std"):
        export.to_tflite(m, tmp_path / "m.tflite")
    with pytest.raises(ExportError, match="mean="):
        export.to_saved_model(m, tmp_path / "sm", signatures=("float", "uint8"))
    # where nothing needs it, the export works
    p = export.to_tflite(m, tmp_path / "m.tflite", pixel_input=False, metadata=False)
    assert p.is_file()
    sm = export.to_saved_model(m, tmp_path / "sm")
    assert (sm / "saved_model.pb").is_file()


def test_op_a_target_cannot_run_is_named_and_nothing_is_left(tmp_path):
    m = tiny_model(FFTRoundTrip(name="fft"))
    with pytest.raises(ExportError, match=r"tf\.IRFFT2D.*deploy form"):
        export.to_tflite(m, tmp_path / "m.tflite", mean=MEAN, std=STD)
    with pytest.raises(ExportError, match="IRFFT2D"):
        export.to_onnx(m, tmp_path / "m.onnx")
    assert _leftovers(tmp_path) == []


def test_failed_export_removes_created_folders(tmp_path):
    m = tiny_model(FFTRoundTrip(name="fft"))
    with pytest.raises(ExportError):
        export.to_tflite(m, tmp_path / "a" / "b" / "m.tflite", mean=MEAN, std=STD)
    assert _leftovers(tmp_path) == []


def test_errors_are_zoo_errors():
    assert issubclass(ExportError, ZooError) and issubclass(InvalidArgumentError, ZooError)


def test_near_zero_scale_is_refused(tmp_path):
    """A branch that is all zeros on the calibration data gets a degenerate int8 scale, which
    XNNPACK refuses: the export fails and says to calibrate on real images."""
    def dead_branch(x):
        z = keras.layers.Conv2D(4, 1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(-1.0),
                                name="dead")(x)
        z = keras.layers.ReLU(name="dead_relu")(z)               # always 0
        z = keras.layers.Conv2D(8, 1, name="back")(z)
        return keras.layers.Add(name="add")([x, z])
    m = tiny_model(dead_branch)
    data = tiny_inputs(16)
    with pytest.raises(ExportError, match="near-zero quantization scale.*Calibrate on more, real"):
        export.to_tflite(m, tmp_path / "m.tflite", quantize="int8", representative_data=data, mean=MEAN, std=STD,
                         metadata=False)
    assert _leftovers(tmp_path) == []


def test_cli_errors_are_one_line(capsys, tmp_path):
    from zoo.cli import main
    rc = main(["export", "legacy_seresnet18", "--format", "tflite", "--quantize", "int8", "--weights", "none",
               "--img-size", "64", "--out", str(tmp_path / "m.tflite")])
    err = capsys.readouterr().err
    assert rc == 1 and "--calibration" in err and "Traceback" not in err
    rc = main(["export", "legacy_seresnet18", "--format", "onnx", "--quantize", "int8", "--weights", "none"])
    assert rc == 1 and "--quantize applies to --format tflite only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "legacy_seresnet18", "--format", "coreml"])
