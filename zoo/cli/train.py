"""`zoo train`: fine-tune a model on a folder of images (one subfolder per class).

The run folder (--out) gets best.keras, metrics.csv, curves.png, summary.md, labels.txt and the
resume state; `zoo export OUT/best.keras --format ...` exports the result. See docs/fine-tuning.md.
"""
from __future__ import annotations

import sys

from ._common import add_weights_argument, note, pretrained_arg


def add_commands(sub):
    p = sub.add_parser("train", help="fine-tune a model on a folder of images (one subfolder per class)")
    p.add_argument("name", help="arch, arch.tag or alias")
    p.add_argument("data_dir", help="folder with one subfolder of images per class")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--out", required=True, help="run folder: best.keras, metrics.csv, curves.png, summary.md, resume/")
    p.add_argument("--batch-size", type=int, default=32, help="global batch size (split over replicas)")
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate (default 1e-3 x batch/256 for adamw, 0.1 x batch/256 for sgd; cosine decay)")
    p.add_argument("--optimizer", default="adamw", choices=("adamw", "sgd"))
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-epochs", type=float, default=0)
    p.add_argument("--freeze-until", default=None, metavar="GROUP",
                   help="freeze the groups up to and including GROUP: stem, stages.0, stages.1, ... (BatchNorm frozen too)")
    p.add_argument("--layer-decay", type=float, default=None, help="layer-wise learning-rate decay per group (e.g. 0.75)")
    p.add_argument("--img-size", type=int, default=None, help="input size (default: the weights' size)")
    add_weights_argument(p)
    p.add_argument("--mixed-precision", default=None, choices=("mixed_float16", "mixed_bfloat16"),
                   help="compute in 16 bits (logits and loss stay float32)")
    p.add_argument("--strategy", default="auto", choices=("auto", "mirrored", "multiworker", "none"),
                   help="tf.distribute strategy (auto: multiworker when TF_CONFIG names several workers, "
                        "mirrored with several GPUs, else one device)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last completed epoch")
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of each class held out for validation (0: none)")
    p.add_argument("--augment", default="standard", choices=("standard", "randaugment", "none"),
                   help="standard: random resized crop + flip; randaugment: and two RandAugment ops per image")
    p.add_argument("--drop-path-rate", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0, help="decides the new head's init, the split, data order, augmentation")
    p.add_argument("--no-jit", action="store_true", help="compile without XLA")
    p.set_defaults(run=cmd_train, cli_wording=True)


def cmd_train(args):
    from pathlib import Path

    from zoo import train as training

    pretrained = pretrained_arg(args.weights)
    augment = {"standard": True, "randaugment": "randaugment", "none": False}[args.augment]
    if pretrained is False:
        note("random weights (--weights none): training starts from scratch")
    result = training.train(
        args.name, args.data_dir, out=args.out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        optimizer=args.optimizer, weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs,
        freeze_until=args.freeze_until, layer_decay=args.layer_decay, img_size=args.img_size, pretrained=pretrained,
        mixed_precision=args.mixed_precision, strategy=args.strategy, resume=args.resume,
        val_fraction=args.val_fraction, augment=augment, drop_path_rate=args.drop_path_rate, seed=args.seed,
        jit_compile=False if args.no_jit else "auto", verbose=1)
    out = Path(result.out)
    if result.skipped:
        print(f"skipped {len(result.skipped)} unreadable file(s), e.g. {result.skipped[0][0]}: {result.skipped[0][1]}",
              file=sys.stderr)
    if not training.is_chief():
        print("done (worker): the chief writes the run's files")
        return 0
    last = result.history[-1]
    best = f"best epoch {result.best_epoch}" if result.best_epoch else "no best epoch"
    print(f"{best}: {out / training.BEST}")
    print(f"last epoch {last['epoch']}: " + ", ".join(f"{k} {v:.4f}" for k, v in last.items()
                                                     if k in ("loss", "accuracy", "val_loss", "val_accuracy")))
    print(f"metrics: {out / 'metrics.csv'}  summary: {out / 'summary.md'}")
    print(f"export: zoo export {out / training.BEST} --format tflite --verify")
    return 0
