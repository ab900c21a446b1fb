"""Grouped convolutions in Keras: native `Conv2D(groups=g)` vs one conv per group, same run.

    .venv/bin/python benchmarks/grouped_conv.py                      # seresnext50_32x4d at 224 + one layer
    .venv/bin/python benchmarks/grouped_conv.py --repeats 30 --batches 1 8

Every grouped conv of the same weights in three forms, all called through `tf.function`
(jit_compile off, the default), built with `export.deploy.swap_layers`:
- native: `keras.layers.Conv2D(groups=g)`, which Keras' TF backend runs as one
  `tf.nn.convolution` inside a nested `tf.function(jit_compile=True)` (XLA), for every device;
- per-group: `export.onnx.SplitGroupConv2D` (the form the ONNX export writes): split -> one
  conv per group -> concat, plain TF ops;
- the model as `zoo.create` builds it (`zoo.layers._nn.GroupedConv2D`): TensorFlow's own
  grouped Conv2D called directly where a probe finds that its kernels compute it and its
  gradients (oneDNN on x86, cuDNN), else per group (`zoo.layers._nn.grouped_conv_path`).
Measured interleaved after a warm-up, median of the repeats; ratios are to native (< 1: faster
than native). Only ratios carry over between machines.

Figures of 2026-12-03 (2 CPU cores shared with other jobs, load average 2-3, TF 2.21 / Keras 3.15,
oneDNN on, no GPU; `.venv/bin/python benchmarks/grouped_conv.py --repeats 8`):

                                        native     per-group  (/native)   zoo: direct (/native)
    3x3 conv 256->256, g=32, 28x28  b1    7.45 ms     5.43 ms   (0.73x)      2.25 ms   (0.30x)
                                    b8   92.92 ms    17.60 ms   (0.19x)      7.70 ms   (0.08x)
    seresnext50_32x4d, 224px        b1  263.56 ms   196.55 ms   (0.75x)    152.48 ms   (0.58x)
      (16 grouped convs)            b8 2097.56 ms  1333.03 ms   (0.64x)   1145.76 ms   (0.55x)

  max |diff| between the forms was 0. The direct op is 2.2-2.7x faster than per group on the
  lone layer and the whole model 1.16-1.29x (it was per group before this run: 0.78x / 0.86x of
  that time). Earlier runs, when the zoo ran per group: per-group/native 0.81-1.11x (layer,
  batch 1), 0.19-0.35x (layer, batch 8), 0.75-0.86x (model, batch 1), 0.57-0.64x (model, batch 8).
  (A one-off probe, not this script: in LiteRT, XNNPACK 1 thread, the same layer ran 0.59 ms
  native, one CONV_2D, vs 0.85 ms per group, SPLIT + 32 CONV_2D + CONCATENATION.)

Hence the path chosen: TensorFlow's grouped Conv2D directly wherever the probe passes, per group
elsewhere (TF_ENABLE_ONEDNN_OPTS=0, CPU builds without oneDNN). ONNX always gets the per-group
form (tf2onnx cannot convert the XLA call, onnx/tensorflow-onnx#2099); TFLite converts every form
to builtin ops (tests/test_export_deploy.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved_medians  # noqa: E402


def forms(model) -> tuple[dict, int]:
    """The model's forms with every grouped Conv2D swapped: native (keras Conv2D, Keras' XLA
    path) and per-group (SplitGroupConv2D), plus the model as the zoo builds it."""
    import keras

    from export.deploy import swap_layers
    from export.onnx import split_grouped

    def native(layer):
        if isinstance(layer, keras.layers.Conv2D) and layer.groups > 1:
            conv = keras.layers.Conv2D.from_config(layer.get_config())
            conv.build(layer.input.shape)
            conv.set_weights(layer.get_weights())
            return conv
        return None
    nat, swapped = swap_layers(model, native)
    split, _ = swap_layers(model, split_grouped)
    return {"native": nat, "per-group": split, "zoo": model}, len(swapped)


def compare(title: str, models: dict, shape, batches, warmup, repeats):
    import numpy as np
    import tensorflow as tf
    fns = {k: tf.function(lambda x, m=m: m(x, training=False)) for k, m in models.items()}
    for b in batches:
        x = np.random.default_rng(b).standard_normal((b, *shape)).astype(np.float32)
        ref = fns["native"](x).numpy()
        diff = max(float(np.max(np.abs(fn(x).numpy() - ref))) for fn in fns.values())
        xt = tf.constant(x)
        ms = interleaved_medians({k: (lambda fn=fn, xt=xt: fn(xt).numpy()) for k, fn in fns.items()}, warmup, repeats)
        print(f"  {title} batch {b}: native {ms['native']:.2f} ms, per-group {ms['per-group']:.2f} ms "
              f"(per-group/native {ms['per-group'] / ms['native']:.2f}x), zoo as built {ms['zoo']:.2f} ms "
              f"({ms['zoo'] / ms['native']:.2f}x); max |diff| {diff:.1e}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="seresnext50_32x4d")
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--skip-model", action="store_true", help="only the single-layer microbenchmark")
    args = p.parse_args(argv)

    import keras
    import tensorflow as tf

    import zoo
    from zoo.layers._nn import GroupedConv2D, per_group_convs
    print(f"TF {tf.__version__}, Keras {keras.__version__}; median of {args.repeats} after {args.warmup} warm-up, "
          f"interleaved; ratios to native; the zoo runs grouped convs "
          f"{'per group' if per_group_convs() else 'directly (one grouped Conv2D op)'} on this host")
    keras.utils.set_random_seed(0)
    layer_in = keras.Input((28, 28, 256))
    conv = GroupedConv2D(256, 3, padding="same", groups=32, use_bias=False, name="conv")
    layer_forms, _ = forms(keras.Model(layer_in, conv(layer_in)))
    compare("3x3 conv 256->256, 32 groups, 28x28,", layer_forms, (28, 28, 256), args.batches,
            args.warmup, 3 * args.repeats)
    if not args.skip_model:
        s = args.img_size
        model_forms, n = forms(zoo.create(args.model, img_size=s))
        compare(f"{args.model} at {s} ({n} grouped convs),", model_forms, (s, s, 3), args.batches,
                args.warmup, args.repeats)

if __name__ == "__main__":
    main()
