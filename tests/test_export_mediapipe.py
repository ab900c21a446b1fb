"""MediaPipe ImageClassifier, given only the int8 TFLite file (with its metadata) and real photos,
returns the same top-5 labels as running the file directly with ai-edge-litert after the
documented preprocessing: proof that the metadata (normalization, labels) is right."""
from __future__ import annotations

import numpy as np
import pytest

import export
from export import photos
from export.verification import compare_top_k, mediapipe_top_k
from tests.export_helpers import family_model


@pytest.fixture(scope="module")
def int8_file(tmp_path_factory):
    model = family_model("legacy_seresnet18")
    path = tmp_path_factory.mktemp("mp") / "legacy_seresnet18_int8.tflite"
    export.to_tflite(model, path, quantize="int8", representative_data=photos.calibration_data(model, 128))
    return model, path


def _litert_scores(path, pixels):
    """The documented way to run the file: uint8 RGB pixels, resized (shorter side to
    size / crop_pct) and center-cropped to the model size; output dequantized."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    assert inp["dtype"] == np.uint8 and list(inp["shape"]) == [1, *pixels.shape[1:]]
    scale, zp = out["quantization"]
    res = []
    for p in pixels:
        it.set_tensor(inp["index"], p[None])
        it.invoke()
        res.append((it.get_tensor(out["index"])[0].astype(np.float64) - zp) * scale)
    return np.asarray(res)


def test_mediapipe_reads_the_metadata(int8_file):
    model, path = int8_file
    cfg = export.serving_cfg(model)
    raw = [photos.photo(n) for n in photos.VERIFICATION_PHOTOS]        # real photos, none used for calibration
    pixels = photos.to_pixels(raw, cfg)
    scores = _litert_scores(path, pixels)
    cats = mediapipe_top_k(path, pixels, k=5)
    strict_checked = 0
    for c, s in zip(cats, scores):
        names = [name for _, name, _ in c]
        assert all(n == cfg.labels[i] for i, n, _ in c)             # labels come from the packed file
        consistent, strict = compare_top_k(c, s, cfg.labels)
        assert consistent, (names, np.sort(s)[::-1][:6])
        top6 = np.sort(s)[::-1][:6]
        if len(set(np.round(top6, 6))) == 6:                        # no equal scores: order must match
            assert strict and names == [cfg.labels[i] for i in np.argsort(-s)[:5]]
            strict_checked += 1
    assert strict_checked >= 1, "every photo had equal scores in its top 6; pick other photos"


def test_metadata_content(int8_file):
    from export.metadata import read_metadata
    model, path = int8_file
    md = read_metadata(path.read_bytes())
    assert md["files"] == ["labels.txt"]
    t_in = md["json"]["subgraph_metadata"][0]["input_tensor_metadata"][0]
    norm = [u for u in t_in["process_units"] if u["options_type"] == "NormalizationOptions"][0]["options"]
    assert norm == {"mean": [0.0], "std": [1.0]}                    # uint8 pixels, normalization in the graph
    assert md["json"]["subgraph_metadata"][0]["output_tensor_metadata"][0]["name"] == "logits"
