"""The course's results table, reproduced on a CPU: one recipe per network of the book's table.

The course book (Dive into Deep Learning, PyTorch edition) trains its networks for 10 epochs on
Fashion-MNIST on a GPU, resized to 224 or 96 pixels for the larger ones, and reports their test
accuracy (`COURSE_ROWS`). cnnlab's recipes ``course-*`` train each architecture at Fashion-MNIST's
native 28x28 (small-input stems, reduced widths named in each recipe), and ``d2l-lenet`` repeats
the book's LeNet run setting for setting.

`run_course_table` runs ``cnnlab train --recipe NAME --seed S`` for every row and seed as a
subprocess, timed as a whole command, and appends one row per run to ``OUT/runs.csv`` (the columns
of results/recipes.csv plus the machine's load average at the end of the run and the share of the
CPUs the hypervisor took for other guests during it, ``steal``). Runs already in that
file are kept, so an interrupted table continues where it stopped. It then writes ``OUT/course.md``
(ours vs the book) and ``OUT/course.png`` (accuracy beside the book's, wall time per row).
"""
from __future__ import annotations

import csv
import io
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from cnnlab.bench.results import COLUMNS, duration, run_row, tflops
from cnnlab.errors import ConfigError
from cnnlab.files import atomic_write_text
from cnnlab.hardware import cpu_steal_seconds


@dataclass(frozen=True)
class CourseRow:
    recipe: str
    network: str        # as the book's table names it
    book_acc: float     # the book's test accuracy (10 epochs, GPU)


COURSE_ROWS = (
    CourseRow("d2l-lenet", "LeNet, the book's settings", 0.779),
    CourseRow("course-lenet", "LeNet", 0.779),
    CourseRow("course-alexnet", "AlexNet", 0.883),
    CourseRow("course-vgg", "VGG", 0.920),
    CourseRow("course-nin", "NiN", 0.790),
    CourseRow("course-googlenet", "GoogLeNet", 0.886),
    CourseRow("course-lenet-bn", "LeNet + BatchNorm", 0.807),
    CourseRow("course-resnet18", "ResNet-18", 0.893),
    CourseRow("course-densenet", "DenseNet", 0.885),
)
CSV_COLUMNS = [*COLUMNS, "load", "steal"]
# a 1-minute load average above the core count means other work shared the CPU during the run; on a
# virtual machine the hypervisor can take a share of the CPUs too (``steal``), which no load shows
STEAL_LIMIT = 0.05
Runner = Callable[[list[str], Path], float]


def pick_rows(recipes: Sequence[str] = ()) -> list[CourseRow]:
    """The rows of these recipes (all when empty), in the book's order."""
    known = {row.recipe: row for row in COURSE_ROWS}
    unknown = [r for r in recipes if r not in known]
    if unknown:
        raise ConfigError(f"no course row {', '.join(unknown)}; rows: {', '.join(known)}")
    return [row for row in COURSE_ROWS if not recipes or row.recipe in recipes]


def run_subprocess(argv: list[str], log: Path) -> float:
    """Run ``cnnlab ARGV`` as its own process (output to ``log``); the whole command's wall time in seconds."""
    start = time.perf_counter()
    with log.open("w") as f:
        done = subprocess.run([sys.executable, "-m", "cnnlab", *argv], stdout=f, stderr=subprocess.STDOUT)
    if done.returncode:
        raise ConfigError(f"`cnnlab {' '.join(argv)}` failed (exit {done.returncode}); its output: {log}")
    return time.perf_counter() - start


def run_course_table(out: str | Path, seeds: Sequence[int] = (0, 1), recipes: Sequence[str] = (),
                     train_args: Sequence[str] = (), runner: Runner | None = None,
                     say: Callable[[str], None] = print, train: bool = True) -> Path:
    """Train each row's recipe for each seed (skipping runs already in OUT/runs.csv); write the table and chart.

    ``train_args`` go to every ``cnnlab train`` (e.g. ``["--epochs", "0.1"]`` for a smoke test);
    ``train=False`` only tabulates the runs recorded so far. Returns the path of the Markdown table.
    """
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    rows = pick_rows(recipes)
    done = read_runs(out / "runs.csv")
    for row in rows if train else ():
        for seed in seeds:
            if any(r["recipe"] == row.recipe and r["seed"] == str(seed) for r in done):
                continue
            run_dir = out / "runs" / f"{row.recipe}-seed{seed}"
            argv = ["train", "--recipe", row.recipe, "--seed", str(seed), "--run-dir", str(run_dir), "-q",
                    *train_args]
            say(f"course-table: cnnlab {' '.join(argv)}")
            steal_before = cpu_steal_seconds()
            wall = (runner or run_subprocess)(argv, out / "runs" / f"{row.recipe}-seed{seed}.log")
            steal = steal_share(steal_before, cpu_steal_seconds(), wall)
            done.append({**run_row(run_dir, wall, row.recipe), "load": f"{os.getloadavg()[0]:.1f}",
                         "steal": "" if steal is None else f"{steal:.3f}"})
            write_runs(out / "runs.csv", done)
            say(f"course-table: {row.recipe} seed {seed}: test accuracy {float(done[-1]['test_acc']):.4f} "
                f"(book {row.book_acc:.3f}) in {duration(wall)}")
    table = out / "course.md"
    atomic_write_text(table, render_table(rows, done, seeds) + "\n")
    plot_chart(rows, done, out / "course.png")
    return table


