"""The zoo's benchmark table and chart (docs/benchmarks.md, .json, .png), one command:

    .venv/bin/python benchmarks/bench.py --write-docs          # ~1 h on 2 cores; run it on an idle machine
    .venv/bin/python benchmarks/bench.py seresnet50 --batches 1 8   # any models, printed (as `zoo bench`)

--write-docs (and --from-json into docs/) also refills the generated blocks of README.md and the
family pages (`PAGES`): README's summary table and each page's runtime table, so no figure there
is copied by hand; tests/test_docs.py checks that they match docs/benchmarks.json.

The full set: the models issue 16 names (seresnet50, seresnext50_32x4d, coatnet_0_rw_224,
mobilevitv2_050, mobilevit_xxs) and the two families timm does not have (gfnet_xs, parnet_s) with
every target at batch 1, 8 and 32 (`export.bench`: Keras eager / tf.function / XLA / fused
inference form / that form frozen, SavedModel, TFLite fp32 / fp16 / int8 with XNNPACK, ONNX Runtime, and the PyTorch
model on the same synthetic weights), then more variants of each family with published accuracy
at batch 1 (Keras fused inference form only) for the chart: the source's reported ImageNet top-1
against the measured Keras batch-1 latency. Same threads for every runtime (--threads, default 2).
With the torch extra installed the PyTorch rows come from timm 1.0.31 (or, for GFNet and ParNet,
the official definitions re-implemented in zoo/torch_ref); without it they are left out.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FULL = ("seresnet50", "seresnext50_32x4d", "coatnet_0_rw_224", "mobilevitv2_050", "mobilevit_xxs",
        "gfnet_xs", "parnet_s")
CHART_ONLY = ("seresnext26d_32x4d", "ecaresnet26t", "ecaresnet50d", "legacy_seresnet18", "legacy_seresnet50",
              "skresnet18", "skresnet34", "coatnet_nano_rw_224", "coatnet_rmlp_nano_rw_224", "mobilevit_xs",
              "mobilevit_s", "mobilevitv2_075", "mobilevitv2_100", "gfnet_ti", "gfnet_h_ti")
CHART_TARGETS = ("keras:fused",)
DOCS = ROOT / "docs"
PARTIAL = ROOT / "build" / "bench-report.json"
# pages with generated blocks: `<!-- bench:summary -->` (README's table), `<!-- bench:NAME ... -->`
# (a runtime table of those models) or `<!-- bench:targets NAME ... -->` (issue 16's verdicts on
# them), each closed by `<!-- /bench -->`; --write-docs refills them
PAGES = (ROOT / "README.md", DOCS / "coatnet.md", DOCS / "mobilevit.md", DOCS / "gfnet.md", DOCS / "parnet.md")
RUNTIMES = {"keras:function": "Keras, tf.function", "keras:xla": "Keras under XLA",
            "keras:fused": "Keras, `zoo.inference_model` (fused inference form)",
            "keras:fused-xla": "... same under XLA",
            "keras:frozen": "Keras, `zoo.inference_function` (the fused form frozen)",
            "saved_model": "SavedModel (serves the inference form)",
            "tflite:fp32": "TFLite fp32, XNNPACK", "tflite:fp16": "TFLite fp16, XNNPACK", "tflite:int8": "TFLite int8",
            "tflite:int8-mixed": "TFLite int8-mixed", "onnx": "ONNX Runtime", "torch": "PyTorch peer (eager)"}


def targets_met(report: dict) -> list[tuple[str, float | None, str]]:
    """Each of issue 16's must-show ratios that the report can answer: (line, ratio, verdict)."""
    from export.bench import best_keras, row
    out = []
    by = {m["name"]: m for m in report["models"]}

    def add(what, value, target, smaller=True):
        if value is None:
            out.append((what, None, "not measured"))
            return
        ok = value <= target if smaller else value >= target
        margin = target / value if smaller else value / target
        out.append((what, value, f"{'met' if ok else 'MISSED'} ({margin:.2f}x of the target {target:g})"))

    for name in ("seresnet50", "seresnext50_32x4d", "coatnet_0_rw_224", "mobilevitv2_050", "mobilevit_xxs"):
        m = by.get(name)
        for b in (1, 8):
            k, t = (best_keras(m, b), row(m, "torch", b)) if m else (None, None)
            add(f"{name} Keras (best compiled: {k['target'] if k else '-'}) / torch, batch {b}",
                k["ms"] / t["ms"] if k and t else None, 0.8)
    for m in report["models"]:
        t1 = row(m, "torch", 1)
        lite = row(m, "tflite:fp32", 1)
        if t1 and lite:
            add(f"{m['name']} TFLite fp32 / torch, batch 1", lite["ms"] / t1["ms"], 0.6)
        cnn = m["family"] in ("seresnet", "ecaresnet", "legacy_senet", "skresnet", "parnet")
        for q in ("int8", "int8-mixed"):   # int8-mixed where the report has it
            i8 = row(m, f"tflite:{q}", 1)
            if t1 and i8:
                add(f"{m['name']} {q} speed-up over torch, batch 1", t1["ms"] / i8["ms"], 4.0 if cnn else 2.5,
                    smaller=False)
            if lite and i8:
                add(f"{m['name']} {q} size reduction vs fp32", lite["size_mb"] / i8["size_mb"], 3.5, smaller=False)
    def at(m, t):   # batch 1; "keras": the model's best compiled Keras mode
        return (best_keras(m, 1) if t == "keras" else row(m, t, 1)) if m else None

    ref = by.get("seresnet50")
    for name in ("gfnet_xs", "parnet_s"):
        m = by.get(name)
        for t in ("keras", "saved_model", "tflite:fp32", "tflite:int8", "onnx"):
            a, b = at(m, t), at(ref, t)
            label = f"Keras (best compiled: {a['target'] if a else '-'} vs {b['target'] if b else '-'})" \
                if t == "keras" else t
            add(f"{name} GFLOP/s / seresnet50's, {label}, batch 1", a["gflops"] / b["gflops"] if a and b else None,
                1.0, smaller=False)
    return out


