"""Small helpers shared by the layers and model builders."""
from __future__ import annotations


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round a channel count to a multiple of `divisor` the way timm does (same results)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:  # rounding down may not remove more than (1 - round_limit)
        new_v += divisor
    return new_v