def read_runs(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def write_runs(path: Path, runs: list[dict[str, str]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(runs)
    atomic_write_text(path, buf.getvalue())


def steal_share(before: float | None, after: float | None, wall: float) -> float | None:
    """The share of this machine's CPUs the hypervisor gave to others over ``wall`` seconds (0 to 1)."""
    if before is None or after is None or wall <= 0:
        return None
    return max(0.0, after - before) / (wall * (os.cpu_count() or 1))


def _under_load(runs: list[dict[str, str]]) -> bool:
    cores = os.cpu_count() or 1
    return any(float(r.get("load") or 0) > cores + 0.5 or float(r.get("steal") or 0) > STEAL_LIMIT for r in runs)


def table_header(seeds: Sequence[int]) -> list[str]:
    """The course table's column names for these seeds."""
    return ["network", "recipe", "book", *(f"ours, seed {s}" for s in seeds), "beats the book", "train FLOPs",
            "wall time per seed"]


def table_cells(rows: Sequence[CourseRow], runs: list[dict[str, str]], seeds: Sequence[int]) -> list[list[str]]:
    """Per row (`table_header`'s columns): the book's accuracy, ours per seed, whether every seed beats the
    book, the training FLOPs and the wall times; ``-`` where no run is recorded."""
    cells = []
    for row in rows:
        mine = {r["seed"]: r for r in runs if r["recipe"] == row.recipe}
        accs = [float(mine[str(s)]["test_acc"]) if str(s) in mine else None for s in seeds]
        ran = [a for a in accs if a is not None]
        verdict = "-" if not ran else ("yes" if all(a >= row.book_acc for a in ran) else "**no**")
        times = [float(mine[str(s)]["wall_time_s"]) for s in seeds if str(s) in mine]  # in the seeds' order
        when = (", ".join(duration(t) for t in times) + (" (under load)" if _under_load(list(mine.values())) else "")
                if times else "-")
        cells.append([row.network, f"`{row.recipe}`", f"{row.book_acc:.3f}",
                      *(f"{a:.4f}" if a is not None else "-" for a in accs), verdict, tflops(list(mine.values())), when])
    return cells


def table_footnote(runs: list[dict[str, str]]) -> str:
    """Where and how the runs were measured: CPUs, dates, precision, the command, what "under load" means."""
    cpus = sorted({f"{r['cpu_model']} ({r['cpu_flags'] or 'no AVX2'})" for r in runs})
    dates = sorted({r["date"] for r in runs})
    return (f"CPU: {'; '.join(cpus) or '-'}. Date: {', '.join(dates) or '-'}. Precision: "
            f"{', '.join(sorted({r['precision'] for r in runs})) or '-'}. Each run: "
            "`cnnlab train --recipe RECIPE --seed SEED -q`; wall time of the whole command. A time marked "
            "\"under load\" was measured while other work shared the CPU (1-minute load average above the "
            f"core count, or the hypervisor taking over {STEAL_LIMIT:.0%} of the CPUs for other guests): an "
            "upper bound.")


def render_table(rows: Sequence[CourseRow], runs: list[dict[str, str]], seeds: Sequence[int]) -> str:
    """Markdown: `table_cells` under `table_header`, then `table_footnote`."""
    head = table_header(seeds)
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_cells(rows, runs, seeds)]
    return "\n".join([*lines, "", table_footnote(runs)])


def plot_chart(rows: Sequence[CourseRow], runs: list[dict[str, str]], path: Path) -> Path:
    """Bar chart: per network the book's accuracy beside ours (mean over seeds, min-max bar), and wall time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [row.network for row in rows]
    per_row = [[r for r in runs if r["recipe"] == row.recipe] for row in rows]
    ours = [[float(r["test_acc"]) for r in rs] for rs in per_row]
    mean = np.array([statistics.mean(a) if a else np.nan for a in ours])
    low = np.array([min(a) if a else np.nan for a in ours])
    high = np.array([max(a) if a else np.nan for a in ours])
    times = np.array([statistics.median(float(r["wall_time_s"]) for r in rs) if rs else np.nan for rs in per_row])
    x = np.arange(len(rows))
    fig, (acc_ax, time_ax) = plt.subplots(2, 1, figsize=(10, 7), dpi=100, height_ratios=(2, 1), sharex=True)
    acc_ax.bar(x - 0.2, [row.book_acc for row in rows], 0.4, label="book (10 epochs, GPU)", color="tab:gray")
    acc_ax.bar(x + 0.2, mean, 0.4, yerr=np.nan_to_num([mean - low, high - mean]), capsize=3,
               label="cnnlab (28x28, CPU): mean, min-max over seeds", color="tab:blue")
    acc_ax.set(ylabel="test accuracy", ylim=(0.7, 1.0), title="Fashion-MNIST: the course's networks")
    acc_ax.legend(loc="upper left")
    time_ax.bar(x, times / 60, 0.5, color="tab:orange")
    time_ax.set(ylabel="wall time (min, median)")
    time_ax.set_xticks(x, labels, rotation=20, ha="right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
