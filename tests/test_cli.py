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


def test_errors_are_one_line(capsys):
    rc, out, err = run(capsys, "info", "seresnet5O")
    assert rc == 1 and "Traceback" not in err and "Did you mean" in err and err.count("\n") == 1
    rc, _, err = run(capsys, "predict", "legacy_seresnet18", "x.png")
    assert rc == 1 and "not on the Hugging Face Hub" in err


def test_help_without_command(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_module_entry_point_is_quiet():
    """`python -m zoo` (what the console script runs) prints no TensorFlow start-up chatter."""
    p = subprocess.run([sys.executable, "-m", "zoo", "list", "senet*"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.split() == ["senet154"]
    assert "absl" not in p.stderr and "oneDNN" not in p.stderr
