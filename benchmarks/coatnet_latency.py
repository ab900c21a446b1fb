"""Keras CoAtNet vs timm (PyTorch eager) on the same weights and input, batch 1 and 8, one run.

    .venv/bin/python benchmarks/coatnet_latency.py                       # coatnet_0_rw_224, 224 px
    .venv/bin/python benchmarks/coatnet_latency.py --arch coatnet_rmlp_nano_rw_224 --threads 2 --repeats 20

Both models get the same synthetic timm-layout checkpoint (tests/synth.py recipe) and the same
input; the script checks that their logits agree before timing. Keras runs as a `tf.function`
forward pass and as an XLA-compiled one (`jit_compile=True`); the best of the two is the Keras
figure. timm runs eager in `torch.inference_mode()`. TensorFlow and PyTorch get the same thread
count (intra- and inter-op). Each batch size is timed in blocks, one runtime after the other (its
warm-up, then its repeats): timed call by call in turns, the runtimes' spinning worker threads took
the cores from each other. Medians. Ratio = Keras best / timm (< 1: Keras faster; target <= 0.9).

Needs the torch extra (torch, timm). Figures: docs/coatnet.md (one run on a shared 2-core CPU,
so noisy). Only ratios carry over between machines.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved_medians  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="coatnet_0_rw_224")
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args(argv)

    import numpy as np
    import timm    # torch before TensorFlow: importing triton after TF segfaults here (torch 2.14, TF 2.21)
    import torch
    from safetensors.numpy import save_file

    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    import synth
    import zoo
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)

    size = args.img_size
    ref = timm.create_model(args.arch, pretrained=False, img_size=size).eval()
    state = {k: (synth.synth_tensor(k, tuple(v.shape)) if v.is_floating_point() else v.numpy())
             for k, v in ref.state_dict().items()}
    ref.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()})
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "w.safetensors"
        save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path))
        model = zoo.create(args.arch, pretrained=str(path), img_size=size)

    fwd = tf.function(lambda x: model(x, training=False))
    xla = tf.function(lambda x: model(x, training=False), jit_compile=True)
    print(f"{args.arch} at {size}px, {args.threads} threads (TF intra/inter, torch intra/inter), "
          f"TF {tf.__version__}, torch {torch.__version__}, timm {timm.__version__}")
    print(f"{'batch':>5}  {'tf.function':>12}  {'XLA':>10}  {'timm eager':>10}  {'ratio best/timm':>15}  max rel diff")
    for b in args.batches:
        x = synth.synth_input((b, 3, size, size))
        xt, xk = torch.from_numpy(x), tf.constant(x.transpose(0, 2, 3, 1))
        with torch.inference_mode():
            t_out = ref(xt).numpy()
        diff = max(float(np.abs(np.asarray(f(xk)) - t_out).max()) for f in (fwd, xla)) / max(1.0, np.abs(t_out).max())

        def run_torch():
            with torch.inference_mode():
                ref(xt)

        # in blocks (each runtime's warm-up and repeats together): interleaving single calls lets one
        # runtime's spinning worker threads steal the cores from the other (timm measured ~10x slower)
        med = {}
        for k, fn in {"tf": lambda: fwd(xk).numpy(), "xla": lambda: xla(xk).numpy(), "torch": run_torch}.items():
            med.update(interleaved_medians({k: fn}, args.warmup, args.repeats))
        best = min(med["tf"], med["xla"])
        print(f"{b:>5}  {med['tf']:>9.1f} ms  {med['xla']:>7.1f} ms  {med['torch']:>7.1f} ms  "
              f"{best / med['torch']:>15.2f}  {diff:.1e}")


if __name__ == "__main__":
    main()
