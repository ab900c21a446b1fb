"""One benchmark for a zoo model: the Keras model (eager, tf.function, XLA, its fused inference
form, and that form frozen: `zoo.inference_function`), its artifacts (SavedModel, TFLite
fp32/fp16/int8/int8-mixed with XNNPACK, ONNX Runtime) and the PyTorch reference on the same
weights, all on the same input, in one process, with the same thread count.

    from export.bench import bench_models, markdown
    report = bench_models(["seresnet50"], batches=(1, 8, 32), threads=2)
    print(markdown(report))

Each target is loaded and warmed up, then the targets of one batch size are timed in turns
(a, b, c, a, b, c, ...) so that a change of load on the machine hits all alike; a row is the
median of its calls with the quartiles as the spread. Only ratios between rows of one run carry
over to another machine. What the columns mean:
- ms: median wall time of one call on a batch (batch 1: latency); img/s = batch / median.
- GFLOP/s: the model's floating-point operations per image (TensorFlow's graph profiler on the
  Keras inference graph, multiply-add = 2; FFTs are not counted) x batch / median; `% peak` is
  that against the machine's fp32 peak for the threads used (`machine_info`).
- peak MB: how far the process' resident-set high-water mark rose while the target was loaded and
  warmed up at that batch (Linux; other targets stay loaded, so it is the target's own increment).
- size MB: the artifact on disk (the Keras rows: its weights in float32).
"""
from __future__ import annotations

import contextlib
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from zoo._quiet import quiet_stderr
from zoo.errors import InvalidArgumentError, ZooError

from .tflite import INTEGER, load_interpreter, xnnpack_coverage, xnnpack_summary

KERAS_TARGETS = ("keras:eager", "keras:function", "keras:xla", "keras:fused", "keras:fused-xla", "keras:frozen")
ARTIFACT_TARGETS = ("saved_model", "tflite:fp32", "tflite:fp16", "tflite:dynamic", "tflite:int8", "tflite:int8-mixed",
                    "onnx")
ALL_TARGETS = KERAS_TARGETS + ARTIFACT_TARGETS + ("torch",)
DEFAULT_TARGETS = tuple(t for t in ALL_TARGETS if t != "tflite:dynamic")
COMPILED_KERAS = tuple(t for t in KERAS_TARGETS if t != "keras:eager")   # eager is not a deployment mode
# the Keras modes that run the inference form (zoo.inference_model), and how each runs it
ON_FUSED = {"fused": "function", "fused-xla": "xla", "frozen": "frozen"}
DEFAULT_BATCHES = (1, 8, 32)
CALIBRATION_IMAGES = 64
TIMED_PER_TURN = 2   # timed calls of a target in each turn, after its untimed settle call (interleaved_times)


# ---------------------------------------------------------------------------------------------
# timing and memory

def interleaved_times(fns: dict, warmup: int, repeats: int, run: int = TIMED_PER_TURN) -> dict[str, list[float]]:
    """Milliseconds of `repeats` timed calls of each zero-argument callable in `fns`, after `warmup`
    untimed calls of each, taken in turns (a, b, a, b, ...) so that a load change hits all alike.

    With more than one callable, each turn is one untimed settle call and then up to `run` timed
    calls: no timed call directly follows another runtime's. PyTorch's OpenMP threads, XNNPACK's
    and TensorFlow's pools keep spinning on the cores for a while after a call; measured
    2026-12-06 (2-core Xeon, mobilevit_xxs batch 1, frozen Keras vs timm), a Keras call right after
    a timm call took 1.40x its time in a run of its own, timm's 1.10x; after one settle call, both
    within noise of their own runs, which is how a deployment calls a model."""
    if run < 1:
        raise ValueError(f"run must be >= 1; got {run}")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    settle = len(fns) > 1
    times = {k: [] for k in fns}
    while any(len(v) < repeats for v in times.values()):
        for k, fn in fns.items():
            if settle:
                fn()
            for _ in range(min(run, repeats - len(times[k]))):
                t = time.perf_counter()
                fn()
                times[k].append(1e3 * (time.perf_counter() - t))
    return times


