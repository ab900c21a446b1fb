"""The `zoo` command line: list, info, predict, and one-line errors."""
import json
import subprocess
import sys

import numpy as np

from zoo.cli import main


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_list(capsys):
    rc, out, _ = run(capsys, "list", "legacy_seresnet1*")
    assert rc == 0 and out.split() == ["legacy_seresnet101", "legacy_seresnet152", "legacy_seresnet18"]
    rc, out, _ = run(capsys, "list", "--pretrained", "seresnet50.*")
    assert rc == 0 and "seresnet50.a1_in1k" in out and "80.01" in out and "timm/seresnet50.a1_in1k" in out


def test_info_json(capsys):
    rc, out, _ = run(capsys, "info", "seresnet50.ra2_in1k", "--json")
    info = json.loads(out)
    assert rc == 0 and info["tag"] == "ra2_in1k" and info["crop_pct"] == 0.875 and info["params"] == 28088024


def test_predict_with_local_weights(capsys, checkpoints, tmp_path):
    from PIL import Image
    img = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)).save(img)
    rc, out, _ = run(capsys, "predict", "legacy_seresnet18", str(img), "--weights",
                     str(checkpoints("legacy_seresnet18")), "--top", "3", "--json")
    assert rc == 0
    res = json.loads(out)
    assert res[0]["image"] == str(img) and len(res[0]["top"]) == 3
    probs = [t["prob"] for t in res[0]["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < probs[0] <= 1


def test_predict_in_batches_gives_what_the_model_gives(capsys, checkpoints, tmp_path):
    """Several batches (the last one padded) through the frozen inference form: the same top-3 and
    probabilities as the model called directly, for every image, in order."""
    from PIL import Image

    import zoo
    rng = np.random.default_rng(1)
    imgs = []
    for i in range(5):
        imgs.append(str(tmp_path / f"img{i}.png"))
        Image.fromarray(rng.integers(0, 256, (70 + 9 * i, 90, 3), dtype=np.uint8)).save(imgs[-1])
    ckpt = str(checkpoints("legacy_seresnet18"))
    rc, out, _ = run(capsys, "predict", "legacy_seresnet18", *imgs, "--weights", ckpt, "--top", "3", "--json",
                     "--batch-size", "2")
    assert rc == 0
    got = json.loads(out)
    model = zoo.create("legacy_seresnet18", pretrained=ckpt)
    want = zoo.decode_predictions(model.predict(zoo.preprocess(imgs, "legacy_seresnet18"), verbose=0), top=3)
    assert [r["image"] for r in got] == imgs
    for g, w in zip(got, want):
        assert [t["wnid"] for t in g["top"]] == [x[0] for x in w]
        np.testing.assert_allclose([t["prob"] for t in g["top"]], [x[2] for x in w], rtol=1e-4, atol=1e-6)
    assert run(capsys, "predict", "legacy_seresnet18", imgs[0], "--batch-size", "0")[0] == 1


def test_errors_are_one_line(capsys):
    rc, out, err = run(capsys, "info", "seresnet5O")
    assert rc == 1 and "Traceback" not in err and "Did you mean" in err and err.count("\n") == 1
    rc, _, err = run(capsys, "predict", "legacy_seresnet18", "x.png")
    assert rc == 1 and "not on the Hugging Face Hub" in err


def test_help_without_command(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def _image(tmp_path):
    from PIL import Image
    img = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)).save(img)
    return img


def test_module_entry_point_is_quiet(tmp_path):
    """`python -m zoo` (what the console script runs) prints no TensorFlow start-up chatter; -v does."""
    argv = [sys.executable, "-m", "zoo", "predict", "seresnet18", str(_image(tmp_path)), "--weights", "none"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "img.png" in p.stdout, p.stderr[-2000:]
    assert "absl" not in p.stderr and "oneDNN" not in p.stderr and "cuInit" not in p.stderr, p.stderr
    loud = subprocess.run(argv[:3] + ["-v"] + argv[3:], capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0 and "oneDNN" in loud.stderr


def test_predict_takes_weights_none_with_a_loud_note(capsys, tmp_path):
    rc, out, err = run(capsys, "predict", "seresnet18", str(_image(tmp_path)), "--weights", "none", "--json")
    assert rc == 0 and len(json.loads(out)[0]["top"]) == 5
    assert "[zoo] note: random weights (--weights none): predictions are meaningless" in err.splitlines()


def test_errors_speak_the_cli_words(capsys, tmp_path):
    rc, _, err = run(capsys, "predict", "seresnet18", str(_image(tmp_path)))
    assert rc == 1 and "--weights none" in err and "pretrained=" not in err and err.count("\n") == 1


def test_cli_wording():
    from zoo.cli._common import cli_wording
    assert cli_wording("x weights are tied to 224x224 input; img_size=64x64 needs pretrained=False.", "export") == \
        "x weights are tied to 224x224 input; --img-size 64x64 needs --weights none."
    assert cli_wording("use zoo.create('seresnet50', pretrained='hf-hub:me/x').", "predict") == \
        "use `zoo predict seresnet50 --weights hf-hub:me/x`."
    assert cli_wording("Unknown model 'x'. List the models with zoo.list_models('*pattern*') or `zoo list`.", "info") \
        == "Unknown model 'x'. List the models with `zoo list '*pattern*'`."
    assert cli_wording("pass pretrained=<the .safetensors>", "export") == "pass --weights <the .safetensors>"


def test_export_into_a_folder_keeps_its_files_and_takes_the_report(capsys, tmp_path):
    """--out FOLDER --overwrite writes the file inside it (never deletes the folder); --report
    FOLDER puts the report inside; the note sits on its own line, not after the progress bar."""
    d = tmp_path / "d"
    d.mkdir()
    (d / "important.txt").write_text("x")
    rc, out, err = run(capsys, "export", "legacy_seresnet18", "--format", "tflite", "--weights", "none",
                       "--img-size", "64", "--out", str(d), "--overwrite", "--verify", "--report", str(d))
    assert rc == 0, err
    assert (d / "important.txt").read_text() == "x"
    art = d / "legacy_seresnet18_fp32.tflite"
    assert art.is_file() and f"wrote {art}" in out and "PASS" in out
    rep = json.loads((d / "legacy_seresnet18_fp32.tflite.verify.json").read_text())
    assert rep["passed"] and rep["artifact"] == str(art)
    i = err.index("[zoo] note: random weights")
    assert err[i - 1] in "\r\n" and err[err.index("\n", i) - 1] != "|", err[max(0, i - 80):i + 120]
