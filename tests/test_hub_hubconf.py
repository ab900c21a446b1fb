"""hubconf.py, imported from the repository root the way a hub loader does it."""
from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

from hubtest import ARCH, IMG, checkpoint_bytes, logits

import zoo
from zoo import registry

ROOT = Path(__file__).resolve().parents[1]


def load_hubconf(root: Path = ROOT):
    """What torch.hub's _load_local does: put the repo on sys.path, import hubconf.py by file path,
    check that every dependency can be imported."""
    sys.path.insert(0, str(root))
    try:
        spec = importlib.util.spec_from_file_location("hubconf", root / "hubconf.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(root))
    missing = [d for d in module.dependencies if importlib.util.find_spec(d) is None]
    assert missing == [], missing
    return module


def entry_points(module) -> list[str]:  # torch.hub.list's rule: public callables
    return sorted(n for n in dir(module) if callable(getattr(module, n)) and not n.startswith("_"))


def test_dependencies_and_one_entry_point_per_family():
    hubconf = load_hubconf()
    assert set(hubconf.dependencies) >= {"keras", "tensorflow", "huggingface_hub", "safetensors"}
    families = sorted({spec.family for spec in registry.archs().values()})
    assert entry_points(hubconf) == families
    for family in families:
        entry = getattr(hubconf, family)
        default = inspect.signature(entry).parameters["name"].default
        assert registry.resolve(default)[0].family == family
        assert default in entry.__doc__


def test_entry_point_returns_the_same_model_as_create(tmp_path):
    hubconf = load_hubconf()
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(checkpoint_bytes())
    via_hub = hubconf.legacy_senet(ARCH, pretrained=str(weights), img_size=IMG)
    direct = zoo.create(ARCH, pretrained=str(weights), img_size=IMG)
    assert [w.path for w in via_hub.weights] == [w.path for w in direct.weights]
    assert [tuple(w.shape) for w in via_hub.weights] == [tuple(w.shape) for w in direct.weights]
    np.testing.assert_array_equal(logits(via_hub), logits(direct))
    assert dict(via_hub.pretrained_cfg) == dict(direct.pretrained_cfg)
    with pytest.raises(zoo.InvalidArgumentError, match="call the 'seresnet' entry point"):
        hubconf.legacy_senet("seresnet50")


@pytest.mark.torch
def test_torch_hub_load_local(tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.hub.load(str(ROOT), "legacy_senet", ARCH, source="local", img_size=IMG)
    assert model.name == ARCH and model.input_shape == (None, IMG, IMG, 3)
