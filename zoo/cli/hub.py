"""`zoo download`, `zoo push`, `zoo manifest refresh|check`, `zoo convert`: weights in and out."""
from __future__ import annotations

import json
from pathlib import Path


def add_commands(sub):
    p = sub.add_parser("download", help="put pretrained weights in the Hugging Face cache (for offline use)")
    p.add_argument("names", nargs="+", metavar="NAME", help="arch, arch.tag or a glob over arch.tag ('seresnet*')")
    p.add_argument("--weights", default=None, help="hf-hub:owner/repo[@rev] instead of the manifest's weights")
    p.add_argument("--no-convert", action="store_true",
                   help="only download; by default the Keras weights are also converted and cached")
    p.set_defaults(run=cmd_download)

    p = sub.add_parser("push", help="publish converted Keras weights to the Hugging Face Hub")
    p.add_argument("name", help="arch or arch.tag")
    p.add_argument("--repo", required=True, help="target repo, owner/name")
    p.add_argument("--weights", default=None,
                   help="where the weights come from: a tag, a local converted .safetensors (zoo convert), "
                        "hf-hub:owner/repo (default: the name's published weights)")
    p.add_argument("--parity", default=None, metavar="FILE.json",
                   help="parity figures measured against the reference implementation, for the model card "
                        "(default: those `zoo convert` recorded in the local file)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", default=None, help="branch to commit to (default: main)")
    p.add_argument("--token", default=None, help="Hub token with write access (default: HF_TOKEN / hf auth login)")
    p.add_argument("--message", default=None, help="commit message")
    p.add_argument("--out", default=None, metavar="DIR", help="also keep the files in DIR")
    p.add_argument("--dry-run", action="store_true", help="write the files (see --out) but upload nothing")
    p.set_defaults(run=cmd_push)

    m = sub.add_parser("manifest", help="check the weights manifest, or pin its Hub entries")
    msub = m.add_subparsers(dest="manifest_command", metavar="ACTION")
    r = msub.add_parser("refresh", help="fill revision (commit sha) and sha256 of Hub entries from the Hub")
    r.add_argument("--only", action="append", default=None, metavar="GLOB", help="entries 'arch.tag' to refresh")
    r.add_argument("--force", action="store_true", help="also re-resolve entries already pinned")
    r.add_argument("--manifest", default=None, help="manifest file (default: the one in use)")
    r.add_argument("--token", default=None)
    r.add_argument("--dry-run", action="store_true", help="report, do not write")
    r.set_defaults(run=cmd_manifest_refresh)
    c = msub.add_parser("check", help="check the manifest against the registry")
    c.set_defaults(run=cmd_manifest_check)
    m.set_defaults(run=lambda args: (m.print_help(), 2)[1])

    p = sub.add_parser("convert", help="convert a local PyTorch checkpoint (.pth) to safetensors (needs torch)")
    p.add_argument("file", help="a .pth/.pt/.pth.tar/.bin file on your disk (or a PyTorch-layout .safetensors)")
    p.add_argument("--arch", required=True, help="the zoo architecture the checkpoint is for")
    p.add_argument("-o", "--output", default=None, help="output .safetensors (default: beside the input)")
    p.add_argument("--ema", action="store_true", help="take the EMA weights when the file has them")
    p.add_argument("--no-parity", action="store_true",
                   help="skip the comparison with the PyTorch reference (the official definition, or timm)")
    p.set_defaults(run=cmd_convert)


# --- download ------------------------------------------------------------------------------------

def _expand(names):
    import zoo

    out = []
    for n in names:
        if any(ch in n for ch in "*?["):
            found = zoo.list_models(n, pretrained=True)
            if not found:
                from zoo.errors import UnknownModelError
                raise UnknownModelError(f"No published weights match {n!r} (see `zoo list --pretrained`).")
            out += found
        else:
            out.append(n)
    return out


def cmd_download(args):
    import zoo
    from zoo import checkpoint, pretrained

    for name in _expand(args.names):
        source, path = pretrained.download_weights(name, args.weights or True)
        sha = checkpoint.sha256_file(path)
        print(f"{source.label}: {path}\n  hf-hub:{source.repo}@{source.commit}/{source.filename}  sha256 {sha}")
        if not args.no_convert:
            spec, _ = zoo.registry.resolve(name)
            zoo.create(name, pretrained=args.weights or True)
            print(f"  Keras weights converted and cached in {pretrained.cache_root() / 'converted' / spec.name}")
    return 0


# --- push ----------------------------------------------------------------------------------------

