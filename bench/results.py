"""One benchmark figure against its baseline and goal, and the line that carries it to `bench.run_all`.

A benchmark module's `main()` prints its own detailed table and then, last, one `BENCH_RESULT {json}` line per
figure (`report(results)`); `python -m bench.run_all` runs each module in a process of its own and collects
those lines into one table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

PREFIX = "BENCH_RESULT "

Direction = Literal["at_most", "at_least"]


@dataclass(frozen=True)
class BenchResult:
    """`result` and `baseline` share `unit`; the goal is `result` (or the ratio, if `goal_on_ratio`) vs `goal`.

    `baseline` is None where nothing sensible compares (an error count); `goal` None means "for information".
    """

    benchmark: str
    result: float
    unit: str
    baseline: float | None = None
    goal: float | None = None
    direction: Direction = "at_most"
    goal_on_ratio: bool = False

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.result / self.baseline

    @property
    def passed(self) -> bool | None:
        if self.goal is None:
            return None
        measured = self.ratio if self.goal_on_ratio else self.result
        if measured is None:
            return False
        return measured <= self.goal if self.direction == "at_most" else measured >= self.goal

    def goal_text(self) -> str:
        if self.goal is None:
            return ""
        sign = "≤" if self.direction == "at_most" else "≥"
        return f"{sign} {self.goal:g}×" if self.goal_on_ratio else f"{sign} {self.goal:g} {self.unit}".rstrip()


def report(results: Iterable[BenchResult]) -> None:
    """Print one machine-readable line per result, for `bench.run_all`; call it last in `main()`."""
    for result in results:
        print(PREFIX + json.dumps(asdict(result)), flush=True)


def parse(output: str) -> list[BenchResult]:
    """The results in a module's output (its `BENCH_RESULT` lines), in order."""
    return [BenchResult(**json.loads(line[len(PREFIX):])) for line in output.splitlines() if line.startswith(PREFIX)]


def table(rows: Sequence[tuple[str, BenchResult | str]]) -> str:
    """A Markdown table of (module, result) rows: benchmark, result, baseline, ratio, goal, pass/fail.

    A string instead of a result is a module that gave none (it crashed): the string says why, and it fails.
    """
    lines = ["| module | benchmark | result | baseline | ratio | goal | pass |", "|---|---|---|---|---|---|---|"]
    for module, result in rows:
        if isinstance(result, str):
            lines.append(f"| {module} | {result} |  |  |  |  | FAIL |")
            continue
        ratio = "" if result.ratio is None else f"{result.ratio:,.0f}" if result.ratio >= 100 else f"{result.ratio:.2f}"
        baseline = "" if result.baseline is None else _number(result.baseline, result.unit)
        verdict = {True: "pass", False: "FAIL", None: "info"}[result.passed]
        lines.append(f"| {module} | {result.benchmark} | {_number(result.result, result.unit)} | {baseline} | "
                     f"{ratio} | {result.goal_text()} | {verdict} |")
    return "\n".join(lines)


def _number(value: float, unit: str) -> str:
    """Three significant figures or so; whole numbers (counts) without decimals."""
    if value == int(value) or abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()