def chart(report: dict, path: Path) -> Path:
    """Reported top-1 vs measured Keras batch-1 latency, one line per family."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from export.bench import row
    fams = {}
    for m in report["models"]:
        r = row(m, "keras:fused", 1)
        top1 = (m.get("reported") or {}).get("top1")
        if r and top1:
            fams.setdefault(m["family"], []).append((r["ms"], top1, m["name"]))
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for fam, pts in sorted(fams.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=fam)
        for ms, top1, name in pts:
            ax.annotate(name, (ms, top1), fontsize=6, xytext=(3, 3), textcoords="offset points")
    mach = report["machine"]
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel(f"Keras batch-1 latency, ms (fused inference form, tf.function; {mach['threads']} threads, "
                  f"{mach['cpu']})")
    ax.set_ylabel("ImageNet top-1, % (as the weights' source reports it)")
    ax.set_title(f"attention-zoo: reported accuracy vs measured latency ({report['date']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def summary_table(report: dict) -> str:
    """README's table: per model of the full set, batch-1 ms of the fastest compiled Keras form,
    the PyTorch peer, TFLite fp32 and both int8s, each against the peer."""
    from export.bench import best_keras, row
    lines = ["| model | Keras (fastest compiled) | PyTorch peer | TFLite fp32 | TFLite int8 | TFLite int8-mixed |",
             "|---|---|---|---|---|---|"]
    for m in report["models"]:
        if m["name"] not in FULL:
            continue
        t = row(m, "torch", 1)

        def cell(r, speedup=False):
            if not r:
                return "-"
            if not t:
                return f"{r['ms']:.1f}"
            ratio = t["ms"] / r["ms"]
            if speedup:
                return f"{r['ms']:.1f} ({ratio:.1f}x faster)" if ratio >= 1 else f"{r['ms']:.1f} ({1 / ratio:.1f}x slower)"
            return f"{r['ms']:.1f} ({r['ms'] / t['ms']:.2f}x)"
        lines.append(f"| {m['name']} | {cell(best_keras(m, 1))} | {_ms(t)} | {cell(row(m, 'tflite:fp32', 1))} | "
                     f"{cell(row(m, 'tflite:int8', 1), True)} | {cell(row(m, 'tflite:int8-mixed', 1), True)} |")
    return "\n".join(lines)


def _ms(r, batch_note=False):
    if not r:
        return "-"
    calls = " (8 calls)" if batch_note and "calls of batch 1" in (r.get("note") or "") else ""
    return f"{r['ms']:.1f}{calls}" if r["ms"] < 200 else f"{r['ms']:.0f}{calls}"


def _models(report: dict, names) -> list[dict]:
    """The named models' reports, in order; a ValueError naming those the report lacks."""
    by = {m["name"]: m for m in report["models"]}
    missing = [n for n in names if n not in by]
    if missing:
        raise ValueError(f"the report has no model {missing}")
    return [by[n] for n in names]