def summarize(ms: list[float]) -> dict:
    q = statistics.quantiles(ms, n=4) if len(ms) > 1 else [ms[0]] * 3
    return {"ms": statistics.median(ms), "p25_ms": q[0], "p75_ms": q[2], "min_ms": min(ms), "calls": len(ms)}


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@contextlib.contextmanager
def rss_increase(out: dict):
    """out["peak_mb"]: how far the resident set's high-water mark rose inside the block (Linux:
    the mark is reset to the current RSS first); None where the kernel does not tell."""
    before = _status_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")   # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    try:
        yield
    finally:
        hwm = _status_kb("VmHWM")
        out["peak_mb"] = max(0.0, (hwm - before) / 1024) if reset and before is not None and hwm is not None else None


# ---------------------------------------------------------------------------------------------
# the machine and the model

def set_threads(threads: int) -> int:
    """TensorFlow's intra/inter-op threads (before it runs anything); returns what it has."""
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:   # already initialized: keep what it has, say so in the report
        pass
    return tf.config.threading.get_intra_op_parallelism_threads() or (os.cpu_count() or 1)


def _cpuinfo() -> dict:
    info = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
    return info


def flops_per_cycle(cpu: dict) -> tuple[int, str]:
    """fp32 FLOP per cycle per core from the CPU's vector units, and the assumption behind it."""
    flags = set(cpu.get("flags", "").split())
    amd = cpu.get("vendor_id") == "AuthenticAMD"
    family = int(cpu.get("cpu family", "0") or 0)
    if "avx512f" in flags and not (amd and family < 26):
        return 64, "two 512-bit FMA units"
    if "avx512f" in flags:   # AMD Zen 4: AVX-512 executed on two 256-bit FMA pipes
        return 32, "AVX-512 on two 256-bit FMA pipes (AMD Zen 4)"
    if "fma" in flags and "avx2" in flags:
        return 32, "two 256-bit FMA units"
    if platform.machine() in ("aarch64", "arm64"):
        return 16, "two 128-bit NEON FMA units"
    return 8, "SSE, no FMA"


def measure_sgemm(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an n x n float32 TensorFlow matmul with the current threads: the practical peak."""
    import tensorflow as tf
    a = tf.random.normal((n, n), seed=1)
    mm = tf.function(lambda x: tf.linalg.matmul(x, x))
    t = interleaved_times({"mm": lambda: mm(a).numpy()}, 2, repeats)["mm"]
    return 2 * n ** 3 / (statistics.median(t) / 1e3) / 1e9


def machine_info(threads: int) -> dict:
    cpu = _cpuinfo()
    mhz = float(cpu.get("cpu MHz", "0") or 0)
    per_cycle, why = flops_per_cycle(cpu)
    peak = threads * mhz / 1e3 * per_cycle if mhz else None
    return {"cpu": cpu.get("model name", platform.processor() or platform.machine()), "cores": os.cpu_count(),
            "threads": threads, "mhz": mhz or None, "flop_per_cycle": per_cycle, "flop_per_cycle_basis": why,
            "peak_gflops": peak, "sgemm_gflops": measure_sgemm(threads), "python": platform.python_version(),
            "versions": _versions(), "load_before": _load()}


def cpu_steal() -> tuple[int, int] | None:
    """(steal, total) clock ticks of all CPUs so far (Linux /proc/stat), or None: steal is the time
    the hypervisor gave this virtual machine's cores to other machines, which no load average
    shows and which slows every runtime being timed (seen here: 2x on some models for minutes)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if fields[0] != "cpu" or len(fields) < 9:
        return None
    ticks = [int(v) for v in fields[1:9]]   # user nice system idle iowait irq softirq steal
    return ticks[7], sum(ticks)


def steal_pct(before, after) -> float | None:
    """Percent of the CPU time between two `cpu_steal()` readings that was stolen."""
    if not before or not after or after[1] <= before[1]:
        return None
    return 100.0 * (after[0] - before[0]) / (after[1] - before[1])


def _load() -> float | None:
    """The 1-minute load average: above the thread count, other work shared the cores."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _versions() -> dict:
    from importlib import metadata
    out = {}
    for pkg in ("tensorflow", "keras", "ai-edge-litert", "onnxruntime", "torch", "timm"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def model_gflops(model) -> float:
    """GFLOP per image of `model`'s inference graph at batch 1 (TensorFlow's profiler: conv,
    matmul and elementwise ops; multiply-add = 2; FFTs uncounted)."""
    import tensorflow as tf
    from tensorflow.python.profiler import model_analyzer, option_builder
    shape = (1,) + tuple(model.inputs[0].shape[1:])
    fn = tf.function(lambda t: model(t, training=False)).get_concrete_function(tf.TensorSpec(shape, tf.float32))
    opts = option_builder.ProfileOptionBuilder(option_builder.ProfileOptionBuilder.float_operation())
    with quiet_stderr():
        prof = model_analyzer.profile(fn.graph, options=opts.with_empty_output().build())
    return prof.total_float_ops / 1e9


# ---------------------------------------------------------------------------------------------
# the peers

def torch_peer(name: str, num_classes: int | None = None):
    """(PyTorch reference model, where it comes from) for `name`, or (None, why not): timm's model
    when timm has the arch, else the zoo's PyTorch re-implementation of the official code."""
    import sys
    if "tensorflow" in sys.modules and "timm" not in sys.modules:
        # importing timm (torchvision -> triton) after TensorFlow segfaults
        return None, "not measured: timm must be imported before TensorFlow (import timm first)"
    try:
        import torch  # noqa: F401
    except ImportError:
        return None, "torch is not installed (pip install 'attention-zoo[torch]')"
    import zoo
    arch = zoo.model_info(name)["arch"]
    kw = {} if num_classes is None else {"num_classes": num_classes}
    try:
        import timm
        if timm.is_model(arch):
            return timm.create_model(arch, pretrained=False, **kw).eval(), f"timm {timm.__version__}"
    except ImportError:
        pass
    from zoo import torch_ref
    if torch_ref.reference_family(arch):
        return torch_ref.reference_model(arch, **kw).eval(), "official definition (zoo.torch_ref)"
    return None, f"no PyTorch reference for {arch}"


