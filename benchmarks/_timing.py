"""Timing shared by the benchmarks: peers measured interleaved in the same run."""
from __future__ import annotations

import statistics
import time


def interleaved_medians(fns: dict, warmup: int, repeats: int) -> dict:
    """Median milliseconds of each zero-argument callable in `fns`, after `warmup` untimed calls
    of each, timed in turns (a, b, a, b, ...) so that a load change on the machine hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(1e3 * (time.perf_counter() - t))
    return {k: statistics.median(v) for k, v in times.items()}
