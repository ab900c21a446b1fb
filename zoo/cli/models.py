"""`zoo list`, `zoo info`, `zoo predict`."""
from __future__ import annotations

import json


def add_commands(sub):
    p = sub.add_parser("list", help="list architectures, or published weights with --pretrained")
    p.add_argument("pattern", nargs="?", default="*", help="glob, e.g. 'seresnet*' (default: all)")
    p.add_argument("--pretrained", action="store_true", help="list weight sets as arch.tag")
    p.set_defaults(run=cmd_list)

    p = sub.add_parser("info", help="cfg, weights source, reported accuracy and size of a model")
    p.add_argument("name", help="arch, arch.tag or alias")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("predict", help="classify images with a model")
    p.add_argument("name", help="arch, arch.tag or alias")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--weights", default=None,
                   help="weights: a tag, hf-hub:owner/repo[@rev] or a local file (default: the model's "
                        "published weights)")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_predict)


def cmd_list(args):
    import zoo

    names = zoo.list_models(args.pattern, pretrained=args.pretrained)
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
    import zoo

    info = zoo.model_info(args.name)
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


def cmd_predict(args):
    import zoo

    pretrained = args.weights if args.weights else True
    model = zoo.create(args.name, pretrained=pretrained)
    batch = zoo.preprocess(args.images, args.name)
    logits = model.predict(batch, verbose=0)
    results = zoo.decode_predictions(logits, top=args.top)
    if args.json:
        print(json.dumps([{"image": img, "top": [{"wnid": w, "label": lab, "prob": p} for w, lab, p in r]}
                          for img, r in zip(args.images, results)], indent=2))
        return 0
    for img, r in zip(args.images, results):
        print(img)
        for w, lab, p in r:
            print(f"  {p:7.2%}  {lab} ({w})")
    return 0
