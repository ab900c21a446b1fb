"""The zoo's `_nn.silu` (x * sigmoid(x) written out), `_nn.Dense` (a rank>2 input as one 2-D
matmul, bias and activation before the reshape back) and `_nn.LayerNorm` (PyTorch's formula)
against Keras' own "silu" (`tf.nn.silu`), `keras.layers.Dense` and `keras.layers.
LayerNormalization`, on whole models, measured in the same run.

    .venv/bin/python benchmarks/fused_activations.py                       # the four hybrids
    .venv/bin/python benchmarks/fused_activations.py gfnet_xs --repeats 60

Each model is built twice, once as the zoo builds it and once with Keras' forms put back (the
activation table of `zoo.layers._nn`, `Dense.call` and `LayerNormalization.call`), with the same weights: `export.testing.
data_init`, then every weight a fresh model holds constant (zero biases, unit gains) perturbed,
since grappler drops an add of zeros and a real checkpoint has none. Both inference forms
(`zoo.inference_model`) run under tf.function with 2 threads, calls interleaved; printed: the
median ms of each, zoo / keras (< 1: the zoo's forms are faster) and the largest difference of
their logits over their scale.

Figures (2026-12-05, idle 2-core Intel Xeon, 2 threads, 30 calls at batch 1, 7 at batch 8), SiLU
and Dense, zoo / keras: coatnet_0_rw_224 0.93 (b1) 0.94 (b8), gfnet_xs 0.93 0.93, mobilevitv2_050
0.98 0.96, mobilevit_xxs 1.02 1.02 (noise: its SiLUs follow depthwise convs, which oneDNN does not
fuse a swish into, and its MLPs' first linear, likewise). Logits equal to 3e-7 of their scale
(GELU's fused kernel); bitwise where only SiLU and bias fusions apply.
LayerNorm alone (`--forms layernorm`, 2026-12-06, same machine, load ~1.5, batch 1; two runs, the
second with this script): mobilevit_xxs 0.94 / 0.97, gfnet_xs 0.95 / 0.95, coatnet_0_rw_224
0.97 / 0.96 (its LayerNorm2d had this form already: against Keras'). Batch 8 was noise on that
machine: mobilevitv2_050, which has no LayerNorm (its two models are the same), read 1.22.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

MODELS = ("mobilevit_xxs", "mobilevitv2_050", "coatnet_0_rw_224", "gfnet_xs")
FORMS = ("silu", "dense", "layernorm")


def build(name: str, keras_forms=()):
    """`zoo.inference_model` of `name` (stand-in weights), with Keras' forms of those of FORMS named."""
    import keras

    import zoo
    from export.testing import data_init
    from zoo.inference import inference_model
    from zoo.layers import _nn

    saved = dict(_nn._ACTIVATIONS)
    if "silu" in keras_forms:
        _nn._ACTIVATIONS.update(silu=keras.activations.silu, swish=keras.activations.silu)
    try:
        model = inference_model(data_init(zoo.create(name)))
    finally:
        _nn._ACTIVATIONS.update(saved)
    classes = {"dense": (_nn.Dense, keras.layers.Dense), "layernorm": (_nn.LayerNorm, keras.layers.LayerNormalization)}
    for form in keras_forms:   # per instance, so that the zoo's own model keeps the zoo's calls
        if form in classes:
            cls, keras_cls = classes[form]
            for layer in model._flatten_layers():
                if isinstance(layer, cls):
                    layer.call = keras_cls.call.__get__(layer)
    return model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", default=list(MODELS))
    p.add_argument("--repeats", type=int, default=30, help="timed calls at batch 1 (a quarter at batch 8)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--forms", nargs="+", choices=FORMS, default=list(FORMS),
                   help="the zoo's forms to measure against Keras' (default: all)")
    args = p.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf
    from _timing import interleaved_medians
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    for name in args.names:
        models = {"zoo": build(name), "keras": build(name, args.forms)}
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
