"""The generated parts of the docs match the code."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_model_table_is_current():
    assert _gen_docs().main(["--check"]) == 0, "run: python scripts/gen_docs.py"


def test_readme_commands_are_the_ci_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/setup.sh" in readme and "bash scripts/setup.sh" in ci
    assert ".venv/bin/python -m pytest -q" in readme and ".venv/bin/python -m pytest -q" in ci


def test_benchmark_figures_in_the_pages_are_docs_benchmarks_json():
    """README's and the family pages' benchmark tables are benchmarks/bench.py's blocks, filled
    from the committed report (after a new run: `python benchmarks/bench.py --write-docs`)."""
    import json
    spec = importlib.util.spec_from_file_location("bench_docs", ROOT / "benchmarks" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = json.loads((ROOT / "docs" / "benchmarks.json").read_text())
    for page in bench.PAGES:
        text = page.read_text()
        blocks = bench.BLOCK.findall(text)
        assert blocks, f"{page.name} has no generated benchmark block"
        for _, spec_, body, _ in blocks:
            assert body == bench.block_body(report, spec_) + "\n", f"{page.name}'s `bench:{spec_}` block is stale: python benchmarks/bench.py " \
                                        "--from-json docs/benchmarks.json"
