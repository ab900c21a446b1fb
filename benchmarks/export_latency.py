"""Latency of each exported artifact against the Keras model, measured in the same run.

    python benchmarks/export_latency.py seresnet50 --img-size 224
    python benchmarks/export_latency.py seresnet18 --targets onnx tflite:int8 --repeats 50

Prints median batch-1 (and batch-8 where the artifact has a dynamic batch) latency and the ratio
to the Keras model (a tf.function forward pass) measured moments before in the same process.
Only the ratios carry over between machines; absolute milliseconds do not. Random weights with
data-initialised BatchNorm are used unless --weights is given (latency does not depend on the
values, but int8 calibration needs realistic activations). Same as `zoo bench`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name")
    p.add_argument("--img-size", type=int, default=None)
    p.add_argument("--weights", default="none", help="a tag / hf-hub / local file, or none (default)")
    p.add_argument("--targets", nargs="+", default=None)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args(argv)

    import zoo
    from export import testing
    from export.bench import DEFAULT_TARGETS, bench, format_rows
    random = args.weights.lower() == "none"
    model = zoo.create(args.name, pretrained=False if random else args.weights, img_size=args.img_size)
    if random:
        testing.data_init(model)
    rows = bench(model, tuple(args.targets or DEFAULT_TARGETS), repeats=args.repeats)
    print(f"{args.name} at {model.pretrained_cfg['input_size'][0]}px, ratios vs Keras measured in this run")
    print(format_rows(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
