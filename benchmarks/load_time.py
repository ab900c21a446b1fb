"""Load time: `import zoo`, `zoo --help`, and `zoo.create(name, pretrained=True)` from a cold and a
warm cache, each in fresh subprocesses, through the real huggingface_hub code path.

    .venv/bin/python benchmarks/load_time.py                          # seresnet50, 5 rounds
    .venv/bin/python benchmarks/load_time.py --model legacy_seresnet18 --repeats 3 --json load.json
    .venv/bin/python benchmarks/load_time.py --profile warm.prof      # + one cProfile'd warm create

Set-up (not timed): a helper process writes a synthetic checkpoint in timm's layout for the
model's weights entry (the default tag, or the tag in the name) - `tests/synth.py`'s recipe over
the model's key layout from `tests/fixtures/<arch>.layout.json`, or, for an arch without a
fixture, over the zoo model's own weight slots (`zoo.convert.weight_slots`) in PyTorch layout; no
torch needed - and a manifest with that entry pointed at a repo of the same name on FakeHub
(`tests/hubtest.py`: `write_manifest` + `hub_source_patch`). FakeHub (`tests/hf_server.py`)
serves it on 127.0.0.1; the real huggingface_hub client reaches it through HF_ENDPOINT.

Each round (interleaved, so machine load hits every phase alike) starts these processes, each
with the environment of `tests/hubtest.py: subprocess_env` (HF_ENDPOINT at FakeHub, private
HF_HUB_CACHE / ZOO_CACHE / HF_HOME in a temp dir, NO_PROXY for localhost,
HF_HUB_DISABLE_PROGRESS_BARS=1, ZOO_MANIFEST = the patched manifest):

    python -c pass                 the interpreter alone (for reference)
    python -c "import zoo"         target: none (it sets the floor of every command)
    zoo --help                     the .venv's console script; target < 1 s
    build                          import + zoo.create(name, pretrained=False)
    cold                           empty HF and zoo caches: import + create(pretrained=True)
                                   (download + checks + conversion + converted-cache write)
    warm                           the caches the cold run left, a new process: import + create(
                                   pretrained=True) (converted-cache load); target < 3 s for create

"total" is the wall time of the whole subprocess as the parent sees it (interpreter start and exit
included); inside it, "import" is `import zoo` + keras/TensorFlow + every model family
(`zoo.factory`, `zoo.pretrained`, `zoo.models`) and "create" is the zoo.create call. The cold and
warm children also time the steps of the weights path by wrapping zoo functions (no zoo code is
changed): cache key (`pretrained._conversion_key`: shapes digest + code digest), download
(`hub._hf_download`: reachability check + HEAD + GET), checks (`pretrained._checked`: safetensors
and sha256), convert+load (`pretrained.load_file`), cache write (`pretrained._save_converted`) and
cached load (`pretrained._load_converted`). "weights" is `pretrained.load_pretrained` as a whole;
create - build is the same difference measured across processes.

FakeHub's request log is read after every child: a cold run must GET the file from /cdn/, a warm
run must make no request at all; both are printed (and a failure is an exit status of 1).

Figures (2026-12-03 12:54 UTC, this 2-core container idle, load average 0.9 before / 1.1 after;
`.venv/bin/python benchmarks/load_time.py`, 5 rounds, 106 s, seresnet50.a1_in1k, 28.1M params,
112.6 MB synthetic checkpoint), median [p25-p75] s:

    python -c pass              0.03 [0.03-0.03]
    python -c "import zoo"      0.05 [0.05-0.07]
    zoo --help                  0.08 [0.07-0.08]    target < 1 s: met (x12 under)
    build    total 6.05  import 3.84  create(pretrained=False) 1.19
    cold     total 7.12  import 3.68  create(pretrained=True)  2.48  weights 1.36: download 0.59,
             checks 0.07, convert+load 0.29, cache write 0.19, other 0.26
    warm     total 6.10  import 3.57  create(pretrained=True)  1.51  weights 0.48: cached load 0.21,
             other 0.28                                        target < 3 s: met (x2.0 under)

A cold create costs 1.0 s more than a warm one (download, checks, conversion and the converted
cache's write); the model build (~1.2 s of graph construction) is most of a warm create, and
`import` (TensorFlow and Keras, ~3.6 s) most of every process. An earlier run on the same machine
under load (load average 2.3-3.3) measured zoo --help 0.23 s, warm create 2.5 s, cold 6.1 s.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))      # hf_server.py (FakeHub); hubtest.py + synth.py in the helper
sys.path.insert(0, str(Path(__file__).resolve().parent))

MARK = "@@LOADTIME "
# the weights steps timed inside create(pretrained=True), in table order; "other": weights - the rest
# (hub_env and the first import of huggingface_hub, the cache lookups, the file lock)
STEPS = ("weights", "cache key", "download", "checks", "convert+load", "cache write", "cached load", "other")
HELP_TARGET_S = 1.0
WARM_CREATE_TARGET_S = 3.0

# --- the helper that writes the synthetic checkpoint and the patched manifest (imports keras) ----

PREPARE = r'''
import hashlib, json, sys
from pathlib import Path

name, out = sys.argv[1], Path(sys.argv[2])
import hubtest, synth
from zoo import registry

spec, tag = registry.resolve(name)
tag = tag or spec.default_tag
if tag is None:
    sys.exit(f"{spec.name} has no published weights: nothing to create with pretrained=True")
entry = registry.entry(spec, tag)
if not entry.on_hub:
    sys.exit(f"{entry.name} is not on the Hugging Face Hub: pretrained=True cannot download it")
repo = entry.hub_repo
filename = entry.source.get("filename") or "model.safetensors"
ckpt = out / "model.safetensors"
if (synth.FIXTURES / f"{spec.name}.layout.json").is_file():
    ckpt.write_bytes(hubtest.checkpoint_bytes(spec.name))
    layout = f"tests/fixtures/{spec.name}.layout.json"
else:   # the zoo model's own weight slots, in PyTorch layout (the inverse of convert.torch_to_keras)
    import keras
    import numpy as np
    import zoo
    from safetensors.numpy import save_file
    from zoo import convert

    model = zoo.create(spec.name, pretrained=False)
    state = {}
    for key, slot in convert.weight_slots(model).items():
        shape, layer = tuple(slot.variable.shape), slot.layer
        if slot.variable.name == "kernel" and isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw, c, m = shape
            shape = (c * m, 1, kh, kw)
        elif slot.variable.name == "kernel" and isinstance(layer, keras.layers.Dense):
            shape = shape[::-1]
        elif slot.variable.name == "kernel" and len(shape) >= 3:
            shape = (shape[-1], shape[-2], *shape[:-2])
        array = synth.synth_tensor(key, shape)
        if tuple(slot.to_keras(array).shape) != tuple(slot.variable.shape):
            sys.exit(f"no fixture for {spec.name} and no PyTorch shape found for {key} {tuple(slot.variable.shape)}")
        state[key] = array
    save_file(state, str(ckpt))
    layout = "zoo.convert.weight_slots of the zoo model"
data = ckpt.read_bytes()
manifest = hubtest.write_manifest(out / "manifest.json", {entry.name: hubtest.hub_source_patch(repo, filename=filename)})
print(json.dumps({"arch": spec.name, "entry": entry.name, "repo": repo, "filename": filename, "layout": layout,
                  "checkpoint": str(ckpt), "bytes": len(data), "manifest": str(manifest),
                  "sha256": hashlib.sha256(data).hexdigest()}))
'''

# --- the timed child ------------------------------------------------------------------------------

CHILD = r'''
import time
t0, e0 = time.perf_counter(), time.time()
import json, sys
name, mode, profile = sys.argv[1], sys.argv[2], sys.argv[3]
import zoo
t_zoo = time.perf_counter()
import zoo.factory, zoo.pretrained, zoo.models, zoo.hub   # keras, TensorFlow, every model family
t_import = time.perf_counter()
steps, hits = {}, []

def wrap(module, attr, label):
    fn = getattr(module, attr)
    def timed(*a, **k):
        s = time.perf_counter()
        try:
            out = fn(*a, **k)
        finally:
            steps[label] = steps.get(label, 0.0) + time.perf_counter() - s
        if attr == "_load_converted":
            hits.append(bool(out))
        return out
    setattr(module, attr, timed)

if mode != "build":
    P, H = zoo.pretrained, zoo.hub
    for m, a, l in ((P, "load_pretrained", "weights"), (P, "_conversion_key", "cache key"),
                    (H, "_hf_download", "download"), (P, "_checked", "checks"), (P, "load_file", "convert+load"),
                    (P, "_save_converted", "cache write"), (P, "_load_converted", "cached load")):
        wrap(m, a, l)
if profile:
    import cProfile
    prof = cProfile.Profile()
    prof.enable()
t1 = time.perf_counter()
model = zoo.create(name, pretrained=(mode != "build"))
t2 = time.perf_counter()
if profile:
    prof.disable()
    prof.dump_stats(profile)
params = int(model.count_params())
print("@@LOADTIME " + json.dumps({"import zoo": t_zoo - t0, "import": t_import - t0, "create": t2 - t1,
                                  "steps": steps, "cache_hits": hits, "params": params, "t0_epoch": e0,
                                  "end_epoch": time.time()}), flush=True)
'''


def _stats(xs: list[float]) -> dict:
    xs = sorted(xs)
    if len(xs) >= 2:
        q = statistics.quantiles(xs, n=4, method="inclusive")
        p25, p75 = q[0], q[2]
    else:
        p25 = p75 = xs[0]
    return {"median": statistics.median(xs), "p25": p25, "p75": p75, "min": xs[0], "max": xs[-1], "n": len(xs),
            "samples": xs}


def _verdict(value: float, target: float) -> str:
    if value <= target:
        return f"met (x{target / value:.1f} under)"
    return f"MISSED by {value - target:.2f} s (x{value / target:.2f})"


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


class Bench:
    def __init__(self, args, work: Path):
        self.args, self.work = args, work
        self.python = args.python
        script = Path(self.python).parent / "zoo"
        self.help_cmd = [str(script), "--help"] if script.is_file() else [self.python, "-m", "zoo", "--help"]
        self.samples: dict[str, list[float]] = {}
        self.requests: dict[str, list[dict]] = {"cold": [], "warm": []}
        self.hub = None
        self.info: dict = {}
        self.params = None

    # --- environment ---
    def env(self, **extra) -> dict:
        """tests/hubtest.py: subprocess_env, with the caches of this benchmark's temp dir."""
        w = self.work
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "ZOO_", "HUGGING"))}
        env.update(HF_ENDPOINT=self.hub.url if self.hub else "http://127.0.0.1:9", HF_HUB_CACHE=str(w / "hf"),
                   ZOO_CACHE=str(w / "zoo"), HF_HOME=str(w / "hf-home"), HF_HUB_DISABLE_PROGRESS_BARS="1",
                   NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=str(ROOT))
        if self.info:
            env["ZOO_MANIFEST"] = self.info["manifest"]
        env.update(extra)
        return env

    def clear_caches(self):
        for d in ("hf", "zoo", "hf-home"):
            shutil.rmtree(self.work / d, ignore_errors=True)

    # --- set-up ---
    def prepare(self):
        from hf_server import FakeHub

        out = self.work / "fixture"
        out.mkdir()
        env = self.env(PYTHONPATH=str(ROOT) + os.pathsep + str(ROOT / "tests"))
        t = time.perf_counter()
        r = subprocess.run([self.python, "-c", PREPARE, self.args.model, str(out)], env=env, capture_output=True,
                           text=True)
        if r.returncode != 0:
            sys.exit(f"preparing the synthetic checkpoint failed:\n{r.stderr[-3000:]}")
        self.info = json.loads(r.stdout.strip().splitlines()[-1])
        ckpt = Path(self.info["checkpoint"])
        self.hub = FakeHub().start()
        self.hub.add_repo(self.info["repo"], {self.info["filename"]: ckpt.read_bytes(),
                                              "config.json": json.dumps({"architecture": self.info["arch"]}).encode()})
        print(f"set-up {time.perf_counter() - t:.1f} s: {self.info['entry']} -> hf-hub:{self.info['repo']} on FakeHub "
              f"{self.hub.url} ({self.info['bytes'] / 1e6:.1f} MB synthetic checkpoint from {self.info['layout']})")

    # --- runs ---
    def _time(self, label: str, cmd: list[str], **extra) -> tuple[float, dict | None, str]:
        if self.hub is not None:
            self.hub.reset_log()
        t, self._launch = time.perf_counter(), time.time()
        r = subprocess.run(cmd, env=self.env(**extra), capture_output=True, text=True)
        wall, self._ended = time.perf_counter() - t, time.time()
        if r.returncode != 0:
            sys.exit(f"{label} failed (exit {r.returncode}): {' '.join(cmd[:3])} ...\n{(r.stderr or r.stdout)[-3000:]}")
        self.samples.setdefault(f"{label}|total", []).append(wall)
        data = None
        for line in r.stdout.splitlines():
            if line.startswith(MARK):
                data = json.loads(line[len(MARK):])
        return wall, data, r.stderr

    def child(self, label: str, mode: str, profile: str = ""):
        wall, data, _ = self._time(label, [self.python, "-c", CHILD, self.args.model, mode, profile])
        if data is None:
            sys.exit(f"{label}: the child printed no timings")
        self.params = data["params"]
        s = self.samples
        s.setdefault(f"{label}|import", []).append(data["import"])
        s.setdefault(f"{label}|create", []).append(data["create"])
        s.setdefault(f"{label}|interpreter start", []).append(data["t0_epoch"] - self._launch)
        s.setdefault(f"{label}|exit (interpreter shutdown)", []).append(self._ended - data["end_epoch"])
        steps = data["steps"]
        if "weights" in steps:
            steps["other"] = steps["weights"] - sum(v for k, v in steps.items() if k != "weights")
        for k in STEPS:
            if k in steps:
                s.setdefault(f"{label}|{'  ' if k != 'weights' else ''}{k}", []).append(steps[k])
        if mode != "build":
            log = self.hub.requests
            self.requests.setdefault(label, []).append({
                "requests": len(log), "cdn_gets": sum(1 for q in log if q.method == "GET" and q.path.startswith("/cdn/")),
                "lines": [f"{q.method} {q.path}" for q in log], "cache_hits": data["cache_hits"],
                "converted_files": len(list((self.work / "zoo").rglob("*.safetensors")))})
        return wall, data

    def round(self, i: int):
        py = self.python
        self._time("python -c pass", [py, "-c", "pass"])
        self._time('python -c "import zoo"', [py, "-c", "import zoo"])
        self._time("zoo --help", self.help_cmd)
        b, _ = self.child("build", "build")
        self.clear_caches()
        c, cd = self.child("cold", "pretrained")
        w, wd = self.child("warm", "pretrained")
        print(f"round {i + 1}/{self.args.repeats}: build {b:.1f} s, cold {c:.1f} s (create {cd['create']:.2f}), "
              f"warm {w:.1f} s (create {wd['create']:.2f}); load average {_loadavg()}", flush=True)


