"""`zoo convert`: the one reader of a local PyTorch pickle, and what it writes."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import synth
from hubtest import ARCH, IMG, checkpoint_bytes, logits, reference_logits

import zoo
from zoo import checkpoint
from zoo.cli import main
from zoo.errors import CheckpointError


class NotATensor:  # weights_only=True refuses to rebuild arbitrary classes
    pass


@pytest.mark.torch
def test_convert_pth_then_load(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    state = synth.synth_state_dict(ARCH)
    pth = tmp_path / "seresnet18-4bb0ce65.pth"
    torch.save({"state_dict": {f"module.{k}": torch.from_numpy(v) for k, v in state.items()}, "epoch": 90}, pth)
    out = tmp_path / "converted.safetensors"
    assert main(["convert", str(pth), "--arch", ARCH, "-o", str(out)]) == 0
    report = capsys.readouterr().out
    assert "all 154 tensors fit" in report and "unwrapped: state_dict" in report and "'module.'" in report
    written = checkpoint.read_safetensors(out)
    assert sorted(written) == sorted(state)                   # the source's own keys, prefix removed
    model = zoo.create(ARCH, pretrained=str(out), img_size=IMG)
    np.testing.assert_array_equal(logits(model), reference_logits())
    meta = checkpoint.safetensors_metadata(out)
    assert meta["source_file"] == pth.name and meta["arch"] == ARCH
    if "parity" in meta:                                     # timm is installed: measured, in a child process
        import json

        parity = json.loads(meta["parity"])
        assert parity["max_abs_diff"] < 1e-4 and parity["top1_agree"] == "2/2", parity
        assert "reference parity vs timm" in report


@pytest.mark.torch
def test_convert_refuses_what_weights_only_refuses(tmp_path):
    torch = pytest.importorskip("torch")
    pth = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": NotATensor()}, pth)
    with pytest.raises(CheckpointError, match="weights_only=True.*never runs arbitrary unpickling"):
        checkpoint.read_pytorch_file(pth)


def test_convert_without_torch_says_what_to_install(tmp_path, monkeypatch):
    pth = tmp_path / "x.pth"
    pth.write_bytes(b"\x80\x02}q\x00.")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(CheckpointError, match=r"pip install 'attention-zoo\[torch\]'"):
        checkpoint.read_pytorch_file(pth)


def test_convert_checks_the_keys_fit_the_arch(tmp_path, capsys):
    src = tmp_path / "se18.safetensors"
    src.write_bytes(checkpoint_bytes())
    assert main(["convert", str(src), "--arch", "seresnet18", "--no-parity"]) == 1
    err = capsys.readouterr().err
    assert "does not fit model 'seresnet18'" in err
    assert not (tmp_path / "se18.converted.safetensors").exists()


def test_local_pickles_point_at_zoo_convert(tmp_path):
    pth = tmp_path / "weights.pth"
    pth.write_bytes(b"not read")
    with pytest.raises(CheckpointError, match="never unpickles.*zoo convert"):
        zoo.create(ARCH, pretrained=str(pth), img_size=IMG)
