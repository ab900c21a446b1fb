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
    r = bench.bench_model("tiny", model=m, targets=("keras:eager", "keras:function", "keras:fused", "keras:frozen",
                                                     "tflite:fp32", "tflite:int8", "tflite:int8-mixed", "torch"),
                          batches=(1, 3), warmup=1, repeats=3, progress=False, peak_gflops=100.0)
    # conv 3x3x3 -> 8 on 32x32 (multiply-add = 2) and the classifier: what the profiler must count at least
    assert r["gflop"] >= (2 * 32 * 32 * 8 * 27 + 2 * 8 * 10) / 1e9
    rows = {(x["target"], x["batch"]): x for x in r["rows"]}
    for t in ("keras:eager", "keras:function", "keras:fused", "keras:frozen", "tflite:fp32", "tflite:int8",
              "tflite:int8-mixed"):
        for b in (1, 3):
            x = rows[(t, b)]
            assert x["p25_ms"] <= x["ms"] <= x["p75_ms"] and x["min_ms"] <= x["ms"]
            assert x["img_per_s"] == pytest.approx(1e3 * b / x["ms"])
            assert x["gflops"] == pytest.approx(r["gflop"] * b / (x["ms"] / 1e3))
            assert x["peak_mb"] is None or x["peak_mb"] >= 0
            assert x["size_mb"] > 0
    assert rows[("keras:fused", 1)]["calls"] == 3 and rows[("keras:fused", 3)]["calls"] == 3
    assert "pct_peak" in rows[("tflite:fp32", 1)] and "pct_peak" not in rows[("tflite:int8", 1)]
    assert "pct_peak" not in rows[("tflite:int8-mixed", 1)]
    assert rows[("torch", None)]["ms"] is None and "PyTorch twin" in rows[("torch", None)]["note"]
    # what XNNPACK runs of each TFLite file: all of the float one, all but the uint8 I/O conversions of int8
    assert rows[("tflite:fp32", 1)]["xnnpack"]["undelegated"] == {}
    assert rows[("tflite:int8", 1)]["xnnpack"]["undelegated"] == {"QUANTIZE": 2}
    assert "xnnpack" not in rows[("keras:fused", 1)]
    md = bench.markdown({"machine": bench.machine_info(1), "settings": {"batches": [1, 3], "warmup": 1,
                                                                        "repeats_batch1": 3, "threads": 1},
                         "date": "today", "models": [r]})
    assert "### tiny" in md and "| keras:fused |" in md and "| tflite:int8 |" in md
    assert "- tflite:int8: XNNPACK leaves 2 of" in md and "tflite:fp32: XNNPACK" not in md
    assert r["steal_pct"] is None or 0 <= r["steal_pct"] <= 100
    assert json.loads(json.dumps(r, default=str))["rows"]


def test_cpu_steal_is_read_and_explained():
    a, b = bench.cpu_steal(), (0, 0)
    if a is not None:   # Linux: ticks so far, steal a part of the total
        assert 0 <= a[0] <= a[1]
        b = (a[0] + 5, a[1] + 100)
        assert bench.steal_pct(a, b) == pytest.approx(5.0)
    assert bench.steal_pct(None, b) is None and bench.steal_pct((3, 10), (3, 10)) is None
    assert bench._steal_note(None) == "" and bench._steal_note(0.5) == ""
    assert "7 % of these cores' time" in bench._steal_note(7.2)


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