def model_with_peer(name: str, want_torch: bool, img_size=None):
    """(Keras model, torch model or None, peer note): the two on the same weights (a synthetic
    checkpoint in the reference's layout, `export.testing.synth_tensor`, loaded into the torch
    model and through the zoo's converter into Keras); without a peer, stand-in weights with
    realistic batch-norm statistics (`export.testing.data_init`)."""
    import zoo

    from . import testing
    ref, note = torch_peer(name) if want_torch else (None, "not asked for")
    if ref is None:
        return testing.data_init(zoo.create(name, img_size=img_size)), None, note
    import torch
    from safetensors.numpy import save_file
    state = {k: (testing.synth_tensor(k, tuple(v.shape)) if v.is_floating_point() else v.numpy())
             for k, v in ref.state_dict().items()}
    ref.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.safetensors"
        save_file(state, str(path))
        model = zoo.create(name, pretrained=str(path), img_size=img_size)
    return model, ref, note


# ---------------------------------------------------------------------------------------------
# targets: each builds a runner for one batch size

def _export(model, target: str, folder: Path, calib) -> Path:
    from . import to_onnx, to_saved_model, to_tflite
    fmt, _, q = target.partition(":")
    art = folder / target.replace(":", "_")
    if fmt == "saved_model":
        return to_saved_model(model, art, signatures=("float",))
    if fmt == "onnx":
        return to_onnx(model, art.with_suffix(".onnx"))
    if fmt == "tflite":
        return to_tflite(model, art.with_suffix(".tflite"), quantize=q, metadata=False,
                         representative_data=calib if q in INTEGER else None)
    raise InvalidArgumentError(f"unknown bench target {target!r}; choose from {list(ALL_TARGETS)}")


def _size_mb(path: Path) -> float:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
    return path.stat().st_size / 1e6


class _Inputs:
    def __init__(self, model, max_batch: int):
        from . import photos
        from ._cfg import serving_cfg
        cfg = serving_cfg(model)
        raw = photos.verification_photos(max_batch)
        self.pixels = photos.to_pixels(raw, cfg)                         # (N, H, W, 3) float 0..255
        self.x = photos.normalize(self.pixels, cfg).astype(np.float32)   # what the model takes


