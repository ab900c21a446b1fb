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
    with pytest.raises(ExportError, match="is not an ONNX file"):   # overwrite replaces artifacts only
        export.to_onnx(m, target, overwrite=True)
    assert target.read_bytes() == b"keep me"
    target.unlink()
    export.to_onnx(m, target)
    first = target.read_bytes()
    export.to_onnx(tiny_model(seed=1), target, overwrite=True)
    assert target.stat().st_size > 1000 and target.read_bytes() != first
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


def test_bad_export_arguments_are_zoo_errors(tmp_path):
    m = tiny_model()
    with pytest.raises(ZooError, match="quantize"):
        export.to_tflite(m, tmp_path / "m.tflite", quantize="int9", mean=MEAN, std=STD)
    with pytest.raises(ZooError, match="opset"):
        export.to_onnx(m, tmp_path / "m.onnx", opset=99)
    assert list(tmp_path.iterdir()) == []


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


def test_overwrite_replaces_only_an_artifact_of_the_same_kind(tmp_path):
    """overwrite=True never deletes unrelated files or a folder that is not an artifact; a folder
    given for a single-file format gets the file inside it."""
    m = tiny_model()
    notes = tmp_path / "notes.tflite"
    notes.write_text("my notes")
    with pytest.raises(ExportError, match="is not a TFLite file: overwrite only replaces a TFLite file"):
        export.to_tflite(m, notes, overwrite=True, mean=MEAN, std=STD, metadata=False)
    assert notes.read_text() == "my notes"
    d = tmp_path / "d"
    d.mkdir()
    (d / "important.txt").write_text("x")
    p = export.to_tflite(m, d, overwrite=True, mean=MEAN, std=STD, metadata=False)
    assert p == d / "tiny_fp32.tflite" and p.is_file() and (d / "important.txt").read_text() == "x"
    assert export.to_tflite(m, d, quantize="fp16", mean=MEAN, std=STD, metadata=False) == d / "tiny_fp16.tflite"
    assert export.to_tflite(m, p, overwrite=True, mean=MEAN, std=STD, metadata=False) == p   # same kind: replaced
    fake_onnx = tmp_path / "m.onnx"
    fake_onnx.write_text("not onnx")
    with pytest.raises(ExportError, match="is not an ONNX file"):
        export.to_onnx(m, fake_onnx, overwrite=True)
    assert export.to_onnx(m, d) == d / "tiny.onnx"          # a folder: the file goes inside it
    assert fake_onnx.read_text() == "not onnx" and (d / "important.txt").is_file()


def test_overwrite_of_folder_artifacts_needs_a_savedmodel_there(tmp_path):
    m = tiny_model()
    version = tmp_path / "serving" / "tiny" / "1"
    version.mkdir(parents=True)
    (version / "notes.txt").write_text("x")
    with pytest.raises(ExportError, match="not a SavedModel.*notes.txt"):
        export.to_saved_model(m, tmp_path / "serving", name="tiny", overwrite=True)
    (version / "notes.txt").unlink()   # an empty folder holds nothing to lose
    assert export.to_saved_model(m, tmp_path / "serving", name="tiny") == version
    (version / "notes.txt").write_text("x")
    with pytest.raises(ExportError, match="also holds other files \\(notes.txt\\)"):
        export.to_saved_model(m, tmp_path / "serving", name="tiny", overwrite=True)
    (version / "notes.txt").unlink()
    assert (export.to_saved_model(m, tmp_path / "serving", name="tiny", overwrite=True) / "saved_model.pb").is_file()
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "a.txt").write_text("y")
    with pytest.raises(ExportError, match="not a SavedModel"):
        export.to_tfhub(m, hub, overwrite=True, mean=MEAN, std=STD)
    assert (hub / "a.txt").read_text() == "y"


def test_report_goes_inside_a_folder_and_replaces_only_a_report(tmp_path):
    from export.verification import VerifyReport
    r = VerifyReport(format="onnx", artifact=str(tmp_path / "m.onnx"), runtime="x", quantize=None, n_images=1,
                     max_abs_diff=0.0, max_rel_diff=0.0, top1_agreement=1.0, top5_agreement=1.0, size_bytes=1,
                     latency_ms=None, keras_latency_ms=None, tolerance="t", passed=True)
    d = tmp_path / "reports"
    d.mkdir()
    assert r.save(d) == d / "m.onnx.verify.json"
    with pytest.raises(ExportError, match="already exists"):
        r.save(d)
    assert r.save(d, overwrite=True) == d / "m.onnx.verify.json"
    other = tmp_path / "data.json"
    other.write_text('{"mine": 1}')
    with pytest.raises(ExportError, match="is not a verify report"):
        r.to_json(other)
    assert other.read_text() == '{"mine": 1}'


def test_cli_int8_options_are_checked_before_the_model_is_built(capsys, monkeypatch):
    import zoo
    from zoo.cli import main

    def no_build(*a, **k):
        raise AssertionError("the model was built before the options were checked")
    monkeypatch.setattr(zoo, "create", no_build)
    rc = main(["export", "legacy_seresnet18", "--format", "tflite", "--quantize", "int8", "--weights", "none"])
    err = capsys.readouterr().err
    assert rc == 1 and "--calibration sample-photos for the built-in set" in err
    rc = main(["export", "legacy_seresnet18", "--format", "tflite", "--quantize", "int8", "--weights", "none",
               "--calibration", "no/such/folder"])
    assert rc == 1 and "no such folder" in capsys.readouterr().err
    rc = main(["export", "legacy_seresnet18", "--format", "tflite", "--calibration", "sample-photos"])
    assert rc == 1 and "--calibration applies to --quantize int8 / int8-mixed only" in capsys.readouterr().err
    rc = main(["export", "legacy_seresnet18", "--format", "tflite", "--quantize", "int8-mixed", "--weights", "none"])
    assert rc == 1 and "--quantize int8-mixed needs --calibration" in capsys.readouterr().err
