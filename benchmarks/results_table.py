"""The README's results table, rendered from `results/recipes.csv` (one row per timed run).

    python benchmarks/results_table.py              # rewrite README.md between the results markers
    python benchmarks/results_table.py --check      # exit 1 if README.md is out of date (the tests do this)
    python benchmarks/results_table.py add RUN --wall-time 18.2 [--recipe NAME]   # append a run's row

Rows are grouped by recipe, CPU and precision: test accuracy is the mean and the minimum over the
group's runs, wall time the median, training FLOPs the median of the rows that have them. `add` reads
the run folder (results.json, env.json, config.yaml); the wall time
is what `/usr/bin/time -f %e` printed for the whole command (default: results.json's `wall_time_s`).
The CPU is the one the run's env.json records.
"""
from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
from pathlib import Path

from cnnlab.bench.results import COLUMNS, duration, run_row, tflops

ROOT = Path(__file__).resolve().parent.parent
CSV_PATH = ROOT / "results" / "recipes.csv"
README = ROOT / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
SEED_OPTION = re.compile(r"--seed \S+")


def read_rows(path: Path | None = None) -> list[dict[str, str]]:
    """The CSV's rows (default: `CSV_PATH`), refusing a file whose header is not `COLUMNS`."""
    path = path or CSV_PATH
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            raise ValueError(f"{path}: columns {reader.fieldnames}, expected {COLUMNS}")
        return list(reader)


def _command(rows: list[dict[str, str]]) -> str:
    """The group's exact command (the first run's, when the others differ from it only by --seed)."""
    first: dict[str, str] = {}
    for r in rows:
        first.setdefault(SEED_OPTION.sub("--seed", r["command"]), r["command"])
    return "; ".join(f"`{c}`" for c in first.values())


def render_table(rows: list[dict[str, str]]) -> str:
    """The Markdown table: one line per (recipe, CPU, precision), recipes (then CPUs) in the CSV's order of first appearance."""
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault((row["recipe"], row["cpu_model"], row["precision"]), []).append(row)
    lines = ["| recipe | test accuracy: mean (min) | wall time (median) | runs (seeds) | train FLOPs | CPU | "
             "precision | torch | date | command |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    recipes = list(dict.fromkeys(row["recipe"] for row in rows))   # a recipe's CPUs side by side
    for (recipe, cpu, precision), group in sorted(groups.items(), key=lambda item: recipes.index(item[0][0])):
        accs = [100 * float(r["test_acc"]) for r in group]
        seeds = sorted({int(r["seed"]) for r in group})
        dates = sorted({r["date"] for r in group})
        lines.append(
            f"| `{recipe}` | {statistics.mean(accs):.2f}% ({min(accs):.2f}%) "
            f"| {duration(statistics.median(float(r['wall_time_s']) for r in group))} "
            f"| {len(group)} ({', '.join(map(str, seeds))}) | {tflops(group)} | {cpu} | {precision} "
            f"| {', '.join(sorted({r['torch'] for r in group}))} | {dates[0] if len(dates) == 1 else dates[0] + ' to ' + dates[-1]} "
            f"| {_command(group)} |")
    return "\n".join(lines)


def updated_readme(text: str, table: str) -> str:
    """`text` with everything between the two markers replaced by `table`."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md needs the lines {START} and {END} around the results table")
    return text[:start + len(START)] + "\n" + table + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that README.md is up to date")
    sub = parser.add_subparsers(dest="action")
    add = sub.add_parser("add", help="append a finished run's row to the CSV, then rewrite README.md")
    add.add_argument("run", type=Path)
    add.add_argument("--wall-time", type=float, help="seconds of the whole command (/usr/bin/time -f %%e)")
    add.add_argument("--recipe", help="the recipe's name (default: the run's --recipe, else its model)")
    args = parser.parse_args(argv)
    if args.action == "add":
        with open(CSV_PATH, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n").writerow(
                run_row(args.run, args.wall_time, args.recipe))
    text = README.read_text()
    new = updated_readme(text, render_table(read_rows()))
    if args.check:
        if new != text:
            print("README.md's results table differs from results/recipes.csv: "
                  "run python benchmarks/results_table.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