def _report(bench: Bench, args, started: str, load_before: str, load_after: str, elapsed: float) -> tuple[dict, bool]:
    stats = {k: _stats(v) for k, v in bench.samples.items()}
    targets = {"zoo --help|total": HELP_TARGET_S, "warm|create": WARM_CREATE_TARGET_S}
    # create - build across processes: where the weights' time goes
    for label in ("cold", "warm"):
        stats[f"{label}|create - build (medians)"] = {
            "median": stats[f"{label}|create"]["median"] - stats["build|create"]["median"]}

    print(f"\n{bench.info['entry']} ({bench.params / 1e6:.1f}M params, {bench.info['bytes'] / 1e6:.1f} MB), "
          f"{args.repeats} rounds, {started}, load average {load_before} -> {load_after}, {elapsed:.0f} s in all")
    print(f"{'phase':<42} {'median s':>9} {'p25-p75':>13}  {'target':<8} verdict")
    order = ["python -c pass", 'python -c "import zoo"', "zoo --help", "build", "cold", "warm"]
    rows = ["total", "interpreter start", "import", "create", "weights", *(f"  {k}" for k in STEPS[1:]),
            "create - build (medians)", "exit (interpreter shutdown)"]
    for group in order:
        for sub in [r for r in rows if f"{group}|{r}" in stats]:
            key = f"{group}|{sub}"
            st = stats[key]
            name = group if sub == "total" else ("    " if sub in ("weights", "create - build (medians)") or
                                                 sub.startswith(" ") else "  ") + sub
            if sub == "total" and group in ("build", "cold", "warm"):
                name = f"{group}: process total"
            spread = f"{st['p25']:.2f}-{st['p75']:.2f}" if "p25" in st else ""
            target = targets.get(key)
            tcol = f"< {target:g} s" if target else ""
            verdict = _verdict(st["median"], target) if target else ""
            print(f"{name:<42} {st['median']:>9.2f} {spread:>13}  {tcol:<8} {verdict}")

    ok = True
    print("\nrequests to FakeHub (per child):")
    for label in ("cold", "warm"):
        runs = bench.requests[label]
        cdn = [r["cdn_gets"] for r in runs]
        total = [r["requests"] for r in runs]
        hits = [any(r["cache_hits"]) for r in runs]
        if label == "cold":
            good = all(n >= 1 for n in cdn) and not any(hits)
            what = "downloaded the file (GET /cdn/) and converted it" if good else "DID NOT download as expected"
        else:
            good = all(n == 0 for n in total) and all(hits)
            what = "no request at all, converted-cache hit" if good else "MADE REQUESTS or missed the converted cache"
        ok &= good
        print(f"  {label}: requests {total}, /cdn/ GETs {cdn}, converted-cache hit {hits}: {what}")
        if runs and runs[0]["lines"]:
            print("    e.g. " + "; ".join(runs[0]["lines"][:6]))
    figures = {"date": started, "load_average_before": load_before, "load_average_after": load_after,
               "command": " ".join([Path(sys.executable).name, *sys.argv]), "model": args.model,
               "entry": bench.info["entry"], "params": bench.params, "checkpoint_bytes": bench.info["bytes"],
               "repeats": args.repeats, "elapsed_s": elapsed, "cpu_count": os.cpu_count(),
               "targets": {"zoo --help total": HELP_TARGET_S, "warm create": WARM_CREATE_TARGET_S},
               "phases": stats, "requests": bench.requests, "requests_ok": ok}
    return figures, ok


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="seresnet50", help="arch or arch.tag with weights on the Hub (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=5, help="rounds; each phase runs once per round (default: %(default)s)")
    p.add_argument("--json", metavar="PATH", help="write the figures (all samples, request logs) to PATH")
    p.add_argument("--profile", metavar="PATH", help="after the rounds, one more warm create under cProfile: "
                                                     "stats to PATH, top entries printed")
    p.add_argument("--python", default=sys.executable, help="interpreter of the children (default: this one)")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")

    started = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_before, t0 = _loadavg(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zoo-load-time-") as d:
        bench = Bench(args, Path(d))
        try:
            bench.prepare()
            for i in range(args.repeats):
                bench.round(i)
            figures, ok = _report(bench, args, started, load_before, _loadavg(), time.perf_counter() - t0)
            if args.profile:
                prof = str(Path(args.profile).resolve())
                _, data = bench.child("profile", "pretrained", prof)   # the caches are warm after the last round
                import pstats
                print(f"\ncProfile of one warm create ({data['create']:.2f} s in the profiler), top by cumulative time:")
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        finally:
            if bench.hub is not None:
                bench.hub.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
