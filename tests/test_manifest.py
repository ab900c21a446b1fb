"""The manifest and the registry agree, and the manifest's checks catch what they should."""
from __future__ import annotations

import dataclasses

import pytest

from zoo import manifest, registry


def test_manifest_and_registry_agree():
    assert manifest.validate(archs=set(registry.archs())) == []


def test_every_registered_name_with_weights_resolves():
    for name in registry.list_models(pretrained=True):
        spec, tag = registry.resolve(name)
        entry = manifest.entries()[name]
        assert spec.weights and tag == entry.tag
        cfg = spec.cfg(tag)
        assert cfg["num_classes"] == entry.cfg["num_classes"] and tuple(cfg["input_size"]) == tuple(
            entry.cfg["input_size"])
    for arch, spec in registry.archs().items():
        default = manifest.default_entry(arch)
        assert (default is None) == (spec.default_tag is None)


def test_entries_not_on_the_hub_say_how_they_get_there():
    off_hub = [e for e in manifest.entries().values() if not e.on_hub]
    assert off_hub, "the legacy SENet weights are GitHub .pth files"
    for e in off_hub:
        assert "zoo convert" in e.notes and e.source.get("url")


def _entry(**changes):
    base = manifest.entries()["seresnet50.a1_in1k"]
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize("change, problem", [
    (dict(arch="seresnet_nope"), "not a registered architecture"),
    (dict(cfg={"input_size": [224, 224, 3]}), "cfg lacks crop_pct"),
    (dict(source={"hub": "timm/x", "filename": "pytorch_model.bin", "revision": "main", "format": "timm"}),
     "never loads pickle"),
    (dict(source={"hub": "timm/x", "filename": "model.safetensors", "revision": "main", "format": "onnx"}),
     "format 'onnx'"),
    (dict(source={"hub": "timm/x", "filename": "model.safetensors", "revision": "main", "format": "timm",
                  "sha256": "abc"}), "sha256 must be"),
    (dict(source={"hub": None, "url": "https://x/y.pth", "format": "timm"}, notes=None), "how the weights get"),
    (dict(default=False), "exactly one default tag"),
])
def test_validate_catches(change, problem):
    table = {"seresnet50.a1_in1k": _entry(**change)}
    problems = manifest.validate(table, archs=set(registry.archs()))
    assert any(problem in p for p in problems), problems


def test_two_defaults_for_one_arch():
    table = {"seresnet50.a1_in1k": _entry(), "seresnet50.a2_in1k": _entry(tag="a2_in1k")}
    assert any("exactly one default" in p for p in manifest.validate(table))
