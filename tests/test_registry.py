"""Names: architectures, tags, aliases, listing and info."""
import pytest

import zoo
from zoo import registry
from zoo.errors import UnknownModelError

SE_FAMILY = ["seresnet18", "seresnet34", "seresnet50", "seresnet101", "seresnet152", "seresnet50d", "seresnet152d",
             "seresnext26d_32x4d", "seresnext50_32x4d", "seresnext101_32x4d", "seresnext101_32x8d",
             "seresnext101d_32x8d", "legacy_seresnet18", "legacy_seresnet34", "legacy_seresnet50",
             "legacy_seresnet101", "legacy_seresnet152", "legacy_seresnext26_32x4d",
             "legacy_seresnext50_32x4d", "legacy_seresnext101_32x4d", "senet154", "legacy_senet154"]


def test_se_family_is_registered():
    names = zoo.list_models()
    assert set(SE_FAMILY) <= set(names)
    assert names == sorted(names)


def test_list_models_patterns_and_pretrained():
    assert zoo.list_models("legacy_seresnet1*") == ["legacy_seresnet101", "legacy_seresnet152", "legacy_seresnet18"]
    assert zoo.list_models(["senet*", "legacy_senet*"]) == ["legacy_senet154", "senet154"]
    pre = zoo.list_models("seresnet50*", pretrained=True)
    assert pre == ["seresnet50.a1_in1k", "seresnet50.a2_in1k", "seresnet50.a3_in1k", "seresnet50.ra2_in1k"]
    assert "seresnet18" not in {n.split(".")[0] for n in zoo.list_models(pretrained=True)}  # no weights
    assert zoo.list_models("nothing*") == []


def test_model_info_fields():
    info = zoo.model_info("seresnext26d_32x4d")
    assert info["name"] == "seresnext26d_32x4d.bt_in1k"
    assert info["source"]["hub"] == "timm/seresnext26d_32x4d.bt_in1k"
    assert info["reported"]["top1"] == pytest.approx(77.592) and "timm" in info["reported"]["by"]
    assert info["params"] == 16809512  # timm 1.0.31 counts the same
    for k in ("arch", "tag", "input_size", "mean", "std", "crop_pct", "interpolation", "num_classes",
              "source", "reported", "license", "params"):
        assert k in info
    bare = zoo.model_info("seresnet18")
    assert bare["tag"] is None and bare["source"] is None and bare["pretrained_tags"] == []


def test_resolve_and_errors():
    spec, tag = registry.resolve("seresnet50.a2_in1k")
    assert spec.name == "seresnet50" and tag == "a2_in1k"
    with pytest.raises(UnknownModelError, match="Did you mean"):
        registry.resolve("seresnext50_32x4")
    with pytest.raises(UnknownModelError, match="non-empty string"):
        registry.resolve("")
    with pytest.raises(UnknownModelError, match="weights location"):
        registry.resolve("hf-hub:timm/seresnet50.a1_in1k")
    assert isinstance(UnknownModelError("x"), KeyError) and str(UnknownModelError("msg")) == "msg"


def test_aliases_resolve_to_their_target():
    registry.register_alias("test_alias_se50", "seresnet50")
    try:
        spec, tag = registry.resolve("test_alias_se50")
        assert spec.name == "seresnet50" and tag is None
        with pytest.raises(ValueError, match="already points"):
            registry.register_alias("test_alias_se50", "seresnet18")
    finally:
        registry._ALIASES.pop("test_alias_se50")


def test_alias_notes_say_why():
    registry.register_alias("test_alias_noted", "seresnet50", note="the SE-ResNet-50 everyone means")
    try:
        assert registry.resolve("TEST_ALIAS_NOTED")[0].name == "seresnet50"
        assert registry.alias_note("Test_Alias_Noted") == "alias of seresnet50: the SE-ResNet-50 everyone means"
        assert registry.alias_note("test_alias_noted.a1_in1k").startswith("alias of seresnet50")
        assert registry.alias_note("seresnet50") is None and registry.alias_note(None) is None
        assert registry.alias_notes()["test_alias_noted"] == "the SE-ResNet-50 everyone means"
    finally:
        registry._ALIASES.pop("test_alias_noted")
        registry._ALIAS_NOTES.pop("test_alias_noted")
