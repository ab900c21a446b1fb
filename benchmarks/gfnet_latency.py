"""Latency per GFLOP of GFNet-XS next to SE-ResNet-50, Keras and TFLite (fp32, int8), one run.

    .venv/bin/python benchmarks/gfnet_latency.py                  # gfnet_xs vs seresnet50 at 224
    .venv/bin/python benchmarks/gfnet_latency.py --repeats 30 --peer seresnet50

Both models are built at 224 with stand-in weights (export.testing.data_init; latency does not
depend on the values, int8 calibration gets the zoo's calibration photos) and measured in the
same process by `export.bench.bench`: batch-1 median of a tf.function forward (Keras) and of the
LiteRT interpreter (TFLite; the exported GFNet runs its deploy form, the global filter as real
DFT matmuls, since LiteRT has no IRFFT2D). Compute is each model's multiply-accumulate count as
its source reports it (GFNet README "FLOPs" column, fvcore counts, i.e. MACs; timm's results
CSV "GMACs"), so "ms per GFLOP" is ms per 1e9 MACs. The ratio column is GFNet's ms/GFLOP over
the peer's: above 1, GFNet gets less done per millisecond than the CNN.

Figures (one run, 2 CPU cores shared with other jobs, load average 7-9: noisy; only ratios carry
over; `.venv/bin/python benchmarks/gfnet_latency.py`, also in docs/gfnet.md):

    runtime           gfnet_xs ms  ms/GFLOP    seresnet50 ms  ms/GFLOP   ratio
    keras                  122.97     43.92           170.28     41.43   1.06x
    tflite:fp32            190.09     67.89           293.70     71.46   0.95x
    tflite:int8            100.00     35.71            83.26     20.26   1.76x
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# multiply-accumulates at 224 as the weights' sources report them
REPORTED_GMACS = {
    "gfnet_ti": (1.3, "raoyongming/GFNet README"), "gfnet_xs": (2.8, "raoyongming/GFNet README"),
    "gfnet_s": (4.5, "raoyongming/GFNet README"), "gfnet_b": (7.9, "raoyongming/GFNet README"),
    "gfnet_h_ti": (2.0, "raoyongming/GFNet README"), "gfnet_h_s": (4.5, "raoyongming/GFNet README"),
    "gfnet_h_b": (8.4, "raoyongming/GFNet README"),
    "seresnet50": (4.11, "timm results-imagenet.csv"), "seresnet18": (1.82, "timm results-imagenet.csv"),
}
TARGETS = ("tflite:fp32", "tflite:int8")


def measure(name: str, repeats: int) -> dict:
    import zoo
    from export import testing
    from export.bench import bench

    model = testing.data_init(zoo.create(name, img_size=224))
    rows = bench(model, TARGETS, batches=(1,), repeats=repeats, progress=False)
    return {r["target"]: r["ms"] for r in rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gfnet_xs", choices=sorted(k for k in REPORTED_GMACS if k.startswith("gfnet")))
    p.add_argument("--peer", default="seresnet50", choices=sorted(k for k in REPORTED_GMACS if not k.startswith("gfnet")))
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args(argv)

    ms = {n: measure(n, args.repeats) for n in (args.model, args.peer)}
    print(f"batch 1 at 224px, median of {args.repeats}; compute as reported (GMACs): "
          + ", ".join(f"{n} {REPORTED_GMACS[n][0]} ({REPORTED_GMACS[n][1]})" for n in ms))
    print(f"{'runtime':14s} {args.model + ' ms':>14s} {'ms/GFLOP':>9s} {args.peer + ' ms':>16s} {'ms/GFLOP':>9s} "
          f"{'ratio':>7s}")
    for target in ("keras", *TARGETS):
        a, b = ms[args.model][target], ms[args.peer][target]
        pa, pb = a / REPORTED_GMACS[args.model][0], b / REPORTED_GMACS[args.peer][0]
        print(f"{target:14s} {a:14.2f} {pa:9.2f} {b:16.2f} {pb:9.2f} {pa / pb:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