def cmd_push(args):
    from zoo import publish

    parity = None
    if args.parity:
        try:
            parity = json.loads(Path(args.parity).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            from zoo.errors import InvalidArgumentError
            raise InvalidArgumentError(f"--parity {args.parity}: not a readable JSON file ({e})") from None
    result = publish.push_to_hub(args.name, args.repo, pretrained=args.weights or True, private=args.private,
                                 token=args.token, revision=args.revision, parity=parity,
                                 commit_message=args.message, out_dir=args.out, upload=not args.dry_run)
    print(f"wrote {result['folder']}: model.safetensors (sha256 {result['sha256']}), config.json, README.md; "
          f"reload check: identical logits")
    if result["commit"]:
        print(f"pushed to hf-hub:{args.repo} @ {result['commit']}\n  load with zoo.create("
              f"'{args.name.split('.')[0]}', pretrained='hf-hub:{args.repo}')")
    return 0


# --- manifest ------------------------------------------------------------------------------------

def cmd_manifest_refresh(args):
    from zoo import manifest, publish

    report = publish.refresh_manifest(args.manifest, only=args.only, force=args.force, token=args.token,
                                      dry_run=args.dry_run)
    for r in report:
        extra = "  ".join(f"{k}={v}" for k, v in r.items() if k not in ("name", "status"))
        print(f"{r['name']:50s} {r['status']:16s} {extra}")
    errors = sum(r["status"] == "error" for r in report)
    changed = sum(r["status"] in ("updated", "changed upstream") for r in report)
    where = manifest.manifest_path() if args.manifest is None else args.manifest
    print(f"{len(report)} entries, {changed} updated, {errors} failed"
          + ("" if args.dry_run or not changed else f"; wrote {where}") + (" (dry run)" if args.dry_run else ""))
    return 1 if errors else 0


def cmd_manifest_check(args):
    from zoo import manifest, registry

    problems = manifest.validate(archs=set(registry.archs()))
    for p in problems:
        print(p)
    print(f"{len(manifest.entries())} entries, {len(problems)} problems ({manifest.manifest_path()})")
    return 1 if problems else 0


# --- convert -------------------------------------------------------------------------------------

# The reference runs in a child process: importing torch/timm (triton through torchvision) after
# TensorFlow crashes the interpreter (torch 2.14.1 / TF 2.21). zoo.torch_ref imports no TensorFlow.
_REFERENCE_RUN = """
import sys, json
import numpy as np, torch
from safetensors.torch import load_file
from zoo import torch_ref
arch, family, weights, inp, out, num_classes, img_size, in_chans = sys.argv[1:9]
model = torch_ref.reference_model(arch, family=family or None, num_classes=int(num_classes),
                                  img_size=int(img_size), in_chans=int(in_chans))
if model is None:
    print(json.dumps({"missing": True})); sys.exit(0)
try:
    model.load_state_dict(load_file(weights), strict=True)
except RuntimeError as e:
    print(json.dumps({"reference": torch_ref.describe(model), "error": str(e).splitlines()[0]})); sys.exit(0)
with torch.no_grad():
    np.save(out, model(torch.from_numpy(np.load(inp))).numpy())
print(json.dumps({"reference": torch_ref.describe(model)}))
"""

# converted logits must match the reference's within this, relative to max(1, max|logit|)
PARITY_RTOL = 1e-4


def reference_parity(arch: str, state: dict, model, seed: int = 0, family: str | None = None) -> dict | None:
    """Logits of the PyTorch reference (`zoo.torch_ref.reference_model`: the family's official
    definition, else timm) vs the zoo model, on the same weights and a fixed random input.

    Needs torch (the optional torch extra); returns None when it, or a reference for the arch, is
    missing. The result records max_abs_diff, max_abs_logit, top-1 agreement and `passed`
    (max_abs_diff <= PARITY_RTOL * max(1, max|logit|)).
    """
    import importlib.util
    import os
    import subprocess
    import sys
    import tempfile

    import numpy as np

    from zoo import checkpoint

    if importlib.util.find_spec("torch") is None:
        return None
    h, w, c = model.input_shape[1:]
    if h != w:
        return None   # the references take square img_size
    x = np.random.default_rng(seed).standard_normal((2, c, h, w)).astype("float32")
    root = str(Path(__file__).resolve().parents[2])   # the folder holding the zoo package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="zoo-parity-") as d:
        weights, inp, out = Path(d, "w.safetensors"), Path(d, "x.npy"), Path(d, "y.npy")
        checkpoint.save_torch_safetensors(state, weights)
        np.save(inp, x)
        proc = subprocess.run([sys.executable, "-c", _REFERENCE_RUN, arch, family or "", str(weights), str(inp),
                               str(out), str(int(model.output_shape[-1])), str(h), str(c)],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            return {"reference": "PyTorch reference", "error": f"the reference run failed: {tail}", "passed": False}
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        if info.get("missing"):
            return None
        if "error" in info:
            return {"reference": info["reference"], "error": info["error"], "passed": False}
        want = np.load(out)
    got = np.asarray(model(x.transpose(0, 2, 3, 1)))
    diff, scale = float(np.max(np.abs(got - want))), float(np.max(np.abs(want)))
    return {"reference": info["reference"], "input": f"2 random N(0,1) images {h}x{w} (seed {seed})",
            "max_abs_diff": diff, "max_abs_logit": scale,
            "top1_agree": f"{int(np.sum(got.argmax(-1) == want.argmax(-1)))}/2",
            "tolerance": PARITY_RTOL * max(1.0, scale), "passed": diff <= PARITY_RTOL * max(1.0, scale)}


def _default_output(path: Path) -> Path:
    name = path.name
    for suffix in (".pth.tar", ".pth", ".pt", ".bin", ".ckpt", ".tar", ".safetensors"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    out = path.with_name(name + ".safetensors")
    return out if out != path else path.with_name(name + ".converted.safetensors")


def cmd_convert(args):
    import numpy as np

    import zoo
    from zoo import __version__, checkpoint, convert, registry
    from zoo.errors import CheckpointError

    src = Path(args.file).expanduser()
    if not src.is_file():
        raise CheckpointError(f"{src} does not exist.")
    spec, _ = registry.resolve(args.arch)
    if src.name.endswith(".safetensors"):
        if checkpoint.is_keras_file(src):
            raise CheckpointError(f"{src} already holds Keras weights (written by the zoo); nothing to convert.")
        state, info = checkpoint.read_safetensors(src), {"unwrapped": [], "dropped": [], "prefix_removed": None}
    else:
        state, info = checkpoint.read_pytorch_file(src, ema=args.ema)
    out = Path(args.output).expanduser() if args.output else _default_output(src)

    cls = state.get(f"{spec.classifier}.weight")
    num_classes = int(cls.shape[0]) if cls is not None else None
    model = zoo.create(spec.name, num_classes=num_classes)
    convert.load_torch_state(model, state, adapt_state=spec.adapt_state, first_conv=spec.first_conv,
                             classifier=spec.classifier, model_name=spec.name, source=str(src))
    parity = None if args.no_parity else reference_parity(spec.name, state, model, family=spec.family)
    n_params = int(sum(np.prod(v.shape) for k, v in state.items() if np.issubdtype(v.dtype, np.floating)))
    meta = {"converted_by": f"attention-zoo {__version__}", "arch": spec.name, "source_file": src.name,
            "source_sha256": checkpoint.sha256_file(src), "unwrapped": info["unwrapped"]}
    if parity:
        meta["parity"] = parity
    checkpoint.save_torch_safetensors(state, out, metadata=meta)
    # what users will do next: load the written file by path, and get the same model
    again = zoo.create(spec.name, pretrained=str(out), num_classes=num_classes)
    h, w, c = model.input_shape[1:]
    x = np.random.default_rng(1).standard_normal((1, h, w, c)).astype("float32")
    if not np.array_equal(np.asarray(model(x)), np.asarray(again(x))):
        out.unlink()
        raise CheckpointError(f"{out} did not load back into {spec.name} identically; it was removed.")

    print(f"{src.name} -> {out}")
    print(f"  arch {spec.name}: all {len(state)} tensors fit ({n_params:,} floating-point values"
          + (f", {num_classes} classes" if num_classes else "") + ")")
    if info["unwrapped"]:
        print(f"  unwrapped: {' -> '.join(info['unwrapped'])}")
    if info["prefix_removed"]:
        print(f"  removed key prefix {info['prefix_removed']!r}")
    if info["dropped"]:
        print(f"  dropped non-tensor entries: {', '.join(info['dropped'][:8])}")
    print(f"  sha256 {checkpoint.sha256_file(out)}")
    if parity is None:
        print("  reference parity: not measured (" + ("--no-parity" if args.no_parity else
              "needs torch, and a PyTorch reference of this arch: zoo.torch_ref or timm") + ")")
    elif "error" in parity:
        print(f"  reference parity: FAILED, {parity['reference']} could not load these weights: {parity['error']}")
    else:
        print(f"  reference parity vs {parity['reference']}: max |logit diff| {parity['max_abs_diff']:.3g} "
              f"(max |logit| {parity['max_abs_logit']:.3g}), top-1 agree {parity['top1_agree']}: "
              + ("pass" if parity["passed"] else f"FAILED (tolerance {parity['tolerance']:.3g})"))
    if parity is not None and not parity["passed"]:
        print(f"  {out} is kept for inspection (its metadata records the failed parity); do not publish it: "
              f"the converted model does not compute what the reference computes.")
        return 1
    print(f"  load it with zoo.create('{spec.name}', pretrained='{out}'), or publish it with "
          f"`zoo push {spec.name} --weights {out} --repo OWNER/NAME`")
    return 0