def _keras_runner(model, mode: str):
    import tensorflow as tf
    if mode == "eager":
        return lambda xb: model(xb, training=False).numpy()
    if mode == "frozen":   # the (already fused) model's graph, weights as constants
        from zoo.inference import inference_function
        fn = inference_function(model, fuse=False)
        return lambda xb: fn(xb).numpy()
    fn = tf.function(lambda t: model(t, training=False), jit_compile=mode == "xla", reduce_retracing=True)
    return lambda xb: fn(xb).numpy()


def _tflite_runner(path: Path, batch: int, threads: int):
    """A runner of the interpreter resized to `batch`, or, where the graph is fixed at batch 1
    (reshapes with the batch in them), of `batch` calls of batch 1, as on a device (`.note` says so)."""
    it = load_interpreter(path, num_threads=threads)
    d = it.get_input_details()[0]
    n, note = 1, ""
    if batch != d["shape"][0]:
        try:
            with quiet_stderr():
                it.resize_tensor_input(d["index"], [batch, *d["shape"][1:]])
                it.allocate_tensors()
            n = batch
        except RuntimeError:
            it = load_interpreter(path, num_threads=threads)
            note = f"batch {batch}: {batch} calls of batch 1 (the graph is fixed at batch 1)"
    out = it.get_output_details()[0]["index"]
    dtype, takes_pixels = d["dtype"], "pixels" in d["name"]

    def run(x, pixels):
        v = (pixels if takes_pixels else x).astype(dtype)
        for i in range(0, len(v), n):
            it.set_tensor(d["index"], v[i:i + n])
            it.invoke()
        return it.get_tensor(out)
    run.note = note
    return run


class Target:
    """One thing to time: its name, the artifact (if any) and a runner factory per batch
    (TFLite: `xnnpack`, what the delegate runs of it, `tflite.xnnpack_coverage`)."""

    def __init__(self, name, make, size_mb=None, note="", xnnpack=None):
        self.name, self.make, self.size_mb, self.note, self.xnnpack = name, make, size_mb, note, xnnpack


