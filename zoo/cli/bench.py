"""`zoo bench`: latency and throughput of models, their artifacts and the PyTorch reference, in one
run (export/bench.py); `--accuracy DATA`: int8 accuracy of trained networks (export/int8_accuracy.py).
"""
from __future__ import annotations

import os
from pathlib import Path

TARGETS_HELP = ("keras:eager keras:function keras:xla keras:fused keras:fused-xla keras:frozen saved_model tflite:fp32 "
                "tflite:fp16 tflite:dynamic tflite:int8 tflite:int8-mixed onnx torch (default: all but tflite:dynamic)")


def add_commands(sub):
    p = sub.add_parser("bench", help="latency/throughput of a model, its artifacts and timm's model, one run")
    p.add_argument("names", nargs="*", metavar="NAME", help="archs or aliases (--accuracy: default, the smallest "
                                                            "of each family)")
    p.add_argument("--targets", nargs="+", default=None, metavar="TARGET", help=TARGETS_HELP)
    p.add_argument("--batches", nargs="+", type=int, default=None, help="batch sizes (default 1 8 32)")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                   help="threads for every runtime (TensorFlow, LiteRT, ONNX Runtime, torch); default 2")
    p.add_argument("--repeats", type=int, default=10, help="timed calls at batch 1 (fewer for larger batches)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--img-size", type=int, default=None,
                   help="input size (default: the model's own; with --accuracy, 64, what the training uses)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the full report as JSON")
    p.add_argument("--markdown", default=None, metavar="PATH", help="also write the tables as Markdown")
    p.add_argument("--accuracy", default=None, metavar="DATA",
                   help="instead: fine-tune each model on DATA (class folders; 'bundled' for the built-in photo "
                        "set), export fp32/fp16/dynamic/int8(-mixed) TFLite and report each one's held-out accuracy")
    p.set_defaults(run=cmd_bench, cli_wording=True)


def _check(args):
    from export.bench import ALL_TARGETS
    from zoo.errors import InvalidArgumentError
    bad = [t for t in args.targets or () if t not in ALL_TARGETS]
    if bad:
        raise InvalidArgumentError(f"unknown --targets {bad}; choose from {list(ALL_TARGETS)}")
    if args.batches and any(b < 1 for b in args.batches):
        raise InvalidArgumentError(f"--batches must be positive; got {args.batches}")
    if args.threads < 1 or args.repeats < 1 or args.warmup < 0:
        raise InvalidArgumentError("--threads and --repeats must be >= 1, --warmup >= 0")
    if args.accuracy is None and not args.names:
        raise InvalidArgumentError("name at least one model: zoo bench seresnet50 [mobilevitv2_050 ...]")
    if args.accuracy not in (None, "bundled") and not Path(args.accuracy).is_dir():
        raise InvalidArgumentError(f"--accuracy {args.accuracy}: no such folder (class folders of images, "
                                   f"or 'bundled')")


def cmd_bench(args):
    import json

    if args.accuracy is None and (args.targets is None or "torch" in args.targets):
        try:   # timm (torch, torchvision, triton) before TensorFlow: the other order segfaults
            import timm  # noqa: F401
        except ImportError:
            pass   # the torch row says it is not installed
    from export.bench import DEFAULT_BATCHES, DEFAULT_TARGETS
    _check(args)
    targets = tuple(args.targets or DEFAULT_TARGETS)
    if args.accuracy is not None:
        from export import int8_accuracy
        rows = int8_accuracy.run(args.names or None, data=None if args.accuracy == "bundled" else args.accuracy,
                                img_size=args.img_size or 64)
        text = int8_accuracy.markdown(rows)
        report = rows
    else:
        from export.bench import bench_models, markdown
        report = bench_models(args.names, targets=targets, batches=tuple(args.batches or DEFAULT_BATCHES),
                              warmup=args.warmup, repeats=args.repeats, threads=args.threads, img_size=args.img_size)
        text = markdown(report)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str) + "\n")
    return 0
