"""Timing shared by the benchmarks: peers measured interleaved in the same run (export.bench)."""
from __future__ import annotations

import statistics


def interleaved_medians(fns: dict, warmup: int, repeats: int) -> dict:
    """Median milliseconds of each zero-argument callable in `fns`, timed in turns
    (`export.bench.interleaved_times`)."""
    from export.bench import interleaved_times
    return {k: statistics.median(v) for k, v in interleaved_times(fns, warmup, repeats).items()}