def build_targets(model, targets, folder: Path, *, threads: int, torch_model=None, peer_note="",
                  progress: bool = True) -> list[Target]:
    """Export what needs exporting (into `folder`) and return the targets' runner factories.
    A runner takes the batch's (normalized floats, 0..255 pixels) and returns the output."""
    import tensorflow as tf

    from zoo.inference import inference_model
    weights_mb = sum(int(np.prod(w.shape)) for w in model.weights) * 4 / 1e6
    fused = None
    calib = None
    out = []
    it = targets
    if progress:
        from tqdm import tqdm
        it = tqdm(targets, desc=f"bench {model.name}: prepare", unit="target", leave=False)
    for t in it:
        fmt, _, mode = t.partition(":")
        if t in KERAS_TARGETS:
            m = model
            if mode in ON_FUSED:
                fused = fused or inference_model(model)
                m, mode = fused, ON_FUSED[mode]
            run = _keras_runner(m, mode)
            out.append(Target(t, lambda b, run=run: (lambda x, p: run(tf.constant(x))), weights_mb))
        elif t == "torch":
            if torch_model is None:
                out.append(Target(t, None, note=peer_note))
                continue
            import torch
            torch.set_num_threads(threads)

            def make(b, ref=torch_model):
                def run(x, p):
                    with torch.inference_mode():
                        return ref(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
                return run
            out.append(Target(t, make, weights_mb, note=peer_note))
        elif t in ARTIFACT_TARGETS:
            if fmt == "tflite" and mode in INTEGER and calib is None:
                from . import photos
                calib = photos.calibration_data(model, CALIBRATION_IMAGES)
            with quiet_stderr():   # converters' and graph exports' routine warnings
                art = _export(model, t, folder, calib)
            if fmt == "saved_model":
                from .saved_model import find_saved_model
                sig = tf.saved_model.load(str(find_saved_model(art))).signatures["serving_default"]
                make = (lambda b, sig=sig: (lambda x, p: {k: v.numpy() for k, v in sig(image=tf.constant(x)).items()}))
            elif fmt == "onnx":
                from .onnx import ort_session
                s = ort_session(art, threads=threads, spinning=False)
                make = (lambda b, s=s: (lambda x, p: s.run(None, {"image": x})))
            else:
                def make(b, art=art):
                    return _tflite_runner(art, b, threads)
            cov = xnnpack_coverage(load_interpreter(art)) if fmt == "tflite" else None
            out.append(Target(t, make, _size_mb(art), xnnpack=cov))
        else:
            raise InvalidArgumentError(f"unknown bench target {t!r}; choose from {list(ALL_TARGETS)}")
    return out


# ---------------------------------------------------------------------------------------------
# the benchmark

def bench_model(name: str, *, targets=DEFAULT_TARGETS, batches=DEFAULT_BATCHES, warmup: int = 2,
                repeats: int = 10, threads: int = 2, img_size=None, model=None, progress: bool = True,
                peak_gflops: float | None = None) -> dict:
    """Benchmark one model (see the module docstring). `model`: use this Keras model (no torch
    peer unless its weights came from one) instead of building `name`. A batch of B gets
    repeats / sqrt(B) calls (at least 3). The PyTorch peer's logits are compared with the Keras
    model's first (`peer_max_rel_diff`: the same weights, the same function). Returns
    {name, arch, family, img_size, gflop, params, reported, peer, rows: [...]}."""
    import zoo
    bad = [t for t in targets if t not in ALL_TARGETS]
    if bad:
        raise InvalidArgumentError(f"unknown bench target(s) {bad}; choose from {list(ALL_TARGETS)}")
    if not batches or any(int(b) < 1 for b in batches):
        raise InvalidArgumentError(f"batches must be positive integers; got {batches}")
    torch_model, peer_note = None, ""
    if model is None:
        model, torch_model, peer_note = model_with_peer(name, "torch" in targets, img_size)
    elif "torch" in targets:
        peer_note = "not measured: a given model has no known PyTorch twin"
    try:
        info = zoo.model_info(name)
    except ZooError:   # a model the zoo did not create: what its cfg says
        info = {"arch": name, "family": "-", "reported": None}
    gflop = model_gflops(model)
    inputs = _Inputs(model, max(batches))
    parity = None
    if torch_model is not None:
        import torch

        from .deploy import max_rel_diff
        with torch.inference_mode():
            ref = torch_model(torch.from_numpy(np.ascontiguousarray(inputs.x[:2].transpose(0, 3, 1, 2)))).numpy()
        parity = max_rel_diff(ref, model(inputs.x[:2], training=False).numpy())
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tgts = build_targets(model, list(targets), Path(d), threads=threads, torch_model=torch_model,
                             peer_note=peer_note, progress=progress)
        live = [t for t in tgts if t.make is not None]
        stolen = cpu_steal()
        for b in batches:
            x, p = inputs.x[:b], inputs.pixels[:b]
            fns, mem, runs = {}, {}, {}
            for t in live:
                mem[t.name] = {}
                try:
                    with rss_increase(mem[t.name]):
                        run = t.make(b)
                        run(x, p)
                except Exception as e:  # noqa: BLE001 - e.g. a fixed-batch artifact: a row that says so
                    rows.append({"target": t.name, "batch": b, "ms": None,
                                 "note": f"cannot run batch {b}: {' '.join(str(e).split())[:120]}"})
                    continue
                fns[t.name] = lambda run=run: run(x, p)
                runs[t.name] = getattr(run, "note", "")
            reps = max(3, round(repeats / max(1, b) ** 0.5))
            times = interleaved_times(fns, warmup, reps)
            for t in live:
                if t.name not in times:
                    continue
                s = summarize(times[t.name])
                rows.append({"target": t.name, "batch": b, **s, "img_per_s": 1e3 * b / s["ms"],
                             "gflops": gflop * b / (s["ms"] / 1e3), "peak_mb": mem[t.name].get("peak_mb"),
                             "size_mb": t.size_mb, "note": runs[t.name] or t.note,
                             **({"xnnpack": t.xnnpack} if t.xnnpack else {})})
        stolen = steal_pct(stolen, cpu_steal())
        for t in tgts:
            if t.make is None:
                rows.append({"target": t.name, "batch": None, "ms": None, "note": t.note})
    if peak_gflops:   # against the fp32 peak: float rows only
        for r in rows:
            if r.get("gflops") and r["target"] not in ("tflite:dynamic", *(f"tflite:{q}" for q in INTEGER)):
                r["pct_peak"] = 100 * r["gflops"] / peak_gflops
    return {"name": name, "arch": info["arch"], "family": info["family"], "img_size": int(inputs.x.shape[1]),
            "gflop": gflop, "params": int(sum(int(np.prod(w.shape)) for w in model.weights if w.trainable)),
            "reported": info.get("reported"), "peer": peer_note, "peer_max_rel_diff": parity, "steal_pct": stolen,
            "rows": rows}


def bench_models(names, *, targets=DEFAULT_TARGETS, batches=DEFAULT_BATCHES, warmup: int = 2, repeats: int = 10,
                 threads: int = 2, img_size=None, progress: bool = True, on_model=None) -> dict:
    """bench_model for each name in one process, with the machine's description; the report
    `markdown` takes. After each model the Keras session is cleared (`release`: models built
    before the call stay usable, but Keras' global state and auto-names restart) and
    `on_model(report)` is called with the report so far (a long run saves it there). The torch target needs
    timm imported before TensorFlow is (`import timm` first: the other order segfaults in triton)."""
    threads = set_threads(threads)
    machine = machine_info(threads)
    start = cpu_steal()
    report = {"machine": machine, "settings": {"batches": list(batches), "warmup": warmup, "repeats_batch1": repeats,
                                               "threads": threads, "timed_per_turn": TIMED_PER_TURN},
              "date": time.strftime("%Y-%m-%d"), "models": []}
    for name in names:
        report["models"].append(bench_model(name, targets=targets, batches=batches, warmup=warmup, repeats=repeats,
                                            threads=threads, img_size=img_size, progress=progress,
                                            peak_gflops=machine["peak_gflops"]))
        machine["load_after"] = _load()
        machine["steal_pct"] = steal_pct(start, cpu_steal())
        release()
        if on_model:
            on_model(report)
    return report


def release() -> None:
    """Free what one model's benchmark left behind (Keras' graph state, TF function caches,
    interpreters): without it a long run grows by gigabytes per model."""
    import gc

    import keras
    keras.backend.clear_session()
    gc.collect()


# ---------------------------------------------------------------------------------------------
# reading a report

def row(model_report: dict, target: str, batch: int) -> dict | None:
    for r in model_report["rows"]:
        if r["target"] == target and r["batch"] == batch and r.get("ms"):
            return r
    return None


def best_keras(model_report: dict, batch: int, modes=COMPILED_KERAS) -> dict | None:
    """The fastest compiled Keras row at `batch` (eager is not a deployment mode)."""
    rows = [r for t in modes if (r := row(model_report, t, batch))]
    return min(rows, key=lambda r: r["ms"]) if rows else None


def _f(v, fmt="{:.1f}"):
    return "-" if v is None else fmt.format(v)


def _turns(settings: dict) -> str:
    """How the report's calls took turns (reports before 2026-12-06 timed every call in turn)."""
    if not settings.get("timed_per_turn"):
        return "targets took turns call by call (a call could follow another runtime's, whose threads still spin)."
    return (f"targets take turns, each turn one untimed call (another runtime's threads still spin after its "
            f"call) and then {settings['timed_per_turn']} timed.")


def markdown(report: dict) -> str:
    """The report as Markdown: the machine, then one table per model."""
    m = report["machine"]
    s = report["settings"]
    peak = f"{m['peak_gflops']:.0f}" if m.get("peak_gflops") else "unknown"
    lines = [f"Machine: {m['cpu']}, {m['threads']} threads of {m['cores']} cores at {m['mhz'] or '?'} MHz; fp32 peak "
             f"{peak} GFLOP/s ({m['flop_per_cycle']} FLOP/cycle/core: {m['flop_per_cycle_basis']}); a 2048x2048 "
             f"float32 TensorFlow matmul reaches {m['sgemm_gflops']:.0f} GFLOP/s"
             + (" (above the peak: the cores run faster than the clock /proc/cpuinfo reports, so `% peak` "
                "overstates; read it as relative)" if m.get("peak_gflops") and m.get("sgemm_gflops", 0) >
                m["peak_gflops"] else "") + "; load average "
             f"{m.get('load_before')} before, {m.get('load_after')} after (above {m['threads']}: other work shared "
             f"the cores, and PyTorch suffers most from that)"
             + (f"; CPU steal {m['steal_pct']:.1f} % of the run (time the hypervisor gave these cores to other "
                f"machines)" if m.get("steal_pct") is not None else "") + ". "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
             "",
             f"Each row: median of timed calls (batch 1: {s['repeats_batch1']}, fewer for larger batches) after "
             f"{s['warmup']} warm-up calls, p25-p75 in brackets; " + _turns(s) + " `vs torch`: the row's median "
             "over the PyTorch model's at the same batch (below 1: faster)."]
    for mr in report["models"]:
        lines += ["", f"### {mr['name']} ({mr['family']}, {mr['img_size']} px, {mr['gflop']:.2f} GFLOP/image, "
                      f"{mr['params'] / 1e6:.1f} M params)", "",
                  f"PyTorch peer: {mr['peer'] or '-'}"
                  + (f" (its logits vs Keras: max |diff| {mr['peer_max_rel_diff']:.1g} x max|logits|)."
                     if mr.get("peer_max_rel_diff") is not None else ".") + _steal_note(mr.get("steal_pct")), ""]
        batches = sorted({r["batch"] for r in mr["rows"] if r.get("batch")})
        head = ["target"] + [f"b{b} ms" for b in batches] + [f"b{b} vs torch" for b in batches if b <= 8] + \
            [f"b{batches[-1]} img/s", "b1 GFLOP/s (% peak)", "peak MB (b1)", "size MB"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        seen = []
        for r in mr["rows"]:
            if r["target"] not in seen:
                seen.append(r["target"])
        for t in seen:
            cells = [t]
            for b in batches:
                r = row(mr, t, b)
                cells.append(f"{r['ms']:.1f} [{r['p25_ms']:.1f}-{r['p75_ms']:.1f}]" if r else "-")
            for b in batches:
                if b > 8:
                    continue
                r, ref = row(mr, t, b), row(mr, "torch", b)
                cells.append(f"{r['ms'] / ref['ms']:.2f}x" if r and ref else "-")
            r_last, r1 = row(mr, t, batches[-1]), row(mr, t, 1)
            cells.append(_f(r_last and r_last["img_per_s"]))
            pct = f" ({r1['pct_peak']:.0f}%)" if r1 and "pct_peak" in r1 else ""
            cells.append(f"{r1['gflops']:.0f}{pct}" if r1 else "-")
            cells.append(_f(r1 and r1.get("peak_mb"), "{:.0f}"))
            any_r = next((x for x in mr["rows"] if x["target"] == t), {})
            cells.append(_f(any_r.get("size_mb")))
            lines.append("| " + " | ".join(cells) + " |")
        notes = [f"{r['target']}: {r['note']}" for r in mr["rows"] if r.get("note") and r["target"] != "torch"]
        notes += [f"{r['target']}: XNNPACK {xnnpack_summary(r['xnnpack'])}" for r in mr["rows"]
                  if r.get("xnnpack") and r["xnnpack"]["undelegated"]]
        lines += [f"- {n}" for n in dict.fromkeys(notes)]
    return "\n".join(lines)


def _steal_note(pct) -> str:
    """What the CPU steal during a model's timing means for its figures ("" when negligible)."""
    if pct is None or pct < 1:
        return ""
    return (f" While it was timed the hypervisor gave {pct:.0f} % of these cores' time to other machines (CPU "
            f"steal): a runtime whose threads wait for each other loses more than that share, so its milliseconds "
            f"are slower than on a quiet machine; its ratios, measured in turns, hold better.")


def format_rows(rows) -> str:
    """Plain-text table of one model's rows (the CLI's default output)."""
    lines = [f"{'target':16s} {'batch':>5s} {'median ms':>10s} {'p25-p75':>15s} {'img/s':>8s} {'GFLOP/s':>8s}"]
    for r in rows:
        if not r.get("ms"):
            lines.append(f"{r['target']:16s} {'':>5s} {'-':>10s}  {r.get('note', '')}")
            continue
        lines.append(f"{r['target']:16s} {r['batch']:5d} {r['ms']:10.2f} {r['p25_ms']:7.2f}-{r['p75_ms']:<7.2f} "
                     f"{r['img_per_s']:8.1f} {r['gflops']:8.1f}")
    return "\n".join(lines)
