"""Regenerate zoo/data/archs.json, the TensorFlow-free architecture index `zoo list` and
`zoo info` read (see zoo/index.py).

    .venv/bin/python scripts/gen_index.py          # rewrite it from the live registry (builds every arch once)
    .venv/bin/python scripts/gen_index.py --check  # exit 1, listing the differences, if it is out of date

Run it after adding, renaming or changing an architecture (names, aliases, default cfg, paper,
parameter count) or a public layer of zoo.layers.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 if the index is out of date")
    args = ap.parse_args(argv)
    from zoo import _quiet, index
    _quiet.install()
    live = index.build()
    if args.check:
        diff = index.differences(index.load(), live)
        for line in diff:
            print(line)
        if diff:
            print(f"{index.INDEX_FILE} is out of date: run {index.REGENERATE}")
        return 1 if diff else 0
    print(f"wrote {index.write(live)} ({len(live['archs'])} architectures, {len(live['layers'])} layers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
