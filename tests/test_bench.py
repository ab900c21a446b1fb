"""`export.bench` / `zoo bench` / benchmarks/bench.py: what a report holds, how it is read, and
the options' errors. Timings themselves are not asserted (they belong to the benchmark's run)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from export import bench
from export_helpers import MEAN, STD, tiny_model
from zoo.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _tiny():
    m = tiny_model(keras.layers.BatchNormalization(name="bn"))
    m.pretrained_cfg = {"mean": MEAN, "std": STD, "num_classes": 10, "labels": [f"c{i}" for i in range(10)]}
    return m


def test_a_report_has_every_target_and_batch_with_its_spread_memory_and_flops():
    m = _tiny()
    r = bench.bench_model("tiny", model=m, targets=("keras:eager", "keras:function", "keras:fused", "tflite:fp32",
                                                     "tflite:int8", "torch"),
                          batches=(1, 3), warmup=1, repeats=3, progress=False, peak_gflops=100.0)
    # conv 3x3x3 -> 8 on 32x32 (multiply-add = 2) and the classifier: what the profiler must count at least
    assert r["gflop"] >= (2 * 32 * 32 * 8 * 27 + 2 * 8 * 10) / 1e9
    rows = {(x["target"], x["batch"]): x for x in r["rows"]}
    for t in ("keras:eager", "keras:function", "keras:fused", "tflite:fp32", "tflite:int8"):
        for b in (1, 3):
            x = rows[(t, b)]
            assert x["p25_ms"] <= x["ms"] <= x["p75_ms"] and x["min_ms"] <= x["ms"]
            assert x["img_per_s"] == pytest.approx(1e3 * b / x["ms"])
            assert x["gflops"] == pytest.approx(r["gflop"] * b / (x["ms"] / 1e3))
            assert x["peak_mb"] is None or x["peak_mb"] >= 0
            assert x["size_mb"] > 0
    assert rows[("keras:fused", 1)]["calls"] == 3 and rows[("keras:fused", 3)]["calls"] == 3
    assert "pct_peak" in rows[("tflite:fp32", 1)] and "pct_peak" not in rows[("tflite:int8", 1)]
    assert rows[("torch", None)]["ms"] is None and "PyTorch twin" in rows[("torch", None)]["note"]
    md = bench.markdown({"machine": bench.machine_info(1), "settings": {"batches": [1, 3], "warmup": 1,
                                                                        "repeats_batch1": 3, "threads": 1},
                         "date": "today", "models": [r]})
    assert "### tiny" in md and "| keras:fused |" in md and "| tflite:int8 |" in md
    assert json.loads(json.dumps(r, default=str))["rows"]


def test_unknown_targets_and_batches_are_errors():
    with pytest.raises(bench.InvalidArgumentError, match="unknown bench target"):
        bench.bench_model("tiny", model=_tiny(), targets=("keras:jit",), progress=False)
    with pytest.raises(bench.InvalidArgumentError, match="batches"):
        bench.bench_model("tiny", model=_tiny(), targets=("keras:function",), batches=(0,), progress=False)


def test_flops_per_cycle_reads_the_vector_units():
    zen4 = {"vendor_id": "AuthenticAMD", "cpu family": "25", "flags": "fma avx2 avx512f"}
    zen5 = {"vendor_id": "AuthenticAMD", "cpu family": "26", "flags": "fma avx2 avx512f"}
    intel = {"vendor_id": "GenuineIntel", "cpu family": "6", "flags": "fma avx2 avx512f"}
    assert bench.flops_per_cycle(zen4)[0] == 32 and bench.flops_per_cycle(zen5)[0] == 64
    assert bench.flops_per_cycle(intel)[0] == 64
    assert bench.flops_per_cycle({"flags": "fma avx2"})[0] == 32


def test_rss_increase_sees_an_allocation():
    out = {}
    with bench.rss_increase(out):
        block = np.ones(64 * 2 ** 20 // 8)   # 64 MB, touched
    if Path("/proc/self/clear_refs").exists():   # Linux: the high-water mark can be reset
        assert out["peak_mb"] >= 50
    else:
        assert out["peak_mb"] is None
    del block


def test_cli_checks_its_options_first(capsys):
    assert main(["bench"]) == 1
    assert "name at least one model" in capsys.readouterr().err
    assert main(["bench", "seresnet18", "--targets", "keras:jit"]) == 1
    assert "unknown --targets" in capsys.readouterr().err
    assert main(["bench", "--accuracy", "/no/such/folder"]) == 1
    assert "no such folder" in capsys.readouterr().err


def _docs_script():
    spec = importlib.util.spec_from_file_location("bench_docs", ROOT / "benchmarks" / "bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _row(target, batch, ms, **kw):
    return {"target": target, "batch": batch, "ms": ms, "p25_ms": ms, "p75_ms": ms, "min_ms": ms, "calls": 3,
            "img_per_s": 1e3 * batch / ms, "gflops": kw.pop("gflops", 8.0 * batch / ms * 1e3), "peak_mb": 1.0,
            "size_mb": kw.pop("size_mb", 100.0), "note": ""}


def test_targets_and_chart_from_a_report(tmp_path):
    """The docs command's verdicts follow the issue's rules, and the chart and tables are written."""
    doc = _docs_script()
    se = {"name": "seresnet50", "family": "seresnet", "img_size": 224, "gflop": 8.2, "params": 28e6, "peer": "timm",
          "reported": {"top1": 80.0},
          "rows": [_row("keras:function", 1, 90), _row("keras:fused", 1, 70), _row("torch", 1, 100),
                   _row("keras:fused", 8, 500), _row("torch", 8, 600), _row("tflite:fp32", 1, 50),
                   _row("tflite:int8", 1, 20, size_mb=25.0)]}
    gf = {"name": "gfnet_xs", "family": "gfnet", "img_size": 224, "gflop": 5.6, "params": 16e6, "peer": "ref",
          "reported": {"top1": 78.6},
          "rows": [_row("keras:fused", 1, 80, gflops=70.0), _row("tflite:fp32", 1, 40)]}
    se["rows"][1]["gflops"] = 117.0
    report = {"machine": {"cpu": "cpu", "threads": 2, "cores": 2, "mhz": 2600, "peak_gflops": 166,
                          "flop_per_cycle": 32, "flop_per_cycle_basis": "x", "sgemm_gflops": 100, "versions": {}},
              "settings": {"batches": [1, 8], "warmup": 1, "repeats_batch1": 3, "threads": 2},
              "date": "today", "models": [se, gf]}
    got = {what: (value, verdict) for what, value, verdict in doc.targets_met(report)}
    k1 = got["seresnet50 Keras (best compiled: keras:fused) / torch, batch 1"]
    assert k1[0] == pytest.approx(0.7) and k1[1].startswith("met")
    k8 = got["seresnet50 Keras (best compiled: keras:fused) / torch, batch 8"]
    assert k8[0] == pytest.approx(500 / 600) and k8[1].startswith("MISSED")
    assert got["seresnet50 int8 speed-up over torch, batch 1"][0] == pytest.approx(5.0)
    assert got["seresnet50 int8 size reduction vs fp32"][0] == pytest.approx(4.0)
    assert got["gfnet_xs GFLOP/s / seresnet50's, keras:fused, batch 1"][0] == pytest.approx(70 / 117)
    assert got["gfnet_xs GFLOP/s / seresnet50's, keras:fused, batch 1"][1].startswith("MISSED")
    assert got["coatnet_0_rw_224 Keras (best compiled: -) / torch, batch 1"] == (None, "not measured")
    files = doc.write_docs(report, tmp_path)
    assert [f.name for f in files] == ["benchmarks.md", "benchmarks.json", "benchmarks.png"]
    assert files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = files[0].read_text()
    assert "![reported top-1 vs measured latency](benchmarks.png)" in text and "### gfnet_xs" in text
