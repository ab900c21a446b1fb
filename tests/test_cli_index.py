"""`zoo --help`, `zoo list` and `zoo info` answer without TensorFlow, from zoo/data/archs.json
(zoo/index.py), which must agree with the live registry."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from zoo import factory, index

STALE = f"zoo/data/archs.json disagrees with the registry: run {index.REGENERATE}"


def test_index_agrees_with_the_registry(monkeypatch):
    """Names, families, aliases, default cfgs, papers, every arch-level model_info field and the
    layer names; parameter counts are taken as recorded here (the slow test builds them all)."""
    recorded = index.load()
    assert recorded is not None, STALE
    monkeypatch.setattr(factory, "param_count", lambda arch: recorded["archs"].get(arch, {}).get("info", {})
                        .get("params", -1))
    diff = index.differences(recorded, index.build())
    assert not diff, STALE + "\n" + "\n".join(diff[:20])


@pytest.mark.parametrize("arch", ["legacy_seresnet18", "seresnet18"])
def test_index_params_of_small_archs(arch):
    assert index.load()["archs"][arch]["info"]["params"] == factory.param_count(arch), STALE


@pytest.mark.slow
def test_index_params_of_every_arch():
    recorded = index.load()
    wrong = {a: (r["info"]["params"], factory.param_count(a)) for a, r in recorded["archs"].items()
             if r["info"]["params"] != factory.param_count(a)}
    assert not wrong, f"{STALE}\n(index, registry): {wrong}"


@pytest.mark.parametrize("name", ["seresnet50.ra2_in1k", "seresnet50", "seresnet18", "legacy_seresnet18",
                                  "skresnet18.ra_in1k", "ecaresnet50t.a3_in1k"])
def test_index_model_info_is_model_info(name, monkeypatch):
    recorded = index.load()
    monkeypatch.setattr(factory, "param_count", lambda arch: recorded["archs"][arch]["info"]["params"])
    assert index.model_info(name) == factory.model_info(name), STALE


def test_index_resolves_aliases_and_leaves_unknown_names_to_the_registry(monkeypatch):
    fake = json.loads(index.to_json(index.load()))
    fake["aliases"] = {"se18": "seresnet18", "se50a3": "seresnet50.a3_in1k"}
    monkeypatch.setattr(index, "load", lambda: fake)
    assert index.resolve("se18") == ("seresnet18", None)
    assert index.resolve("SE50A3") == ("seresnet50", "a3_in1k")
    assert index.resolve("seresnet50.A1_IN1K") == ("seresnet50", "a1_in1k")
    for unknown in ("seresnet5O", "seresnet50.nope", "hf-hub:timm/x", "", "coatnet_9"):
        assert index.resolve(unknown) is None and index.model_info(unknown) is None


def test_index_carries_alias_notes(monkeypatch):
    """`zoo info <alias>` says why the alias points there, from the index file (no TensorFlow)."""
    fake = {"archs": {"seresnet18": {}}, "aliases": {"se18": "seresnet18"}, "alias_notes": {"se18": "the small one"}}
    monkeypatch.setattr(index, "_usable", lambda: fake)
    assert index.alias_note("SE18") == "alias of seresnet18: the small one"
    assert index.alias_note("se18.a1_in1k") == "alias of seresnet18: the small one"
    assert index.alias_note("seresnet18") is None
    from zoo import registry
    assert registry.alias_notes()["coatnet_0"].startswith("CoAtNet-0 size")


def test_a_manifest_arch_missing_from_the_index_means_the_registry_answers(monkeypatch):
    fake = json.loads(index.to_json(index.load()))
    del fake["archs"]["seresnet50"]
    monkeypatch.setattr(index, "load", lambda: fake)
    assert index.list_models("*") is None and index.resolve("seresnet18") is None


_NO_TF = r"""
import sys
from zoo.cli import main
for argv in (["--help"], ["list"], ["list", "--pretrained", "seresnet50*"], ["list", "coatnet*"],
             ["info", "seresnet50"], ["info", "legacy_seresnet18.in1k", "--json"], ["export", "--help"]):
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    assert rc == 0, (argv, rc)
loaded = sorted(m for m in ("tensorflow", "keras", "zoo.models", "zoo.registry", "export") if m in sys.modules)
assert not loaded, loaded
"""


def test_help_list_and_info_do_not_import_tensorflow():
    p = subprocess.run([sys.executable, "-c", _NO_TF], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "seresnet50.a1_in1k" in p.stdout and "28088024" in p.stdout


def test_list_without_a_match_says_so_and_where_the_module_lives(capsys):
    from zoo.cli import main
    assert main(["list", "crisscross*"]) == 0   # a layer of zoo.layers, no model family
    out, err = capsys.readouterr()
    assert out == "" and "no architecture matches 'crisscross*'" in err and "zoo.layers.CrissCrossAttention" in err
    assert main(["list", "--pretrained", "nothing*"]) == 0
    assert "no published weight set matches 'nothing*'" in capsys.readouterr().err
    assert main(["list", "LEGACY_SERESNET1*"]) == 0
    assert capsys.readouterr().out.split() == ["legacy_seresnet101", "legacy_seresnet152", "legacy_seresnet18"]


def test_info_of_an_attention_module_name_points_at_zoo_layers(capsys):
    from zoo.cli import main
    assert main(["info", "CBAMBlock"]) == 1
    err = capsys.readouterr().err
    assert "Unknown model" in err and "zoo.layers.CBAMBlock is an attention module" in err
    assert err.count("\n") == 1
