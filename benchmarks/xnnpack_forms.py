"""The TFLite files the export writes against the same files written with the forms it replaced,
for the ops LiteRT's XNNPACK delegate would leave to LiteRT's own kernels: same model, same
weights, same calibration, timed in turns in one process (LiteRT, default delegates).

    .venv/bin/python benchmarks/xnnpack_forms.py                      # the three hybrids it changed
    .venv/bin/python benchmarks/xnnpack_forms.py mobilevit_xxs --quantize fp32 --repeats 60

The forms put back for "before" (each was the zoo's until 2026-12-07):
- `split_qkv` indexing a (3, B, heads, N, d) transpose: three shrinking STRIDED_SLICEs per
  attention (CoAtNet, MobileViT v1), which XNNPACK does not run;
- no pooling rewrite (`export.tflite.pool_as_depthwise`): int8 AVERAGE_POOL_2D (CoAtNet's
  shortcuts) and 1x1 MAX_POOL_2D stay pools;
- MobileViTv2's attention without its deploy form (the value's ReLU a lone RELU on a slice) and
  GroupNorm1's variance as `square(d)` (SQUARED_DIFFERENCE in int8).
Printed per model and mode: median ms of each file, zoo / before (< 1: the zoo's files are
faster), and what XNNPACK leaves out of each (`export.tflite.xnnpack_coverage`).

Figures (2026-12-07, 2-core AMD EPYC (Zen 5), 2 threads, 30 calls at batch 1 in turns, files of
the commits before and after the change; this script's own run that day gave the same ratios
within 0.05, at up to 2.5x the milliseconds on a busier host):
coatnet_0_rw_224 fp32 33.6 -> 26.7 ms (0.80), int8 59.9 -> 51.2 (0.85), int8-mixed 23.4 -> 12.6
(0.54); mobilevit_xxs fp32 7.6 -> 4.4 (0.57), int8 29.6 -> 26.4 (0.89), int8-mixed 5.9 -> 3.1
(0.52); mobilevitv2_050 fp32 4.2 -> 3.9 (0.94), int8 11.3 -> 2.4 (0.21), int8-mixed 5.1 -> 2.5 (0.48).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = ("coatnet_0_rw_224", "mobilevit_xxs", "mobilevitv2_050")
MODES = ("fp32", "int8", "int8-mixed")


def index_qkv(qkv, num_heads: int, *, head_first: bool = False):
    """The former `split_qkv`: a transpose to (3, B, heads, N, d), then three indexings."""
    from keras import ops
    n, c = qkv.shape[1], qkv.shape[2]
    d = c // (3 * num_heads)
    if head_first:
        qkv = ops.transpose(ops.reshape(qkv, (-1, n, num_heads, 3, d)), (3, 0, 2, 1, 4))
    else:
        qkv = ops.transpose(ops.reshape(qkv, (-1, n, 3, num_heads, d)), (2, 0, 3, 1, 4))
    return qkv[0], qkv[1], qkv[2]


def _group_norm_square(self, x):
    """The former GroupNorm1.call: the variance from `square(d)`."""
    from keras import ops
    axes = tuple(range(1, len(x.shape)))
    centered = x - ops.mean(x, axis=axes, keepdims=True)
    var = ops.mean(ops.square(centered), axis=axes, keepdims=True)
    return centered * ops.rsqrt(var + self.epsilon) * self.gamma + self.beta


@contextlib.contextmanager
def before_forms():
    """The forms the export replaced (module docstring), put back for the duration."""
    import export.tflite as tfl
    from zoo.layers import coatnet, mobilevit
    saved = [(coatnet, "split_qkv", coatnet.split_qkv), (mobilevit, "split_qkv", mobilevit.split_qkv),
             (tfl, "pool_as_depthwise", tfl.pool_as_depthwise),
             (mobilevit.GroupNorm1, "call", mobilevit.GroupNorm1.call),
             (mobilevit.MobileViTv2Attention, "to_deploy", mobilevit.MobileViTv2Attention.to_deploy)]
    coatnet.split_qkv = mobilevit.split_qkv = index_qkv
    tfl.pool_as_depthwise = lambda layer, average=True: None
    mobilevit.GroupNorm1.call = _group_norm_square
    mobilevit.MobileViTv2Attention.to_deploy = lambda self: self
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", default=list(MODELS))
    p.add_argument("--quantize", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--repeats", type=int, default=30, help="timed calls of each file")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import keras
    import numpy as np

    import export
    import zoo
    from export import photos
    from export.bench import interleaved_times, summarize
    from export.testing import data_init
    from export.tflite import INTEGER, load_interpreter, xnnpack_coverage, xnnpack_summary

    def runner(path):
        it = load_interpreter(path, num_threads=args.threads)
        d = it.get_input_details()[0]
        x = np.random.default_rng(0).uniform(0, 255, d["shape"]).astype(d["dtype"])

        def run():
            it.set_tensor(d["index"], x)
            it.invoke()
        return run, xnnpack_coverage(it)

    with tempfile.TemporaryDirectory() as tmp:
        for name in args.names:
            keras.utils.set_random_seed(0)
            model = data_init(zoo.create(name))
            calib = photos.calibration_data(model, 32) if set(args.quantize) & set(INTEGER) else None
            for q in args.quantize:
                files = {}
                for tag in ("zoo", "before"):
                    with before_forms() if tag == "before" else contextlib.nullcontext():
                        files[tag] = export.to_tflite(model, Path(tmp) / f"{name}_{q}_{tag}.tflite", quantize=q,
                                                      metadata=False, representative_data=calib if q in INTEGER
                                                      else None)
                runs = {tag: runner(f) for tag, f in files.items()}
                t = interleaved_times({tag: r[0] for tag, r in runs.items()}, 3, args.repeats)
                ms = {tag: summarize(v)["ms"] for tag, v in t.items()}
                print(f"{name} {q}: zoo {ms['zoo']:.2f} ms, before {ms['before']:.2f} ms, zoo/before "
                      f"{ms['zoo'] / ms['before']:.2f}", flush=True)
                for tag, (_, cov) in runs.items():
                    print(f"    XNNPACK, {tag}: {xnnpack_summary(cov) if cov else 'unknown'}", flush=True)
            keras.backend.clear_session()
    return 0


if __name__ == "__main__":
    sys.exit(main())
