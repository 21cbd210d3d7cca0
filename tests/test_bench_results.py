"""The benchmarks' shared result: goals in either direction, on the figure or on its ratio, and the table."""

from __future__ import annotations

import math

from bench.results import BenchResult, parse, report, table


def test_a_time_goal_on_the_ratio_passes_at_or_below_it() -> None:
    assert BenchResult("tti", 115, "ms", baseline=100, goal=1.15, goal_on_ratio=True).passed is True
    assert BenchResult("tti", 116, "ms", baseline=100, goal=1.15, goal_on_ratio=True).passed is False


def test_a_rate_goal_passes_at_or_above_it() -> None:
    rate = BenchResult("rate", 70, "msg/s", baseline=100, goal=0.7, direction="at_least", goal_on_ratio=True)
    assert rate.passed is True
    assert BenchResult("rate", 69, "msg/s", baseline=100, goal=0.7, direction="at_least",
                       goal_on_ratio=True).passed is False


def test_an_absolute_goal_ignores_the_baseline() -> None:
    assert BenchResult("p95", 450, "ms", baseline=50, goal=500).passed is True
    assert BenchResult("errors", 1, "", baseline=0, goal=0).passed is False


def test_a_missing_figure_fails_and_no_goal_is_information() -> None:
    assert BenchResult("p95", math.nan, "ms", goal=500).passed is False
    assert BenchResult("ratio without a baseline", 1, "s", goal=1.2, goal_on_ratio=True).passed is False
    assert BenchResult("first load", 3000, "ms", baseline=1000).passed is None


def test_results_survive_the_trip_through_a_modules_output(capsys) -> None:  # noqa: ANN001
    results = [BenchResult("p95", 123.4, "ms", baseline=50.0, goal=500),
               BenchResult("rate", 70, "msg/s", baseline=100, goal=0.7, direction="at_least", goal_on_ratio=True)]
    print("the module's own table")
    report(results)
    assert parse(capsys.readouterr().out) == results


def test_the_table_shows_each_verdict_and_a_crash_as_a_failure() -> None:
    rendered = table([("sessions", BenchResult("p95", 612, "ms", baseline=50, goal=500)),
                      ("tti", BenchResult("tti", 110, "ms", baseline=100, goal=1.15, goal_on_ratio=True)),
                      ("tti", BenchResult("first load", 3000, "ms", baseline=1000)),
                      ("purge", "exited with status 1; see its output")]).splitlines()
    assert rendered[2] == "| sessions | p95 | 612 ms | 50 ms | 12.24 | ≤ 500 ms | FAIL |"
    assert rendered[3] == "| tti | tti | 110 ms | 100 ms | 1.10 | ≤ 1.15× | pass |"
    assert rendered[4].endswith("| 3.00 |  | info |")
    assert rendered[5] == "| purge | exited with status 1; see its output |  |  |  |  | FAIL |"
