"""PyTorch reference definitions, for parity checks of converted checkpoints (torch extra only).

`reference_model(arch)` returns the reference implementation of a zoo architecture as a
`torch.nn.Module` whose `state_dict` keys are those of the checkpoints the zoo converts:

- families whose checkpoints come from their authors' own code (not timm) have a module here,
  `zoo.torch_ref.<family>`, with `build(arch, num_classes=1000, img_size=224, in_chans=3)`: our
  re-implementation of the official definition (GFNet: raoyongming/GFNet `gfnet.py`);
- every other arch falls back to `timm.create_model(arch)` when timm registers it.

Nothing imports this package on `import zoo`: it needs torch, and (torch 2.14.1 / TF 2.21) torch
and timm must be imported before TensorFlow, so `zoo convert` runs it in a child process
(`zoo.cli.hub.reference_parity`). The package itself imports neither TensorFlow nor Keras.
"""
from __future__ import annotations

import importlib
import importlib.util

__all__ = ["reference_model", "reference_family", "describe"]


def _family_module(family: str | None):
    if not family or not family.isidentifier():
        return None
    name = f"{__name__}.{family}"
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def reference_family(arch: str) -> str | None:
    """The family of `arch` from the TensorFlow-free index (zoo/data/archs.json), else the name's
    first part when a module of that name is here (`gfnet_h_ti` -> gfnet)."""
    from .. import index

    info = index.model_info(arch)
    if info and info.get("family"):
        return info["family"]
    head = arch.split("_", 1)[0]
    return head if _family_module(head) is not None else None


def reference_model(arch: str, *, family: str | None = None, num_classes: int = 1000, img_size: int = 224,
                    in_chans: int = 3):
    """The PyTorch reference of `arch` (eval mode, random init), or None when there is none.

    family: the arch's zoo family (`ArchSpec.family`); looked up when omitted. Its module here,
    if any, builds the model; otherwise timm does, when it has the arch. The module gets an
    attribute `zoo_reference`: what it is, for reports.
    """
    family = family or reference_family(arch)
    mod = _family_module(family)
    if mod is not None:
        model = mod.build(arch, num_classes=num_classes, img_size=img_size, in_chans=in_chans)
        model.zoo_reference = getattr(mod, "REFERENCE", f"zoo.torch_ref.{family}")
        return model.eval()
    if importlib.util.find_spec("timm") is None:
        return None
    import timm

    if arch not in timm.list_models(arch):
        return None
    model = timm.create_model(arch, pretrained=False, num_classes=num_classes, in_chans=in_chans)
    model.zoo_reference = f"timm {timm.__version__}"
    return model.eval()


def describe(model) -> str:
    """'<reference> (PyTorch <version>, float32, CPU)' for a model reference_model returned."""
    import torch

    return f"{getattr(model, 'zoo_reference', type(model).__name__)} (PyTorch {torch.__version__}, float32, CPU)"
