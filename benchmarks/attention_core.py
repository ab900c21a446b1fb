"""The attention core: `zoo.layers._blocks.attention` (the explicit formula) against
`keras.ops.dot_product_attention`, exactness and speed, measured in the same run.

    .venv/bin/python benchmarks/attention_core.py
    .venv/bin/python benchmarks/attention_core.py --repeats 200 --jit

Each form goes from a fused qkv projection (B, N, 3*heads*d) to the merged heads (B, N, heads*d),
as the layers use it, so each pays for its own layout:
- explicit: `split_qkv` (reshape + transpose to (B, heads, N, d)), `attention` (matmul, softmax,
  matmul), `merge_heads` (transpose + reshape);
- keras: reshape to (B, N, 3, heads, d), slice q/k/v in (B, N, heads, d), the layout
  `dot_product_attention` takes, which computes with two einsums; reshape back.
Shapes: CoAtNet stage 3 (14x14 tokens, 8 heads of 32, batch 1 and 8) and the MobileViT-S
transformers at 256x256 (patch 2x2, so the batch is 4*B; 4 heads; stage 3: 32x32 map -> 256
tokens of 144 channels, stage 5: 8x8 -> 16 tokens of 240).
Exactness: max |form - float64 NumPy| on random normal float32 inputs, for each form.
Timing: tf.function (jit_compile only with --jit), warm-up, then interleaved calls; the median
ms of each and the ratio keras / explicit (> 1: the explicit formula is faster).
Figures, and why the zoo keeps the explicit formula: the docstring of `zoo.layers._blocks.attention`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SHAPES = {  # name: (batch, tokens, heads, head_dim)
    "CoAtNet stage 3, B=1": (1, 196, 8, 32),
    "CoAtNet stage 3, B=8": (8, 196, 8, 32),
    "MobileViT-S stage 3, B=1": (4, 256, 4, 36),
    "MobileViT-S stage 3, B=8": (32, 256, 4, 36),
    "MobileViT-S stage 5, B=8": (32, 16, 4, 60),
}


def forms(heads: int, head_dim: int):
    from keras import ops

    from zoo.layers._blocks import attention, split_qkv
    from zoo.layers._nn import merge_heads
    scale = head_dim ** -0.5

    def explicit(qkv):
        q, k, v = split_qkv(qkv, heads)
        return merge_heads(attention(q, k, v, scale=scale))

    def keras_dpa(qkv):
        n = qkv.shape[1]
        t = ops.reshape(qkv, (-1, n, 3, heads, head_dim))
        out = ops.dot_product_attention(t[:, :, 0], t[:, :, 1], t[:, :, 2], scale=scale)
        return ops.reshape(out, (-1, n, heads * head_dim))

    return {"explicit": explicit, "keras": keras_dpa}


def reference(qkv, heads, head_dim):
    import numpy as np
    b, n, _ = qkv.shape
    t = qkv.astype(np.float64).reshape(b, n, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
    logits = t[0] @ t[1].transpose(0, 1, 3, 2) * head_dim ** -0.5
    e = np.exp(logits - logits.max(-1, keepdims=True))
    out = (e / e.sum(-1, keepdims=True)) @ t[2]
    return out.transpose(0, 2, 1, 3).reshape(b, n, heads * head_dim)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--jit", action="store_true", help="tf.function(jit_compile=True) (XLA) instead of plain")
    args = p.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf
    from _timing import interleaved_medians
    print(f"TF {tf.__version__}, Keras {keras.__version__}; tf.function(jit_compile={args.jit}); median of "
          f"{args.repeats} after {args.warmup} warm-up, interleaved; ratio keras / explicit", flush=True)
    for title, (b, n, h, d) in SHAPES.items():
        qkv = np.random.default_rng(n + b).standard_normal((b, n, 3 * h * d)).astype(np.float32)
        ref = reference(qkv, h, d)
        fns = {k: tf.function(f, jit_compile=args.jit) for k, f in forms(h, d).items()}
        x = tf.constant(qkv)
        err = {k: float(np.abs(fn(x).numpy() - ref).max()) for k, fn in fns.items()}
        gap = float(np.abs(fns["keras"](x).numpy() - fns["explicit"](x).numpy()).max())
        ms = interleaved_medians({k: (lambda fn=fn, x=x: fn(x).numpy()) for k, fn in fns.items()},
                                 args.warmup, args.repeats)
        print(f"  {title:<26} (B={b}, N={n}, h={h}, d={d}): explicit {ms['explicit']:7.3f} ms  "
              f"keras {ms['keras']:7.3f} ms  keras/explicit {ms['keras'] / ms['explicit']:5.2f}x  "
              f"max|diff| vs float64: explicit {err['explicit']:.1e}, keras {err['keras']:.1e}; "
              f"between them {gap:.1e}", flush=True)


if __name__ == "__main__":
    main()
