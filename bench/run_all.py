"""Run every benchmark in bench/ and print one table of results against their baselines and goals.

Run from the project root: `.venv/bin/python -m bench.run_all` (`make bench`); `--small` for a quick run at
small sizes, `--only tti,sessions` for some. Each `bench/bench_*.py` runs as `python -m bench.<name>` in a
process of its own (so that one's memory, imports and environment don't leak into the next, and a crash costs
one row, not the run); its output streams through, and its `BENCH_RESULT` lines (bench/results.py) make the
table at the end. A new module joins by existing and printing those lines; for `--small`, add its flags below.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

if not __package__:  # run as `python bench/run_all.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import print_machine  # noqa: E402
from bench.results import BenchResult, parse, table  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
# Run in this order (the quick ones first); modules not listed run after them, alphabetically.
ORDER = ["bench_tti", "bench_sessions", "bench_place_order", "bench_orders_page", "bench_outbox", "bench_exports",
         "bench_purge"]
# Flags for `--small`: a run of a few minutes in all, to check the harness rather than to quote figures.
SMALL_ARGS = {
    "bench_tti": ["--runs", "3"],
    "bench_sessions": ["--sessions", "50", "--rounds", "1", "--rush", "100"],
    "bench_place_order": ["--orders", "500"],
    "bench_place_order_floor": ["--orders", "500", "--repeat", "1000"],
    "bench_orders_page": ["--orders", "5000", "--repeat", "3"],
    "bench_outbox": ["--messages", "200", "--repeat", "3"],
    "bench_exports": ["--lines", "5000", "--repeat", "1"],
    "bench_purge": ["--orders", "2000", "--repeat", "1"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="small sizes: checks the harness in a few minutes")
    parser.add_argument("--only", help="comma-separated module names, with or without the bench_ prefix")
    parser.add_argument("--quiet", action="store_true", help="show only the final table, not each module's output")
    parser.add_argument("--strict", action="store_true", help="exit with 1 when a goal is missed, not only on a crash")
    args = parser.parse_args()
    modules = discover()
    if args.only:
        wanted = {name if name.startswith("bench_") else f"bench_{name}" for name in args.only.split(",")}
        unknown = wanted - set(modules)
        if unknown:
            parser.error(f"no such benchmark: {', '.join(sorted(unknown))} (have {', '.join(modules)})")
        modules = [module for module in modules if module in wanted]

    rows: list[tuple[str, BenchResult | str]] = []
    started = time.perf_counter()
    for module in modules:
        extra = SMALL_ARGS.get(module, []) if args.small else []
        print(f"\n=== {module} {' '.join(extra)}".rstrip() + " ===", flush=True)
        rows += run_module(module, extra, quiet=args.quiet)

    print(f"\n=== All benchmarks{' (--small)' if args.small else ''}, "
          f"{(time.perf_counter() - started) / 60:.1f} min ===")
    print_machine()
    print(table(rows))
    crashed = [module for module, result in rows if isinstance(result, str)]
    missed = [result.benchmark for _, result in rows if isinstance(result, BenchResult) and result.passed is False]
    print(f"\n{len(rows) - len(crashed)} figures from {len(modules)} modules; goals missed: {len(missed)}; "
          f"modules that crashed: {len(crashed)}.")
    if crashed or (args.strict and missed):
        raise SystemExit(1)


def discover() -> list[str]:
    """Every bench/bench_*.py, in ORDER first."""
    found = sorted(path.stem for path in BENCH_DIR.glob("bench_*.py"))
    return [name for name in ORDER if name in found] + [name for name in found if name not in ORDER]


def run_module(module: str, extra: list[str], *, quiet: bool) -> list[tuple[str, BenchResult | str]]:
    """Run `python -m bench.<module> *extra`, echoing its output; its results, or why it gave none."""
    short = module.removeprefix("bench_")
    process = subprocess.Popen([sys.executable, "-m", f"bench.{module}", *extra], cwd=BENCH_DIR.parent,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert process.stdout is not None
    output = []
    for line in process.stdout:
        output.append(line)
        if not quiet:
            print(line, end="", flush=True)
    code = process.wait()
    results = parse("".join(output))
    if code != 0:
        if quiet:
            print("".join(output[-30:]), end="")
        return [*((short, result) for result in results), (short, f"exited with status {code}; see its output")]
    if not results:
        return [(short, "printed no BENCH_RESULT lines")]
    return [(short, result) for result in results]


if __name__ == "__main__":
    main()