def test_no_timed_call_directly_follows_another_targets_call():
    calls = []
    fns = {k: (lambda k=k: calls.append(k)) for k in "ab"}
    times = bench.interleaved_times(fns, warmup=1, repeats=5, run=2)
    assert {k: len(v) for k, v in times.items()} == {"a": 5, "b": 5}
    # warm-up, then turns: an untimed settle call and up to two timed ones of each target
    assert "".join(calls) == "ab" + "aaabbb" * 2 + "aabb"
    calls.clear()
    assert len(bench.interleaved_times({"a": fns["a"]}, 0, 3)["a"]) == 3 and calls == ["a"] * 3   # alone: no settle
    with pytest.raises(ValueError, match="run must be"):
        bench.interleaved_times(fns, 0, 1, run=0)


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
                   _row("keras:fused", 8, 500), _row("keras:frozen", 8, 450), _row("keras:frozen", 1, 75),
                   _row("torch", 8, 600), _row("tflite:fp32", 1, 50), _row("tflite:int8", 1, 20, size_mb=25.0)]}
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
    k8 = got["seresnet50 Keras (best compiled: keras:frozen) / torch, batch 8"]   # the frozen form counts
    assert k8[0] == pytest.approx(450 / 600) and k8[1].startswith("met")
    assert got["seresnet50 int8 speed-up over torch, batch 1"][0] == pytest.approx(5.0)
    assert got["seresnet50 int8 size reduction vs fp32"][0] == pytest.approx(4.0)
    gk = got["gfnet_xs GFLOP/s / seresnet50's, Keras (best compiled: keras:fused vs keras:fused), batch 1"]
    assert gk[0] == pytest.approx(70 / 117) and gk[1].startswith("MISSED")
    assert "seresnet50 int8-mixed speed-up over torch, batch 1" not in got   # only where the report has it
    assert got["coatnet_0_rw_224 Keras (best compiled: -) / torch, batch 1"] == (None, "not measured")
    files = doc.write_docs(report, tmp_path)
    assert [f.name for f in files] == ["benchmarks.md", "benchmarks.json", "benchmarks.png"]
    assert files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = files[0].read_text()
    assert "![reported top-1 vs measured latency](benchmarks.png)" in text and "### gfnet_xs" in text


def test_generated_page_blocks_are_refilled_from_a_report(tmp_path):
    """README's summary and a family page's runtime table come from the report; the text around
    them is kept; an unclosed block or an unknown model writes nothing."""
    doc = _docs_script()
    se = {"name": "seresnet50", "family": "seresnet", "rows": [
        _row("keras:function", 1, 90), _row("keras:fused", 1, 70), _row("torch", 1, 100), _row("torch", 8, 600),
        _row("keras:fused", 8, 500), _row("tflite:fp32", 1, 50), _row("tflite:int8", 1, 20), _row("tflite:int8-mixed", 1, 125),
        {**_row("tflite:fp32", 8, 400), "note": "batch 8: 8 calls of batch 1 (the graph is fixed at batch 1)"}]}
    report = {"models": [se]}
    page = tmp_path / "p.md"
    page.write_text("intro\n<!-- bench:summary -->\nSTALE\n<!-- /bench -->\nmiddle\n"
                    "<!-- bench:seresnet50 -->\n<!-- /bench -->\nend\n")
    assert doc.fill_pages(report, [page]) == [page]
    text = page.read_text()
    assert text.startswith("intro\n<!-- bench:summary -->\n| model |") and "STALE" not in text
    assert "| seresnet50 | 70.0 (0.70x) | 100.0 | 50.0 (0.50x) | 20.0 (5.0x faster) | 125.0 (1.2x slower) |" in text
    assert "| Keras, tf.function | 90.0 | - | 0.90x |" in text
    assert "| TFLite fp32, XNNPACK | 50.0 | 400 (8 calls) | 0.50x |" in text
    assert "XLA" not in text and text.endswith("<!-- /bench -->\nend\n") and "\nmiddle\n" in text
    assert doc.fill_pages(report, [page]) == []          # nothing new: not rewritten
    for bad, why in (("<!-- bench:summary -->\nx\n", "needs its"), ("<!-- bench:gfnet_xs -->\n<!-- /bench -->", "gfnet_xs")):
        other = tmp_path / "bad.md"
        other.write_text(bad)
        with pytest.raises(ValueError, match=why):
            doc.fill_pages(report, [page, other])
        assert other.read_text() == bad
    # a measured report says where and when above each table, so that no page copies it by hand
    se.update(img_size=224, gflop=8.2, peer_max_rel_diff=6e-7)
    report.update(date="2026-12-06", machine={"cpu": "CPU X", "threads": 2, "cores": 2, "load_before": 0.1,
                                              "load_after": 0.4})
    assert doc.fill_pages(report, [page]) == [page]
    text = page.read_text()
    where = "Measured 2026-12-06 on CPU X, 2 threads of 2 cores (load average 0.1 before, 0.4 after)"
    assert f"<!-- bench:summary -->\n{where}.\n\n| model |" in text
    assert f"<!-- bench:seresnet50 -->\n{where}; seresnet50 at 224 px, 8.2 GFLOP/image, PyTorch peer's logits " \
           "within 6e-07 of ours.\n\n| runtime |" in text
    verdicts = tmp_path / "v.md"   # issue 16's verdicts on the named models only
    verdicts.write_text("<!-- bench:targets seresnet50 -->\n<!-- /bench -->\n")
    assert doc.fill_pages(report, [verdicts]) == [verdicts]
    text = verdicts.read_text()
    assert "| seresnet50 Keras (best compiled: keras:fused) / torch, batch 1 | 0.70 | met (1.14x of the target 0.8) |" \
        in text and "| seresnet50 int8 speed-up over torch, batch 1 | 5.00 | met" in text
    assert "coatnet" not in text and "gfnet" not in text


