"""Regenerate the generated parts of the docs from the registry and the weights manifest.

    python scripts/gen_docs.py          # rewrite README.md's model table in place
    python scripts/gen_docs.py --check  # exit 1 if README.md is out of date (the tests run this)
    python scripts/gen_docs.py --layers # also measure every layer's TFLite/ONNX export (~2 min)
                                        # and rewrite the layer x format table of docs/layers.md

Generated blocks sit between `<!-- NAME:begin -->` and `<!-- NAME:end -->` markers.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAMILY_TITLES = {
    "seresnet": "SE-ResNet / SE-ResNeXt / SENet-154 (timm `resnet.py`)",
    "legacy_senet": "Legacy SENet (Cadene port, timm `senet.py`)",
    "ecaresnet": "ECA-ResNet (timm `resnet.py`)",
    "skresnet": "SK-ResNet / SK-ResNeXt (timm `sknet.py`)",
    "coatnet": "CoAtNet (timm `maxxvit.py`)",
    "mobilevit": "MobileViT (timm `mobilevit.py`)",
    "mobilevitv2": "MobileViTv2 (timm `mobilevit.py`)",
    "gfnet": "GFNet (official raoyongming/GFNet)",
    "parnet": "ParNet (official imankgoyal/NonDeepNetworks)",
}


def _host(entry) -> str:
    """Where a file not on the Hub is published: its URL's host, named."""
    from urllib.parse import urlparse
    host = urlparse(entry.source.get("url") or "").netloc
    return {"github.com": "GitHub release", "cloud.tsinghua.edu.cn": "Tsinghua Cloud"}.get(host, host or "upstream")


def models_table() -> str:
    from zoo import manifest, registry

    lines = []
    by_family: dict[str, list] = {}
    for spec in registry.archs().values():
        by_family.setdefault(spec.family, []).append(spec)
    for family in sorted(by_family, key=lambda f: (f not in FAMILY_TITLES, f)):
        specs = sorted(by_family[family], key=lambda s: s.name)
        lines += [f"**{FAMILY_TITLES.get(family, family)}**", "",
                  "| weights (`arch.tag`) | input | top-1 reported by the source | where |",
                  "|---|---|---|---|"]
        bare = []
        for spec in specs:
            tags = manifest.tags_of(spec.name)
            if not tags:
                bare.append(spec.name)
            for e in sorted(tags, key=lambda e: (not e.default, e.tag)):
                size = e.cfg.get("input_size", spec.default_cfg["input_size"])[0]
                top1 = e.reported.get("top1")
                if top1 is not None:
                    acc = f"{top1:.3f} @ {e.reported.get('at')}"
                else:
                    acc = "- (not an IN-1k head)" if e.cfg.get("num_classes", 1000) != 1000 else "- (none published)"
                where = f"`{e.hub_repo}`" if e.on_hub else f"{_host(e)} file: `zoo convert`"
                lines.append(f"| `{e.name}`{' (default)' if e.default else ''} | {size} | {acc} | {where} |")
        lines.append("")
        if bare:
            lines += ["Architectures without published weights: " + ", ".join(f"`{n}`" for n in bare) + ".", ""]
    return "\n".join(lines).rstrip() + "\n"


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"marker <!-- {name}:begin/end --> not found")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the docs are out of date")
    ap.add_argument("--layers", action="store_true", help="measure the layer exports for docs/layers.md")
    args = ap.parse_args(argv)
    if args.layers:
        sys.path.insert(0, str(ROOT / "tests"))
        import layer_cases
        from layer_export import measure, table
        from tqdm import tqdm
        results = [measure(n) for n in tqdm(sorted(layer_cases.CASES), desc="layer exports", unit="layer")]
        doc = ROOT / "docs" / "layers.md"
        doc.write_text(replace_block(doc.read_text(), "layer-export", table(results)))
    readme = ROOT / "README.md"
    old = readme.read_text()
    new = replace_block(old, "models", models_table())
    if args.check:
        if new != old:
            print("README.md's model table is out of date: run python scripts/gen_docs.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
