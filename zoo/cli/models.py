"""`zoo list`, `zoo info`, `zoo predict`.

list and info answer from the manifest and the architecture index (zoo/index.py), without
TensorFlow; a name the index does not know goes to the live registry (which says what is wrong).
"""
from __future__ import annotations

import json
import sys

from ._common import add_weights_argument, create_model


def add_commands(sub):
    p = sub.add_parser("list", help="list architectures, or published weights with --pretrained")
    p.add_argument("pattern", nargs="?", default="*", help="glob, e.g. 'seresnet*' (default: all; case-insensitive)")
    p.add_argument("--pretrained", action="store_true", help="list weight sets as arch.tag")
    p.set_defaults(run=cmd_list, cli_wording=True)

    p = sub.add_parser("info", help="cfg, weights source, reported accuracy and size of a model")
    p.add_argument("name", help="arch, arch.tag or alias")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_info, cli_wording=True)

    p = sub.add_parser("predict", help="classify images with a model")
    p.add_argument("name", help="arch, arch.tag or alias")
    p.add_argument("images", nargs="+", help="image files")
    add_weights_argument(p)
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    p.set_defaults(run=cmd_predict, cli_wording=True)


def _layers_hint(pattern: str) -> str:
    """'' or ' zoo.layers.CoAtNetAttention is an attention module ...' for a name that points at one."""
    from zoo import index
    found = index.layers_matching(pattern)
    if not found:
        return ""
    names = ", ".join(f"zoo.layers.{n}" for n in found[:6]) + (", ..." if len(found) > 6 else "")
    verb = "are attention modules" if len(found) > 1 else "is an attention module"
    return f" {names} {verb} (a layer to build your own model with, not a model)."


def cmd_list(args):
    from zoo import index

    names = index.list_models(args.pattern, pretrained=args.pretrained)
    if names is None:  # no usable index: ask the registry
        import zoo
        names = zoo.list_models(args.pattern.lower(), pretrained=args.pretrained)
    if not names:
        what = "published weight set" if args.pretrained else "architecture"
        print(f"no {what} matches {args.pattern!r}.{_layers_hint(args.pattern)} "
              f"`zoo list{' --pretrained' if args.pretrained else ''}` shows them all.", file=sys.stderr)
        return 0
    if not args.pretrained:
        for n in names:
            print(n)
        return 0
    from zoo import manifest
    entries = manifest.entries()
    for n in names:
        e = entries[n]
        top1 = e.reported.get("top1")
        where = e.hub_repo or "not on the Hub"
        print(f"{n:50s} {('%.2f' % top1) if top1 is not None else '  -  ':>6s}  {where}")
    return 0


def cmd_info(args):
    from zoo import index

    info = index.model_info(args.name)
    if info is None:  # not in the index: the registry knows, or says what is wrong
        import zoo
        from zoo.errors import UnknownModelError
        try:
            info = zoo.model_info(args.name)
        except UnknownModelError as e:
            e.args = (str(e) + _layers_hint(args.name.split(".")[0]),)
            raise
    info = {**info, "note": _note(args.name, info)}
    if args.json:
        print(json.dumps(info, indent=2, default=list))
        return 0
    width = max(len(k) for k in info)
    for k, v in info.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items())
        elif isinstance(v, (list, tuple)):
            v = ", ".join(str(a) for a in v) or "-"
        print(f"{k:{width}s}  {v if v is not None else '-'}")
    return 0


def _note(name: str, info: dict) -> str | None:
    """What `zoo info` says beside the fields: why an alias points where it does, and that an
    architecture has no published weights."""
    from zoo import index
    parts = []
    note = index.alias_note(name)
    idx = index._usable()
    if note is None and (idx is None or "alias_notes" not in idx):   # the index cannot answer: the registry does
        from zoo import registry
        note = registry.alias_note(name)
    if note:
        parts.append(note)
    if not info.get("pretrained_tags"):
        parts.append(f"{info.get('arch', name)} has no published weights (it builds with random weights: "
                     f"pretrained=False, or your own file)")
    return "; ".join(parts) or None


def cmd_predict(args):
    import zoo
    from zoo.errors import InvalidArgumentError

    if args.batch_size < 1 or args.top < 1:
        raise InvalidArgumentError("--batch-size and --top must be >= 1")
    model = create_model(args.name, args.weights, "predict")
    results = []
    for logits in _predict_batches(model, args.images, args.name, args.batch_size):
        results += zoo.decode_predictions(logits, top=args.top)
    if args.json:
        print(json.dumps([{"image": img, "top": [{"wnid": w, "label": lab, "prob": p} for w, lab, p in r]}
                          for img, r in zip(args.images, results)], indent=2))
        return 0
    for img, r in zip(args.images, results):
        print(img)
        for w, lab, p in r:
            print(f"  {p:7.2%}  {lab} ({w})")
    return 0


def _predict_batches(model, images, name, batch_size):
    """Logits of `images`, `batch_size` at a time: each chunk read and preprocessed when its turn
    comes (memory stays one batch), through one compiled forward pass: for more than one batch,
    the inference form frozen (zoo.inference_function; every chunk padded to the batch shape, so
    it is traced once)."""
    import numpy as np
    import tensorflow as tf

    import zoo
    n = len(images)
    if n > batch_size:   # folding and freezing cost a clone and a trace: worth it when it runs more than once
        fwd = zoo.inference_function(model, batch_size=batch_size)
    else:
        fwd = tf.function(lambda t: model(t, training=False))
    chunks = range(0, n, batch_size)
    if n > batch_size:
        from tqdm import tqdm
        chunks = tqdm(chunks, desc="predict", unit="batch", leave=False)
    for i in chunks:
        x = zoo.preprocess(images[i:i + batch_size], name)
        k = len(x)
        if n > batch_size and k < batch_size:
            x = np.concatenate([x, np.zeros((batch_size - k, *x.shape[1:]), x.dtype)])
        yield fwd(tf.constant(x)).numpy()[:k]