def test_a_stopped_docs_run_resumes_without_measuring_again(tmp_path, monkeypatch):
    """--write-docs saves the report after every model; --resume keeps those and measures the rest."""
    import export.bench as eb
    doc = _docs_script()
    monkeypatch.setattr(doc, "PARTIAL", tmp_path / "partial.json")
    monkeypatch.setattr(doc, "FULL", ("seresnet50", "gfnet_xs"))
    monkeypatch.setattr(doc, "CHART_ONLY", ("gfnet_ti",))
    asked, stop = [], {"after": None}

    def fake(names, *, on_model=None, **kw):
        rep = {"machine": {"cpu": "cpu", "threads": 2, "cores": 2, "mhz": 1, "peak_gflops": 1, "flop_per_cycle": 1,
                           "flop_per_cycle_basis": "x", "sgemm_gflops": 1, "versions": {}},
               "settings": {"batches": [1], "warmup": 1, "repeats_batch1": 1, "threads": 2}, "date": "d", "models": []}
        for n in names:
            if n == stop["after"]:
                raise KeyboardInterrupt
            asked.append(n)
            rep["models"].append({"name": n, "family": n[:5], "img_size": 8, "gflop": 1.0, "params": 1,
                                  "peer": "-", "reported": {"top1": 70.0}, "rows": [_row("keras:fused", 1, 10)]})
            on_model(rep)
        return rep

    monkeypatch.setattr(eb, "bench_models", fake)
    out = tmp_path / "docs"
    stop["after"] = "gfnet_xs"                       # the first run stops on its second model
    with pytest.raises(KeyboardInterrupt):
        doc.main(["--write-docs", "--out", str(out)])
    assert [m["name"] for m in json.loads(doc.PARTIAL.read_text())["models"]] == ["seresnet50"]
    stop["after"], asked[:] = None, []
    with pytest.raises(SystemExit):                  # a resume of another command is refused
        doc.main(["--write-docs", "--out", str(out), "--repeats", "3", "--resume"])
    assert doc.main(["--write-docs", "--out", str(out), "--resume"]) == 0
    assert asked == ["gfnet_xs", "gfnet_ti"]         # seresnet50 was kept, not measured again
    report = json.loads((out / "benchmarks.json").read_text())
    assert [m["name"] for m in report["models"]] == ["seresnet50", "gfnet_xs", "gfnet_ti"]
    assert report["command"] == f"python benchmarks/bench.py --write-docs --out {out}"
    assert doc.main(["--from-json", str(out / "benchmarks.json"), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "benchmarks.md").read_text() == (out / "benchmarks.md").read_text()
