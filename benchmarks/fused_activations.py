"""The zoo's `_nn.silu` (x * sigmoid(x) written out) and `_nn.Dense` (a rank>2 input as one 2-D
matmul, bias and activation before the reshape back) against Keras' own "silu" (`tf.nn.silu`) and
`keras.layers.Dense`, on whole models, measured in the same run.

    .venv/bin/python benchmarks/fused_activations.py                       # the four hybrids
    .venv/bin/python benchmarks/fused_activations.py gfnet_xs --repeats 60

Each model is built twice, once as the zoo builds it and once with Keras' forms put back (the
activation table of `zoo.layers._nn` and `Dense.call`), with the same weights: `export.testing.
data_init`, then every weight a fresh model holds constant (zero biases, unit gains) perturbed,
since grappler drops an add of zeros and a real checkpoint has none. Both inference forms
(`zoo.inference_model`) run under tf.function with 2 threads, calls interleaved; printed: the
median ms of each, zoo / keras (< 1: the zoo's forms are faster) and the largest difference of
their logits over their scale.

Figures (2026-12-05, idle 2-core Intel Xeon, 2 threads, 30 calls at batch 1, 7 at batch 8),
zoo / keras: coatnet_0_rw_224 0.93 (b1) 0.94 (b8), gfnet_xs 0.93 0.93, mobilevitv2_050 0.98 0.96,
mobilevit_xxs 1.02 1.02 (noise: its SiLUs follow depthwise convs, which oneDNN does not fuse a
swish into, and its MLPs' first linear, likewise). Logits equal to 3e-7 of their scale (GELU's
fused kernel); bitwise where only SiLU and bias fusions apply.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

MODELS = ("mobilevit_xxs", "mobilevitv2_050", "coatnet_0_rw_224", "gfnet_xs")


def build(name: str, keras_forms: bool):
    """`zoo.inference_model` of `name` (stand-in weights), with Keras' silu and Dense if asked."""
    import keras

    import zoo
    from export.testing import data_init
    from zoo.inference import inference_model
    from zoo.layers import _nn

    saved = dict(_nn._ACTIVATIONS)
    if keras_forms:
        _nn._ACTIVATIONS.update(silu=keras.activations.silu, swish=keras.activations.silu)
    try:
        model = inference_model(data_init(zoo.create(name)))
    finally:
        _nn._ACTIVATIONS.update(saved)
    if keras_forms:   # per instance, so that the zoo's own model keeps _nn.Dense.call
        for layer in model._flatten_layers():
            if isinstance(layer, _nn.Dense):
                layer.call = keras.layers.Dense.call.__get__(layer)
    return model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", default=list(MODELS))
    p.add_argument("--repeats", type=int, default=30, help="timed calls at batch 1 (a quarter at batch 8)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf
    from _timing import interleaved_medians
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    for name in args.names:
        models = {"zoo": build(name, False), "keras": build(name, True)}
        rng = np.random.default_rng(1)
        for v in models["zoo"].weights:
            a = v.numpy()
            if a.size > 1 and np.all(a == a.flat[0]):
                v.assign((a + rng.uniform(-0.1, 0.1, a.shape)).astype(a.dtype))
        models["keras"].set_weights(models["zoo"].get_weights())
        fns = {k: tf.function(lambda x, m=m: m(x, training=False)) for k, m in models.items()}
        for batch in (1, 8):
            x = tf.constant(rng.random((batch,) + models["zoo"].input_shape[1:]).astype(np.float32))
            out = {k: f(x).numpy() for k, f in fns.items()}
            diff = float(np.abs(out["zoo"] - out["keras"]).max() / np.abs(out["keras"]).max())
            ms = interleaved_medians({k: (lambda f=f: f(x).numpy()) for k, f in fns.items()}, warmup=3,
                                     repeats=args.repeats if batch == 1 else max(5, args.repeats // 4))
            print(f"{name:18s} batch {batch}: zoo {ms['zoo']:7.1f} ms, keras {ms['keras']:7.1f} ms, "
                  f"zoo / keras {ms['zoo'] / ms['keras']:.2f}; logits differ by {diff:.1e} of their scale", flush=True)
        keras.backend.clear_session()
    return 0


if __name__ == "__main__":
    sys.exit(main())
