"""ParNet's deploy form: fused vs unfused Keras latency, and the TFLite fp32 / int8 artifacts
(which `export` writes from the fused graph), all measured in the same process.

    .venv/bin/python benchmarks/parnet_latency.py                       # parnet_s at 224, batch 1
    .venv/bin/python benchmarks/parnet_latency.py --arch parnet_m --img-size 256 --repeats 30

Keras forms run as `tf.function` forward passes, timed interleaved (unfused, fused, unfused, ...)
after a warm-up, median of the repeats; TFLite files run in the LiteRT interpreter
(`export.bench`, XNNPACK, batch 1), timed against the unfused Keras model measured moments before
in that run. Ratios are to the unfused Keras model (< 1: faster). Random weights with
data-initialised BatchNorm (latency does not depend on the values; int8 calibration needs
realistic activations). Only ratios carry over between machines.

Figures: see docs/parnet.md (one run on 2 CPU cores shared with other jobs, so noisy).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved_medians  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="parnet_s")
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    import zoo
    from export import photos, serving_cfg, testing
    from export.bench import bench
    from export.deploy import max_rel_diff
    from zoo.layers import ParNetAttention
    from zoo.models.parnet import fuse_model

    model = testing.data_init(zoo.create(args.arch, img_size=args.img_size))
    fused = fuse_model(model)
    n = sum(isinstance(layer, ParNetAttention) for layer in model.layers)
    cfg = serving_cfg(model)
    x = photos.normalize(photos.to_pixels(photos.verification_photos(1), cfg), cfg)
    xb = tf.constant(x[:1])
    f_unfused = tf.function(lambda t: model(t, training=False))
    f_fused = tf.function(lambda t: fused(t, training=False))
    diff = max_rel_diff(f_unfused(xb).numpy(), f_fused(xb).numpy())
    ms = interleaved_medians({"unfused": lambda: f_unfused(xb).numpy(), "fused": lambda: f_fused(xb).numpy()},
                             args.warmup, args.repeats)
    rows = bench(model, ("tflite:fp32", "tflite:int8"), batches=(1,), warmup=args.warmup, repeats=args.repeats,
                 progress=False)
    keras_in_bench = next(r["ms"] for r in rows if r["target"] == "keras")

    print(f"{args.arch} at {args.img_size}px, batch 1, {n} ParNet blocks; fused vs unfused max|diff| = "
          f"{diff:.2g} x max|logits|; {tf.config.threading.get_intra_op_parallelism_threads() or 'default'} "
          f"TF intra-op threads, median of {args.repeats}")
    print(f"{'form':28s} {'median ms':>10s} {'vs unfused Keras':>17s}")
    print(f"{'Keras unfused (training form)':28s} {ms['unfused']:10.2f} {1.0:16.2f}x")
    print(f"{'Keras fused (deploy form)':28s} {ms['fused']:10.2f} {ms['fused'] / ms['unfused']:16.2f}x")
    for r in rows:
        if r["target"] != "keras":
            label = f"TFLite {r['target'].split(':')[1]} (fused graph)"
            print(f"{label:28s} {r['ms']:10.2f} {r['ms'] / keras_in_bench:16.2f}x"
                  f"   (unfused Keras in that pass: {keras_in_bench:.2f} ms)")
    return np.isfinite(diff)


if __name__ == "__main__":
    main()
