"""`zoo export`: write an artifact, optionally verify it.

Every option is checked, and the output paths too, before the model is built. `--out`: for the
single-file formats a file, or a folder to write `<arch>[_<quantize>].<ext>` into; for
saved_model the TF Serving base folder (`<out>/<arch>/<version>/`); for tfhub the artifact folder.
`--overwrite` replaces only an artifact of the same kind, never other files (export/_io.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

from ._common import add_weights_argument, create_model

FORMATS = ("saved_model", "tflite", "onnx", "tfhub")
QUANTIZE = ("fp32", "fp16", "dynamic", "int8", "int8-mixed")
CALIBRATED = ("int8", "int8-mixed")
SAMPLE_PHOTOS = "sample-photos"
DEFAULT_DIR = Path("exported")


def add_commands(sub):
    p = sub.add_parser("export", help="export a model to SavedModel, TFLite, ONNX or TF Hub (and verify it)")
    p.add_argument("name", help="arch, arch.tag or alias, or a .keras file of a zoo model (e.g. zoo train's best.keras)")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--quantize", default="fp32", choices=QUANTIZE, help="TFLite only (default fp32)")
    p.add_argument("--out", default=None,
                   help="output path (default: exported/<arch>[_<quantize>].<ext>); a folder for tflite/onnx: the "
                        "file goes inside it; saved_model: a base folder, written as <out>/<arch>/<version>/")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing artifact of the same kind (never other files)")
    p.add_argument("--verify", action="store_true",
                   help="run the artifact in its runtime on real photos, print the report and write it as JSON")
    p.add_argument("--report", default=None,
                   help="where --verify writes its JSON: a file, or a folder to write it inside "
                        "(default: <artifact>.verify.json)")
    p.add_argument("--img-size", type=int, default=None, help="input size (default: the weights' size)")
    add_weights_argument(p)
    p.add_argument("--calibration", default=None, metavar="DIR|sample-photos",
                   help="int8: a folder of calibration images (100-500 from your domain), or 'sample-photos' for "
                        "the built-in set (scikit-image's photos: a smoke test, not a representative set)")
    p.add_argument("--calibration-count", type=int, default=256, help="int8: at most this many images")
    p.add_argument("--int8-io", default="uint8", choices=("uint8", "int8"), help="int8 input/output type")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (13..18)")
    p.add_argument("--version", type=int, default=1, dest="model_version", help="saved_model: TF Serving version")
    p.add_argument("--min-top1", type=float, default=None,
                   help="--verify gate for dynamic/int8 TFLite: minimum top-1 agreement with Keras")
    p.set_defaults(run=cmd_export, cli_wording=True)


def _check_options(args):
    """Everything that can be wrong with the options alone, before anything is imported or built."""
    from zoo.errors import InvalidArgumentError

    if args.quantize != "fp32" and args.format != "tflite":
        raise InvalidArgumentError(f"--quantize applies to --format tflite only (got --format {args.format})")
    if args.quantize in CALIBRATED and args.calibration is None:
        raise InvalidArgumentError(
            f"--quantize {args.quantize} needs --calibration: a folder of 100-500 images from your domain, or "
            f"--calibration {SAMPLE_PHOTOS} for the built-in set (a few scikit-image photos: a smoke test, "
            f"not a representative set)")
    if args.calibration is not None and args.quantize not in CALIBRATED:
        raise InvalidArgumentError("--calibration applies to --quantize int8 / int8-mixed only")
    if args.calibration not in (None, SAMPLE_PHOTOS) and not Path(args.calibration).is_dir():
        raise InvalidArgumentError(
            f"--calibration {args.calibration}: no such folder; give a folder of images, or {SAMPLE_PHOTOS} for the "
            f"built-in set")
    if args.report is not None and not args.verify:
        raise InvalidArgumentError("--report is where --verify writes its JSON: add --verify")


def _keras_file(args):
    """(model, arch) of a .keras file NAME (zoo train's best.keras), or (None, None) when NAME is a
    model name."""
    if not args.name.endswith(".keras"):
        return None, None
    from zoo.errors import InvalidArgumentError
    if args.weights is not None or args.img_size is not None:
        raise InvalidArgumentError(f"{args.name} is a saved model: it has its weights and input size "
                                   f"(drop --weights/--img-size)")
    from zoo import pretrained_cfg, train
    model = train.load(args.name)
    arch = (pretrained_cfg(model) or {}).get("arch")
    if not arch:
        raise InvalidArgumentError(f"{args.name} is not a zoo model (it carries no pretrained_cfg)")
    return model, arch


def _arch(name: str) -> str:
    from zoo import index
    found = index.resolve(name)
    if found:
        return found[0]
    from zoo import registry
    return registry.resolve(name)[0].name  # raises, with suggestions, for an unknown name


def _paths(args, arch: str):
    """(the path to pass to the exporter, the artifact it writes, its kind), before the build."""
    from export._io import file_in_folder
    if args.format == "saved_model":
        base = Path(args.out) if args.out else DEFAULT_DIR
        return base, base / arch / str(args.model_version), "saved_model"
    if args.format == "tfhub":
        p = Path(args.out) if args.out else DEFAULT_DIR / f"{arch}_tfhub"
        return p, p, "tfhub"
    filename = f"{arch}_{args.quantize}.tflite" if args.format == "tflite" else f"{arch}.onnx"
    p = file_in_folder(args.out, filename) if args.out else DEFAULT_DIR / filename
    return p, p, args.format


def _report_path(args, artifact: Path) -> Path:
    from export._io import file_in_folder
    from export.verification import report_filename
    if args.report is None:
        return Path(str(artifact).rstrip("/") + ".verify.json")
    return file_in_folder(args.report, report_filename(artifact))


def cmd_export(args):
    _check_options(args)
    import export
    from export._io import check_target

    images = None
    if args.calibration not in (None, SAMPLE_PHOTOS):
        images = export.photos.images_from_folder(args.calibration, limit=args.calibration_count)
    saved, arch = _keras_file(args)
    if saved is None:
        arch = _arch(args.name)
    out, artifact, kind = _paths(args, arch)
    check_target(artifact, args.overwrite, kind)
    rpath = _report_path(args, artifact) if args.verify else None
    if rpath is not None:
        check_target(rpath, args.overwrite, "report")

    from tqdm import tqdm
    steps = ["build", "export"] + (["verify"] if args.verify else [])
    report = None
    with tqdm(total=len(steps), desc="zoo export", unit="step", file=sys.stderr) as bar:
        bar.set_postfix_str(f"building {args.name}")
        model = saved if saved is not None else create_model(args.name, args.weights, "export", img_size=args.img_size)
        bar.update()
        kw = {"overwrite": args.overwrite}
        if args.format == "tflite":
            kw.update(quantize=args.quantize, int8_io=args.int8_io, progress=True)
            if args.quantize in CALIBRATED:
                kw["representative_data"] = export.calibration_data(model, n=args.calibration_count, images=images)
        elif args.format == "onnx":
            kw["opset"] = args.opset
        elif args.format == "saved_model":
            kw["version"] = args.model_version
        bar.set_postfix_str(f"writing {args.format}" + (f" ({args.quantize})" if args.format == "tflite" else ""))
        path = export.to_format(model, out, args.format, **kw)
        bar.update()
        if args.verify:
            bar.set_postfix_str("verifying in its runtime")
            report = export.verify(model, path, format=args.format, min_top1=args.min_top1)
            bar.update()
    print(f"wrote {path}")
    if report is None:
        return 0
    print(report.table())
    print(f"report: {report.save(rpath, overwrite=args.overwrite)}")
    return 0 if report.passed else 1
