"""Where a zoo model's CPU time goes, per TensorFlow op type and per layer scope: the graph of
`zoo.inference_model(model)` (weights frozen to constants) run in a session with a full trace,
TensorFlow's own per-node timings (step stats) summed over `--runs` traced calls.

    .venv/bin/python benchmarks/op_profile.py mobilevit_xxs            # batch 1, 2 threads
    .venv/bin/python benchmarks/op_profile.py seresnet50 --batch 8 --top 30

The session graph is what grappler optimizes for the frozen model (oneDNN fusions included),
close to but not the same as Keras' tf.function; use it to see which kinds of op dominate, not
as a latency figure (`zoo bench` is that). Weights: stand-ins with realistic batch-norm
statistics (`export.testing.data_init`), and every weight a fresh model holds constant (zero
biases, unit LayerNorm gains) perturbed: grappler removes an add of zeros, so with those the
profile would miss the bias adds that a real checkpoint's graph runs.

Figures (2026-12-05, idle 2-core Intel Xeon, 2 threads, batch 1, `... op_profile.py mobilevit_xxs`):
21.5 ms a call, 16.1 ms of it op time (the rest is the executor's per-op cost); by kernel fused
conv (+bias+swish) 19 %, fused matmul (+bias) 18 %, BatchMatMul 10 %, swish run alone (after the
depthwise convs and the MLPs' first linear, which oneDNN cannot fuse it into) 9.5 %, transposes
(unfold / fold, heads) 8.7 %, Mul (LayerNorm's pieces, attention scale) 7.5 %, softmax 6.3 %.
The op type is the kernel that ran: fused kernels keep the name of a node they replaced (a conv
fused with its swish is named like the multiply), so the graph's op type would misreport them.
"""
from __future__ import annotations

import argparse
import collections
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _kernel(label: str) -> str | None:
    """The op a traced node ran as, from its timeline label `name = Op(inputs)`: grappler's fused
    kernels (`_MklNativeFusedConv2D`, `_MklSwish`...) keep the name of a node they replaced, so
    the graph's op type for that name would misreport them."""
    m = re.match(r"[^=]* = ([A-Za-z0-9_]+)\(", label)
    return m.group(1) if m else None


def profile(name: str, batch: int = 1, threads: int = 2, runs: int = 10, img_size=None):
    """(ms per call untraced, Counter op type -> ms, Counter scope -> ms) for one model."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    import zoo
    from export.testing import data_init
    from zoo.inference import inference_model

    model = inference_model(data_init(zoo.create(name, img_size=img_size)))
    rng = np.random.default_rng(1)
    for v in model.weights:
        a = v.numpy()
        if a.size > 1 and np.all(a == a.flat[0]):
            v.assign((a + rng.uniform(-0.1, 0.1, a.shape)).astype(a.dtype))
    h, w, c = model.input_shape[1:]
    fn = tf.function(lambda x: model(x, training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(tf.TensorSpec((batch, h, w, c), tf.float32)))
    graph_def = frozen.graph.as_graph_def()
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
        inp = [op for op in graph.get_operations() if op.type == "Placeholder"][0].outputs[0]
        out = graph.get_operations()[-1].outputs[0]
        types = {op.name: op.type for op in graph.get_operations()}
        cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
        with tf.compat.v1.Session(graph=graph, config=cfg) as sess:
            x = np.random.default_rng(0).random((batch, h, w, c), dtype=np.float32)
            for _ in range(5):
                sess.run(out, {inp: x})
            t = time.perf_counter()
            for _ in range(20):
                sess.run(out, {inp: x})
            ms = (time.perf_counter() - t) / 20 * 1e3
            by_type, by_scope = collections.Counter(), collections.Counter()
            opts = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
            for _ in range(runs):
                meta = tf.compat.v1.RunMetadata()
                sess.run(out, {inp: x}, options=opts, run_metadata=meta)
                for dev in meta.step_stats.dev_stats:
                    for node in dev.node_stats:
                        us = (node.op_end_rel_micros - node.op_start_rel_micros) / runs
                        op = node.node_name.split(":")[0]
                        parts = op.split("/")
                        by_type[_kernel(node.timeline_label) or types.get(op, op)] += us
                        by_scope["/".join(parts[1:3]) if len(parts) > 2 else op] += us
    return ms, by_type, by_scope


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=10, help="traced calls summed (default: %(default)s)")
    p.add_argument("--img-size", type=int, default=None)
    p.add_argument("--top", type=int, default=20)
    args = p.parse_args(argv)
    ms, by_type, by_scope = profile(args.name, args.batch, args.threads, args.runs, args.img_size)
    total = sum(by_type.values()) or 1.0
    print(f"{args.name}, batch {args.batch}, {args.threads} threads: {ms:.2f} ms a call (untraced); "
          f"{total / 1e3:.2f} ms of op time a traced call")
    print("\nby op type")
    for k, v in by_type.most_common(args.top):
        print(f"{v / 1e3:8.2f} ms {100 * v / total:5.1f} %  {k}")
    print("\nby layer scope")
    for k, v in by_scope.most_common(args.top):
        print(f"{v / 1e3:8.2f} ms {100 * v / total:5.1f} %  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
