"""Preprocessing equals timm's eval transform; labels and decoding."""
import ast
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import data
from zoo.errors import InvalidArgumentError

GOLDEN = Path(__file__).parent / "fixtures" / "preprocess.golden.npz"


@pytest.mark.parametrize("case", [0, 1, 2])
def test_transform_matches_timm_eval_transform(case):
    """Golden outputs of timm.data.create_transform (timm 1.0.31, PIL) for odd sizes and aspects."""
    with np.load(GOLDEN) as g:
        cfg = ast.literal_eval(str(g[f"case{case}_cfg"][0]))
        for j in (0, 1):
            out = data.transform(g[f"image{j}"], **cfg)[0]
            ref = g[f"case{case}_image{j}"]
            assert out.shape == ref.shape
            np.testing.assert_allclose(out, ref, atol=1e-5)


def test_preprocess_uses_the_models_cfg():
    img = np.full((300, 200, 3), 128, np.uint8)
    x = zoo.preprocess([img, img[:100]], "seresnet50")
    assert x.shape == (2, 224, 224, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0, 0], (128 / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
                               rtol=1e-5)
    assert zoo.preprocess(img, "seresnet50.a3_in1k").shape == (1, 160, 160, 3)
    assert zoo.preprocess(img, "seresnet50", img_size=96).shape == (1, 96, 96, 3)


def test_preprocess_accepts_paths_pil_grayscale_and_batches(tmp_path):
    from PIL import Image
    rgb = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    from_path = zoo.preprocess(str(tmp_path / "a.png"), "seresnet18", img_size=32)
    from_array = zoo.preprocess(rgb, "seresnet18", img_size=32)
    from_pil = zoo.preprocess(Image.fromarray(rgb), "seresnet18", img_size=32)
    np.testing.assert_array_equal(from_path, from_array)
    np.testing.assert_array_equal(from_pil, from_array)
    assert zoo.preprocess(np.stack([rgb, rgb]), "seresnet18", img_size=32).shape == (2, 32, 32, 3)
    gray = zoo.preprocess(rgb[..., 0], "seresnet18", img_size=32)
    assert np.allclose(gray[..., 0] * 0.229 + 0.485, gray[..., 1] * 0.224 + 0.456, atol=1e-5)


@pytest.mark.parametrize("bad,match", [
    (np.zeros((8, 8, 3), np.float32), "uint8"),
    (np.zeros((3, 8, 8), np.uint8), "HxWx3"),
    ([], "no images"),
    ("missing.jpg", "Cannot read image"),
])
def test_preprocess_bad_input(bad, match):
    with pytest.raises(InvalidArgumentError, match=match):
        zoo.preprocess(bad, "seresnet18")


def test_labels_and_decode_predictions():
    labels = data.imagenet_labels()
    assert len(labels) == 1000 and labels[0] == ("n01440764", "tench") and labels[281][1] == "tabby"
    logits = np.zeros((2, 1000), np.float32)
    logits[0, 281] = 10
    logits[1, 1] = 5
    top = zoo.decode_predictions(logits, top=3)
    assert [t[1] for t in top[0]][0] == "tabby" and top[1][0][1] == "goldfish"
    assert 0.9 < top[0][0][2] <= 1.0 and len(top[0]) == 3
    probs = zoo.decode_predictions(np.eye(1000)[[5]], top=1, from_logits=False)
    assert probs[0][0][2] == 1.0
    with pytest.raises(InvalidArgumentError, match="1000"):
        zoo.decode_predictions(np.zeros((1, 10)))
