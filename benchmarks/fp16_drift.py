"""How much fp16 weights move the logits: the TFLite fp16 artifact against the Keras model, and
against the same Keras model with its own parameters rounded to fp16, measured in one run.

    python benchmarks/fp16_drift.py seresnet18 seresnet101 --img-size 64
    python benchmarks/fp16_drift.py ecaresnet50d --residual-gamma 1.0 0.2

For each arch and each stand-in (`export.testing.data_init` with the given `residual_gamma`):
max |diff| / max |Keras logits| on the verification photos of (a) Keras with every float
parameter rounded to fp16 and (b) the fp16 TFLite file run in LiteRT, and the ratio b / a.
A ratio near 1 says the export adds nothing beyond fp16 rounding itself (the TFLite file folds
BatchNorm into the kernels before rounding, so it is not exactly 1). The size of (a) is a
property of the weights: the deeper a stand-in whose residual branches are as strong as its
shortcuts, the more it amplifies rounding; trained weights are not measured here (none can be
downloaded on these machines).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(arch: str, img_size: int, residual_gamma: float) -> dict:
    import keras

    import export
    import zoo
    from export import photos, testing
    from export._cfg import serving_cfg
    from export.verification import fp16_rounding_drift

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = testing.data_init(zoo.create(arch, img_size=img_size), residual_gamma=residual_gamma)
    cfg = serving_cfg(model)
    x = photos.normalize(photos.to_pixels(photos.verification_photos(16), cfg), cfg)
    keras_drift = fp16_rounding_drift(model, x)
    with tempfile.TemporaryDirectory() as d:
        path = export.to_tflite(model, Path(d) / "m.tflite", quantize="fp16")
        report = export.verify(model, path, timing=False)
    return dict(arch=arch, residual_gamma=residual_gamma, keras_fp16=keras_drift,
                tflite_fp16=report.max_rel_diff, ratio=report.max_rel_diff / keras_drift,
                top1=report.top1_agreement, passed=report.passed)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("archs", nargs="+")
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--residual-gamma", type=float, nargs="+", default=[1.0, 0.2])
    args = p.parse_args(argv)
    print("| arch | residual_gamma | Keras, fp16-rounded params | TFLite fp16 | TFLite / Keras-rounded "
          "| top-1 agreement | fp16 gate (1e-2) |")
    print("|---|---|---|---|---|---|---|")
    for arch in args.archs:
        for g in args.residual_gamma:
            r = measure(arch, args.img_size, g)
            print(f"| {arch} | {g:g} | {r['keras_fp16']:.1e} | {r['tflite_fp16']:.1e} | {r['ratio']:.2f} "
                  f"| {r['top1']:.2f} | {'pass' if r['passed'] else 'FAIL'} |", flush=True)


if __name__ == "__main__":
    main()
