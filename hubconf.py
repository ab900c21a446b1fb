"""Hub entry points for attention-zoo (the hubconf.py protocol of torch.hub and similar loaders).

A loader puts this folder on sys.path, imports this file, checks that every name in
`dependencies` can be imported, and calls an entry point by name:

    import torch
    model = torch.hub.load("owner/attention-zoo", "seresnet", "seresnet50", pretrained=True)

There is one entry point per model family. Each forwards to `zoo.create`, so it takes the same
arguments and returns the same Keras model:

    <family>(name=<the family's flagship>, pretrained=False, **create_kwargs)

`torch.hub.list(...)` shows the families; `torch.hub.help(..., family)` lists its architectures.
Only the entry points are public names here: loaders treat every public callable as one.
"""
dependencies = ["keras", "tensorflow", "numpy", "safetensors", "huggingface_hub"]

import zoo as _zoo  # noqa: E402
from zoo import manifest as _manifest  # noqa: E402
from zoo import registry as _registry  # noqa: E402


def _families() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, spec in _registry.archs().items():   # registration order: blocks of a family together
        out.setdefault(spec.family, []).append(name)
    return out


def _flagship(archs: list[str]) -> str:
    """The default arch of a family: the first registered with weights on the Hub, else with any
    published weights, else the first registered."""
    for on_hub in (True, False):
        for a in archs:
            entry = _manifest.default_entry(a)
            if entry is not None and (entry.on_hub or not on_hub):
                return a
    return archs[0]


def _entry_point(family: str, archs: list[str]):
    default = _flagship(archs)

    def entry(name: str = default, pretrained=False, **kwargs):
        spec, _ = _registry.resolve(name)
        if spec.family != family:
            raise _zoo.InvalidArgumentError(
                f"{name!r} is a {spec.family} model, not {family}: call the {spec.family!r} entry point.")
        return _zoo.create(name, pretrained=pretrained, **kwargs)

    entry.__name__ = entry.__qualname__ = family
    entry.__doc__ = (
        f"{family} models: {', '.join(archs)}.\n\n"
        f"name: an arch of this family, 'arch.tag' or an alias (default {default!r}).\n"
        f"pretrained and the other keyword arguments are those of zoo.create, which this calls.\n"
        f"Returns a keras.Model taking NHWC float32 images normalized with the weights' mean/std.")
    return entry


for _family, _archs in _families().items():
    globals()[_family] = _entry_point(_family, _archs)
del _family, _archs
