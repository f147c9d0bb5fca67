"""One CSV row per timed training run: the format of results/recipes.csv and of `cnnlab course-table`.

`run_row` reads a finished run folder (results.json, env.json, config.yaml); the wall time is the
whole command's, measured by the caller. `duration` and `tflops` format the table cells.
"""
from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Iterable

COLUMNS = ["recipe", "seed", "test_acc", "wall_time_s", "train_flops", "cpu_model", "cpu_flags",
           "precision", "torch", "date", "command"]


def duration(seconds: float) -> str:
    """``18.2 s`` or ``3 min 05 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def tflops(rows: Iterable[dict[str, str]]) -> str:
    """The median training FLOPs of the rows that have them, in TFLOP (``-`` when none do)."""
    values = [float(r["train_flops"]) for r in rows if r["train_flops"]]
    return f"{statistics.median(values) / 1e12:.1f} T" if values else "-"


def cpu_description(env: dict) -> tuple[str, str]:
    """The run's CPU model with the logical core count, and which of the flags that matter it has:
    from its env.json, or this machine's for runs that did not record it."""
    from cnnlab.hardware import cpu_flags, cpu_model

    cpu = env.get("cpu") or {"model": cpu_model(), "flags": cpu_flags()}
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in cpu["flags"]]
    return f"{cpu['model']}, {env.get('cpu_count') or os.cpu_count()} vCPUs", " ".join(wanted)


def run_row(run: Path, wall_time: float | None, recipe: str | None) -> dict[str, str]:
    """A CSV row for a finished run folder, measured on this machine."""
    import yaml

    results = json.loads((run / "results.json").read_text())
    env = json.loads((run / "env.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    argv = env["command"][1:]
    if recipe is None:
        recipe = argv[argv.index("--recipe") + 1] if "--recipe" in argv else str(results.get("model"))
    cpu, flags = cpu_description(env)
    return dict(recipe=recipe, seed=str(config.get("seed", 0)), test_acc=f"{results['test_acc']:.4f}",
                wall_time_s=f"{wall_time if wall_time is not None else results['wall_time_s']:.2f}",
                train_flops=f"{results['train_flops']:.0f}" if results.get("train_flops") else "", cpu_model=cpu, cpu_flags=flags,
                precision=str(results.get("precision", "")), torch=env["torch"].split("+")[0],
                date=env["started"][:10], command=" ".join(["cnnlab", *argv]))
