"""`zoo export` (write an artifact, optionally verify it) and `zoo bench` (latency vs Keras)."""
from __future__ import annotations

import sys
from pathlib import Path

FORMATS = ("saved_model", "tflite", "onnx", "tfhub")
QUANTIZE = ("fp32", "fp16", "dynamic", "int8")


def add_commands(sub):
    p = sub.add_parser("export", help="export a model to SavedModel, TFLite, ONNX or TF Hub (and verify it)")
    p.add_argument("name", help="arch, arch.tag or alias")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--quantize", default="fp32", choices=QUANTIZE, help="TFLite only (default fp32)")
    p.add_argument("--out", default=None,
                   help="output path (default: exported/<name>[_<quantize>].<ext>; saved_model: a base folder, "
                        "written as <out>/<name>/<version>/)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing artifact")
    p.add_argument("--verify", action="store_true",
                   help="run the artifact in its runtime on real photos, print the report and write it as JSON")
    p.add_argument("--report", default=None, help="where --verify writes its JSON (default: <artifact>.verify.json)")
    p.add_argument("--img-size", type=int, default=None, help="input size (default: the weights' size)")
    p.add_argument("--weights", default=None,
                   help="a tag, hf-hub:owner/repo[@rev], a local file, or 'none' for random init "
                        "(default: the model's published weights)")
    p.add_argument("--calibration", default=None,
                   help="int8: a folder of calibration images (100-500 from your domain), or 'sample-photos' "
                        "for scikit-image's photos (a smoke test, not a representative set)")
    p.add_argument("--calibration-count", type=int, default=256, help="int8: at most this many images")
    p.add_argument("--int8-io", default="uint8", choices=("uint8", "int8"), help="int8 input/output type")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (13..18)")
    p.add_argument("--version", type=int, default=1, dest="model_version", help="saved_model: TF Serving version")
    p.add_argument("--min-top1", type=float, default=None,
                   help="--verify gate for dynamic/int8 TFLite: minimum top-1 agreement with Keras")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("bench", help="latency of the Keras model vs each exported artifact (ratios, same run)")
    p.add_argument("name", help="arch, arch.tag or alias")
    p.add_argument("--targets", nargs="+", default=None,
                   help="saved_model onnx tflite:fp32 tflite:fp16 tflite:dynamic tflite:int8 (default: all)")
    p.add_argument("--img-size", type=int, default=None)
    p.add_argument("--weights", default=None, help="as for export ('none': random init)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", action="store_true", help="print JSON rows")
    p.set_defaults(run=cmd_bench)


def _step(msg):
    print(f"[zoo export] {msg}", file=sys.stderr, flush=True)


def _create(name, weights, img_size, data_init=False):
    import zoo
    pretrained = True if weights is None else (False if weights.lower() == "none" else weights)
    model = zoo.create(name, pretrained=pretrained, img_size=img_size)
    if pretrained is False and data_init:
        from export import testing
        testing.data_init(model)  # int8 calibration needs realistic activations
    if pretrained is False:
        print("[zoo] note: random init (--weights none): predictions are meaningless, numerics still compare",
              file=sys.stderr)
    return model


def _default_out(args, model) -> Path:
    arch = model.pretrained_cfg["arch"]
    if args.format == "saved_model":
        return Path("exported")
    if args.format == "tflite":
        return Path("exported") / f"{arch}_{args.quantize}.tflite"
    if args.format == "onnx":
        return Path("exported") / f"{arch}.onnx"
    return Path("exported") / f"{arch}_tfhub"


def cmd_export(args):
    import export
    from zoo.errors import InvalidArgumentError

    if args.quantize != "fp32" and args.format != "tflite":
        raise InvalidArgumentError(f"--quantize applies to --format tflite only (got --format {args.format})")
    from tqdm import tqdm
    steps = ["build", "export"] + (["verify"] if args.verify else [])
    bar = tqdm(total=len(steps), desc="zoo export", unit="step", file=sys.stderr)
    bar.set_postfix_str(f"building {args.name}")
    model = _create(args.name, args.weights, args.img_size)
    bar.update()
    out = Path(args.out) if args.out else _default_out(args, model)
    kw = {"overwrite": args.overwrite}
    if args.format == "tflite":
        kw.update(quantize=args.quantize, int8_io=args.int8_io, progress=True)
        if args.quantize == "int8":
            if args.calibration is None:
                raise InvalidArgumentError(
                    "--quantize int8 needs --calibration: a folder of 100-500 images from your domain "
                    "(or 'sample-photos' for a smoke test on scikit-image's photos)")
            images = None
            if args.calibration != "sample-photos":
                images = export.photos.images_from_folder(args.calibration, limit=args.calibration_count)
            kw["representative_data"] = export.calibration_data(model, n=args.calibration_count, images=images)
    elif args.format == "onnx":
        kw["opset"] = args.opset
    elif args.format == "saved_model":
        kw["version"] = args.model_version
    bar.set_postfix_str(f"writing {args.format}" + (f" ({args.quantize})" if args.format == "tflite" else ""))
    path = export.to_format(model, out, args.format, **kw)
    bar.update()
    rc = 0
    report = None
    if args.verify:
        bar.set_postfix_str("verifying in its runtime")
        report = export.verify(model, path, format=args.format, min_top1=args.min_top1)
        bar.update()
    bar.close()
    print(f"wrote {path}")
    if report is not None:
        print(report.table())
        rpath = Path(args.report) if args.report else Path(str(path).rstrip("/") + ".verify.json")
        report.to_json(rpath)
        print(f"report: {rpath}")
        rc = 0 if report.passed else 1
    return rc


def cmd_bench(args):
    import json

    from export.bench import DEFAULT_TARGETS, bench, format_rows
    model = _create(args.name, args.weights, args.img_size, data_init=True)
    rows = bench(model, tuple(args.targets or DEFAULT_TARGETS), repeats=args.repeats)
    print(json.dumps(rows, indent=2) if args.json else format_rows(rows))
    return 0
