"""MobileViTv2 on CPU: the Keras model against timm on the same weights and input, and the TFLite
fp32 / int8 artifacts (LiteRT, XNNPACK), all timed interleaved in one process with the same threads.

    .venv/bin/python benchmarks/mobilevit_latency.py                        # mobilevitv2_050, 256 px
    .venv/bin/python benchmarks/mobilevit_latency.py --arch mobilevit_xxs --threads 2 --repeats 30

Weights: a synthetic checkpoint in timm's own layout (tests/synth.py recipe) loaded into timm and,
through the zoo's converter, into Keras; the logits of the two are compared first. Input: the
verification photos, preprocessed with the arch's cfg (256 px, mean 0 / std 1). Keras runs as a
`tf.function` forward pass, timm under `torch.inference_mode()`; TF intra/inter-op threads, torch
threads and the LiteRT interpreter all get `--threads`. TFLite files are batch 1 (the mobile
contract): fp32 takes the same float input, int8 is full-integer with uint8 pixels (calibrated on
64 photos). Each row is the median of `--repeats` interleaved calls after `--warmup`.

Targets (issue 12): Keras <= 0.9x timm, TFLite fp32 <= 0.6x timm, int8 >= 2.5x faster than timm
and >= 3.5x smaller than fp32. Only ratios carry over between machines; figures: docs/mobilevit.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))      # synth.py: the synthetic-checkpoint recipe
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _verdict(value, target, smaller_is_better=True):
    ok = value <= target if smaller_is_better else value >= target
    margin = (target / value if smaller_is_better else value / target)
    return f"{'met' if ok else 'MISSED'} ({'x' + format(margin, '.2f')} of the target)"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="mobilevitv2_050")
    p.add_argument("--img-size", type=int, default=None, help="default: the arch's cfg (256)")
    p.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args(argv)

    # timm (torch) before TensorFlow: importing triton after TensorFlow crashes (see tests/conftest.py)
    import numpy as np
    import timm
    import torch
    torch.set_num_threads(args.threads)
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from safetensors.numpy import save_file

    import synth
    import zoo
    from _timing import interleaved_medians
    from export import photos, serving_cfg, to_tflite
    from export.deploy import max_rel_diff
    from export.tflite import load_interpreter

    ref = timm.create_model(args.arch, pretrained=False).eval()
    state = {k: (synth.synth_tensor(k, tuple(v.shape)) if v.is_floating_point() else v.numpy())
             for k, v in ref.state_dict().items()}
    ref.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    with tempfile.TemporaryDirectory() as d:
        ckpt = Path(d) / "model.safetensors"
        save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(ckpt))
        model = zoo.create(args.arch, pretrained=str(ckpt), img_size=args.img_size)
        cfg = serving_cfg(model)
        pixels = photos.to_pixels(photos.verification_photos(8), cfg)
        x = photos.normalize(pixels, cfg).astype(np.float32)
        size = x.shape[1]

        fwd = tf.function(lambda t: model(t, training=False))
        xk = {b: tf.constant(x[:b]) for b in (1, 8)}
        xt = {b: torch.from_numpy(np.ascontiguousarray(x[:b].transpose(0, 3, 1, 2))) for b in (1, 8)}

        def timm_fwd(b):
            with torch.inference_mode():
                return ref(xt[b])

        parity = max_rel_diff(timm_fwd(8).numpy(), fwd(xk[8]).numpy())

        fp32 = to_tflite(model, Path(d) / "fp32.tflite", quantize="fp32", pixel_input=False, metadata=False)
        int8 = to_tflite(model, Path(d) / "int8.tflite", quantize="int8",
                         representative_data=photos.calibration_data(model, 64), metadata=False)
        sizes = {"fp32": fp32.stat().st_size, "int8": int8.stat().st_size}
        runs = {}
        for q, path, v in (("fp32", fp32, x[:1]), ("int8", int8, pixels[:1].astype(np.uint8))):
            it = load_interpreter(str(path), num_threads=args.threads)
            det = it.get_input_details()[0]
            out = it.get_output_details()[0]

            def run(it=it, det=det, v=v, out=out):
                it.set_tensor(det["index"], v)
                it.invoke()
                return it.get_tensor(out["index"])
            runs[q] = run
        lite_diff = max_rel_diff(fwd(xk[1]).numpy(), runs["fp32"]())

        ms = interleaved_medians({
            "keras b1": lambda: fwd(xk[1]).numpy(), "timm b1": lambda: timm_fwd(1),
            "keras b8": lambda: fwd(xk[8]).numpy(), "timm b8": lambda: timm_fwd(8),
            "tflite fp32 b1": runs["fp32"], "tflite int8 b1": runs["int8"],
        }, args.warmup, args.repeats)

    print(f"{args.arch} at {size}px; {args.threads} threads (TF intra/inter-op, torch, LiteRT); median of "
          f"{args.repeats} interleaved calls; Keras vs timm logits max|diff| = {parity:.2g} x max|logits|, "
          f"TFLite fp32 vs Keras {lite_diff:.2g}")
    print(f"{'run':16s} {'median ms':>10s} {'vs timm':>9s}")
    for k, v in ms.items():
        b = k.split()[-1]
        print(f"{k:16s} {v:10.2f} {v / ms['timm ' + b]:8.2f}x")
    print(f"TFLite sizes: fp32 {sizes['fp32'] / 1e6:.2f} MB, int8 {sizes['int8'] / 1e6:.2f} MB "
          f"({sizes['fp32'] / sizes['int8']:.2f}x smaller)")
    k1, k8 = ms["keras b1"] / ms["timm b1"], ms["keras b8"] / ms["timm b8"]
    lite = ms["tflite fp32 b1"] / ms["timm b1"]
    speed8 = ms["timm b1"] / ms["tflite int8 b1"]
    shrink = sizes["fp32"] / sizes["int8"]
    print("targets:")
    print(f"  Keras <= 0.9x timm          batch 1: {k1:.2f}x {_verdict(k1, 0.9)}; batch 8: {k8:.2f}x "
          f"{_verdict(k8, 0.9)}")
    print(f"  TFLite fp32 <= 0.6x timm    {lite:.2f}x {_verdict(lite, 0.6)}")
    print(f"  int8 >= 2.5x faster (timm)  {speed8:.2f}x {_verdict(speed8, 2.5, smaller_is_better=False)}")
    print(f"  int8 >= 3.5x smaller (fp32) {shrink:.2f}x {_verdict(shrink, 3.5, smaller_is_better=False)}")
    return parity < 1e-4


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