def runtime_table(report: dict, names: list[str]) -> str:
    """Median ms at batch 1 and 8 of every runtime for `names`, side by side, and batch 1 against
    each model's PyTorch peer."""
    from export.bench import row
    ms = _models(report, names)
    head = ["runtime"] + [c for n in names for c in (f"{n} b1", "b8", "vs PyTorch, b1")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t, label in RUNTIMES.items():
        if not any(row(m, t, 1) for m in ms):
            continue
        cells = [label]
        for m in ms:
            r1, peer = row(m, t, 1), row(m, "torch", 1)
            cells += [_ms(r1), _ms(row(m, t, 8), batch_note=True),
                      f"{r1['ms'] / peer['ms']:.2f}x" if r1 and peer else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


BLOCK = re.compile(r"(<!-- bench:([^>]*?) -->\n)(.*?)(<!-- /bench -->)", re.S)


def targets_table(report: dict, names: list[str] | None = None) -> str:
    """Issue 16's verdicts (`targets_met`), all of them or those on the named models."""
    if names is not None and not _models(report, names):
        raise ValueError("bench:targets needs model names")
    lines = ["| check | measured | verdict |", "|---|---|---|"]
    for what, value, verdict in targets_met(report):
        if names is None or what.split(" ", 1)[0] in names:
            lines.append(f"| {what} | {'-' if value is None else format(value, '.2f')} | {verdict} |")
    return "\n".join(lines)


def measured_line(report: dict, names=()) -> str:
    """Where and when the report was measured (and, per model in `names`, its size and how close
    its PyTorch peer's logits were), so that no page copies that by hand; "" without a machine."""
    m = report.get("machine")
    if not m:
        return ""
    text = (f"Measured {report.get('date', '?')} on {m['cpu']}, {m['threads']} threads of {m['cores']} cores "
            f"(load average {m.get('load_before')} before, {m.get('load_after')} after"
            + (f"; CPU steal {m['steal_pct']:.1f} %" if m.get("steal_pct") is not None else "") + ")")
    for x in _models(report, names):
        n = x["name"]
        peer = f", PyTorch peer's logits within {x['peer_max_rel_diff']:.1g} of ours" \
            if x.get("peer_max_rel_diff") is not None else ""
        steal = f", {x['steal_pct']:.0f} % CPU steal while it was timed" if (x.get("steal_pct") or 0) >= 1 else ""
        text += f"; {n} at {x['img_size']} px, {x['gflop']:.1f} GFLOP/image{peer}{steal}"
    return text + ".\n\n"


def block_body(report: dict, spec: str) -> str:
    """What a `<!-- bench:SPEC -->` block holds: where it was measured, then README's summary or
    the named models' runtimes."""
    names = spec.split()
    if names == ["summary"]:
        return measured_line(report) + summary_table(report)
    if names[:1] == ["targets"]:
        return targets_table(report, names[1:])
    return measured_line(report, names) + runtime_table(report, names)


def fill_pages(report: dict, pages=PAGES) -> list[Path]:
    """Refill every generated block of `pages` from `report`; returns the pages that changed. A
    block opened and not closed, or naming a model the report lacks, is an error (nothing written)."""
    new = {}
    for page in pages:
        text = Path(page).read_text()
        if text.count("<!-- bench:") != text.count("<!-- /bench -->"):
            raise ValueError(f"{page}: every `<!-- bench:... -->` needs its `<!-- /bench -->`")

        def table(mt, page=page):
            try:
                body = block_body(report, mt.group(2))
            except ValueError as e:
                raise ValueError(f"{page}: {e}") from None
            return f"{mt.group(1)}{body}\n{mt.group(4)}"
        filled = BLOCK.sub(table, text)
        if filled != text:
            new[Path(page)] = filled
    for page, text in new.items():
        page.write_text(text)
    return list(new)


def write_docs(report: dict, folder: Path = DOCS, command: str = "") -> list[Path]:
    from export.bench import markdown
    folder.mkdir(parents=True, exist_ok=True)
    js = folder / "benchmarks.json"
    js.write_text(json.dumps(report, indent=1, default=str) + "\n")
    png = chart(report, folder / "benchmarks.png")
    lines = ["# Benchmarks", "",
             f"Generated by `{command or '.venv/bin/python benchmarks/bench.py --write-docs'}` on {report['date']}; "
             "do not edit by hand (the figures: benchmarks.json). Only ratios between rows of one run carry over to "
             "another machine. Weights: one synthetic checkpoint per model in the PyTorch reference's layout, "
             "loaded into both sides (latency does not depend on the values); input: the verification photos with "
             "the model's own preprocessing."
             + (f" The run was resumed (`--resume`) after {', '.join(report['resumed'])}: the models after them were "
                "measured in a second process." if report.get("resumed") else ""), "",
             "![reported top-1 vs measured latency](benchmarks.png)", "",
             "## Issue 16's targets", "", targets_table(report)]
    lines += ["", "## Every model", "", markdown(report), ""]
    md = folder / "benchmarks.md"
    md.write_text("\n".join(lines))
    return [md, js, png]


def _pages(report, out: Path) -> list[Path]:
    """README's and the family pages' blocks, when the docs go to docs/ (not another --out) and the
    report is of the full set."""
    names = {m["name"] for m in report["models"]}
    if Path(out).resolve() != DOCS.resolve() or not set(FULL) <= names:
        return []
    return fill_pages(report)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="models (default with --write-docs: the full set)")
    p.add_argument("--write-docs", action="store_true", help="run the full set and write docs/benchmarks.*")
    p.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--out", type=Path, default=DOCS, help="--write-docs folder (default docs/)")
    p.add_argument("--from-json", type=Path, metavar="REPORT",
                   help="write the docs from a report this script saved (benchmarks.json, or the partial one "
                        "a long run keeps in build/bench-report.json) instead of measuring")
    p.add_argument("--resume", action="store_true",
                   help="with --write-docs: keep the models a stopped run saved in build/bench-report.json and "
                        "measure only the rest")
    args = p.parse_args(argv)
    if args.resume and not (args.write_docs and PARTIAL.is_file()):
        p.error(f"--resume needs --write-docs and a saved partial report ({PARTIAL})")
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        for f in write_docs(report, args.out, report.get("command", "")) + _pages(report, args.out):
            print(f"wrote {f}")
        return 0
    try:
        import timm  # noqa: F401 - before TensorFlow (the other order segfaults in triton)
    except ImportError:
        pass
    from export.bench import DEFAULT_TARGETS, bench_models, markdown
    names = list(args.names) or (list(FULL) if args.write_docs else ["seresnet50"])
    kw = dict(warmup=args.warmup, repeats=args.repeats, threads=args.threads)
    given = sys.argv[1:] if argv is None else list(argv)
    command = "python " + " ".join(["benchmarks/bench.py", *[a for a in given if a != "--resume"]])
    known, saved = {}, None   # name -> model report: those kept by --resume, then each one measured
    if args.resume:
        saved = json.loads(PARTIAL.read_text())
        if saved.get("command") != command:
            p.error(f"--resume: the saved report is of `{saved.get('command')}`, not `{command}`")
        known = {m["name"]: m for m in saved["models"]}
        print(f"resuming: {len(known)} models kept from {PARTIAL} ({', '.join(known)})")
    kept = list(known)

    def save(partial):   # after each model; with --write-docs, --resume / --from-json start from the file
        known.update((m["name"], m) for m in partial["models"])
        if args.write_docs:
            PARTIAL.parent.mkdir(parents=True, exist_ok=True)
            PARTIAL.write_text(json.dumps({**partial, "models": list(known.values()), "command": command},
                                          indent=1, default=str) + "\n")

    def measure(which, **extra):
        todo = [n for n in which if n not in known]
        rep = bench_models(todo, on_model=save, **kw, **extra) if todo else saved
        return {**rep, "models": [known[n] for n in which]}

    report = measure(names, targets=DEFAULT_TARGETS, batches=tuple(args.batches))
    report["command"] = command
    if kept:
        report["resumed"] = kept
    if args.write_docs and not args.names:   # the chart's other variants: batch 1, Keras only
        report["models"] += measure(CHART_ONLY, targets=CHART_TARGETS, batches=(1,))["models"]
    if args.write_docs:
        for f in write_docs(report, args.out, command) + _pages(report, args.out):
            print(f"wrote {f}")
    else:
        print(markdown(report))
    for what, value, verdict in targets_met(report):
        print(f"{what}: {'-' if value is None else format(value, '.2f')} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
