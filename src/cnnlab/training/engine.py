"""The training loop: `train()` (the API behind `cnnlab train`) and `fit()`, which reads on one screen.

A run is: build the session (setup.py) -> restore a checkpoint if resuming -> per epoch, one
`train_step` per batch, then validate -> keep best.pt (by validation accuracy) and last.pt ->
evaluate the best weights once on the test split -> results.json and report.html, both from that
one `EvalResult`. Every evaluation is a pass of `cnnlab.eval.evaluate_model`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from cnnlab.errors import CnnlabError, ConfigError
from cnnlab.hardware import cpu_info
from cnnlab.eval.evaluate import GALLERY_SIZE, EvalResult, default_split, evaluate_model
from cnnlab.eval.tta import TestTimeAugmentation
from cnnlab.inspect.flops import step_flops
from cnnlab.numerics import Numerics
from cnnlab.runs import FORMAT_VERSION, RunDir, check_same_model, load_model, read_checkpoint, resolve_run, save_checkpoint
from cnnlab.training import distributed
from cnnlab.training.callbacks import Callbacks, StartEvent, StepEvent
from cnnlab.training.live import LiveSnapshot
from cnnlab.training.notebook_view import with_live_view
from cnnlab.training.config import TrainConfig, field_names, merge, resolve_config, resolve_settings
from cnnlab.training.divergence import DivergenceWatch
from cnnlab.training.optim import total_steps
from cnnlab.training.progress import TrainProgress, epoch_line
from cnnlab.training.rng import rng_state, set_rng_state
from cnnlab.training.run import environment, new_run_path, write_summary
from cnnlab.training.sanity import chance_warning, sanity_checks
from cnnlab.training.setup import Session, build_session, check_names, torch_settings
from cnnlab.training.step import StepResult, train_step
from cnnlab.training.steplog import StepLog
from cnnlab.training.stop import EXIT_CODES, StopRequest

LOOKAHEAD_MIN_STEPS = 200  # below this the slow weights lag far behind at the final sync (airbench runs ~1,000+)

# settings a resumed run may change: they do not alter the numbers
RESUMABLE_OVERRIDES = {"quiet", "report", "device", "data_dir", "num_workers", "threads"}


class TrainingDiverged(CnnlabError):
    """The loss became NaN or infinite."""


@dataclass
class TrainResult:
    run_dir: Path
    status: str                          # "completed" | "interrupted"
    results: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = None       # the evaluated model (best weights, EMA if kept), eval mode
    exit_code: int = 0                   # what the CLI exits with (130/143 after SIGINT/SIGTERM)

    def __repr__(self) -> str:
        return f"TrainResult({self.status}: {self.run_dir})"

    def _repr_html_(self) -> str:
        from cnnlab.eval.run_card import open_run  # the report's modules: not imported by a run in a terminal

        return open_run(self.run_dir)._repr_html_()


@dataclass
class Position:
    epoch: int = 0                       # epochs completed = index of the epoch in progress
    batch: int = 0                       # batches of that epoch already trained
    step: int = 0                        # optimizer steps since the start


@dataclass
class EpochSums:
    """The epoch's running sums in this process (skipped steps add nothing)."""

    loss: float = 0.0                    # nats, summed over images
    correct: float = 0.0                 # images classified right
    images: float = 0.0
    seconds: float = 0.0                 # training time of the epoch before a stop: a resume goes on from it

    def add(self, result: StepResult, y: torch.Tensor) -> None:
        self.loss += result.loss * len(y)
        self.correct += (result.logits.argmax(1) == y).sum().item()
        self.images += len(y)

    def to_list(self) -> list[float]:
        """As checkpoints store them ("epoch_tally")."""
        return [self.loss, self.correct, self.images, self.seconds]


def train(model: str | None = None, data: str | None = None, *, config: Any = None, recipe: str | None = None,
          resume: str | Path | None = None, callbacks: Iterable[Any] = (), live: bool = False,
          **overrides: Any) -> TrainResult:
    """Train ``model`` on ``data`` and write a run folder; the same as ``cnnlab train``.

    Settings, later wins: defaults < the model's defaults (`cnnlab.models.train_defaults`) <
    ``recipe`` (a name from ``cnnlab train --list-recipes``) <
    ``config`` (a YAML path, a dict or a TrainConfig) < ``model``/``data`` < ``**overrides``
    (any TrainConfig field, e.g. ``epochs=5, lr=0.05``). ``resume=RUN`` continues a stopped run
    with its saved config (only quiet/report/device/data_dir/num_workers/threads may change).
    ``callbacks``: objects with ``on_start/on_step/on_epoch/on_end`` methods (`cnnlab.training.callbacks`).
    ``live=True`` (in a notebook) adds a progress bar and curves redrawn in place (`cnnlab.training.notebook_view`).
    """
    if live:
        callbacks = with_live_view(callbacks)
    if resume is None:
        resolved = resolve_settings(model, data, config=config, recipe=recipe, overrides=overrides)
        for note in resolved.notes:
            print(note)
        return fit(resolved.config, callbacks=callbacks)
    if config is not None or recipe is not None:
        raise ConfigError("--resume continues a run with its saved config: drop --config/--recipe")
    run_path, ckpt = find_resume_checkpoint(resume)
    return fit(_resume_config(resolve_config(config=ckpt["config"]), run_path, model, data, overrides),
               run_path=run_path, checkpoint=ckpt, callbacks=callbacks)


def _resume_config(saved: TrainConfig, run_path: Path, model: str | None, data: str | None,
                   overrides: Mapping[str, Any]) -> TrainConfig:
    """The saved config with the harmless changes applied; any other change is refused."""
    asked = merge(saved, {k: v for k, v in {"model": model, "data": data, **overrides}.items() if v is not None})
    changed = [f for f in field_names() if f not in RESUMABLE_OVERRIDES and getattr(asked, f) != getattr(saved, f)]
    if changed:
        raise ConfigError(f"cannot change {', '.join(changed)} when resuming {run_path} (the run was saved with "
                          f"{saved.model} on {saved.data}); start a new run instead")
    return asked


def find_resume_checkpoint(run: str | Path) -> tuple[Path, dict[str, Any]]:
    """The run folder and its newest readable checkpoint (last.pt, else best.pt), saying so on fallback;
    ``run`` as every command takes it (`cnnlab.runs.resolve_run`), or one checkpoint file of a run."""
    target = resolve_run(run)
    if target.run is None:
        raise CnnlabError(f"cannot resume {run}: it is a checkpoint outside a run folder; pass the run folder")
    candidates = [target.checkpoint] if Path(run).expanduser().is_file() else [
        target.run.checkpoint(name) for name in ("last", "best")]
    found, errors = [], []
    for candidate in candidates:
        if candidate is not None and candidate.exists():
            try:
                found.append((candidate, read_checkpoint(candidate)))
            except CnnlabError as err:
                errors.append(str(err))
    if not found:
        why = "; ".join(errors) or f"no checkpoints/last.pt or best.pt in {target.run.path}"
        raise CnnlabError(f"cannot resume {run}: {why}. Start a new run")
    ckpt_path, ckpt = max(found, key=lambda pc: pc[1].get("step", 0))
    for err in errors:
        print(f"warning: {err}; resuming from {ckpt_path} instead")
    if "config" not in ckpt or "step" not in ckpt:
        raise CnnlabError(f"{ckpt_path} holds weights only, not a training state; it cannot be resumed")
    return target.run.path, ckpt


def fit(cfg: TrainConfig, *, run_path: Path | None = None, checkpoint: Mapping[str, Any] | None = None,
        callbacks: Iterable[Any] = ()) -> TrainResult:
    """Run (or continue) one training run described by ``cfg``."""
    t_start = time.perf_counter()
    check_names(cfg)
    dist = distributed.init(cfg.device)
    try:
        with torch_settings(cfg):
            return _start(cfg, dist, run_path, checkpoint, t_start, callbacks)  # its session (and DDP) is freed on return
    finally:
        distributed.shutdown(dist)


def _start(cfg: TrainConfig, dist: distributed.Dist, run_path: Path | None, checkpoint: Mapping[str, Any] | None,
           t_start: float, callbacks: Iterable[Any]) -> TrainResult:
    saved = checkpoint.get("numerics") if checkpoint is not None else None  # a resumed run keeps its choice
    s = build_session(cfg, dist, Numerics.from_dict(saved) if saved else None)
    chosen = str(run_path or new_run_path(cfg)) if dist.is_main else None
    run = RunDir(Path(dist.broadcast(chosen)), writer=dist.is_main)  # type: ignore[arg-type]
    run.prepare()
    if checkpoint is None:
        run.write_config(cfg.to_dict(for_file=True))
        run.write_json("meta.json", s.meta)
        write_summary(run, s.model, (s.meta["in_channels"], *s.meta["input_size"]))
    run.write_json("env.json", environment(dist.device, dist.world_size))
    hooks = Callbacks([*callbacks, LiveSnapshot()], enabled=dist.is_main)  # live.json + weights for the explorer
    with StopRequest() as stop:
        result = _loop(cfg, s, run, dist, stop, checkpoint, t_start, hooks)
    hooks("on_end", result)
    return result


def _loop(cfg: TrainConfig, s: Session, run: RunDir, dist: distributed.Dist, stop: StopRequest,
          ckpt: Mapping[str, Any] | None, t_start: float, hooks: Callbacks) -> TrainResult:
    pos, best, sums = Position(), {"val_acc": -1.0, "epoch": 0}, EpochSums()
    if ckpt is not None:
        check_same_model(ckpt["meta"], s.meta, run.path)
        pos, best, sums = _restore(s, ckpt, dist)
        run.keep_metrics_until(pos.epoch, pos.step)
    steps_per_epoch = len(s.train_loader)                 # full batches per epoch per process
    last_step = total_steps(cfg.epochs, steps_per_epoch)  # a fractional last epoch stops mid-way
    speeds: list[float] = []                              # images/s of each epoch run in this process
    step_log = StepLog(run, last_step, steps_per_epoch)   # steps.csv: curves for runs of any length
    watch = DivergenceWatch(s.meta["num_classes"], cfg.lr, best_acc=best["val_acc"], best_epoch=best["epoch"])
    bar = TrainProgress(total_steps=last_step, done_steps=pos.step, quiet=cfg.quiet, enabled=dist.is_main)
    save = lambda name: _save(s, cfg, run, pos, best, sums, dist, name)  # noqa: E731
    stopping = False

    def check(loss: float) -> bool:
        """Between a step's forward pass and its update: all processes agree to stop, or to skip a
        non-finite loss (or stop the run on it: --on-nan stop)."""
        nonlocal stopping
        stopping, diverged = dist.any(bool(stop), not math.isfinite(loss))
        if diverged and cfg.on_nan == "stop":
            raise _diverged(cfg, s, run, pos, loss)
        warning = watch.loss(loss, f"step {pos.step + 1}", s.parts.lr)
        if warning:
            bar.print(warning)
        return not diverged

    hooks("on_start", StartEvent(run.path, s.model, last_step, steps_per_epoch, cfg.epochs, pos.step))
    if ckpt is None and dist.is_main:
        x, y = next(iter(s.train_loader))                 # the next set_epoch rewinds the loader
        for sanity in sanity_checks(s.model, x, y, s.meta["num_classes"], overfit=False, autocast=s.parts.autocast):
            if not sanity.passed:
                bar.print(f"warning: {sanity.name}: {sanity.detail}")
        if s.lookahead is not None and last_step < LOOKAHEAD_MIN_STEPS:
            bar.print(f"warning: lookahead over only {last_step} steps pulls the final weights back towards early "
                      f"ones (its last sync keeps {s.lookahead.decay(last_step):.0%} of the slow weights); use it for "
                      f"runs of {LOOKAHEAD_MIN_STEPS}+ steps, or drop --lookahead")
    try:
        for epoch in range(pos.epoch, math.ceil(last_step / steps_per_epoch)):
            s.train_loader.set_epoch(epoch, start_batch=pos.batch)
            batches = min(steps_per_epoch, last_step - epoch * steps_per_epoch)
            bar.start_epoch(epoch, cfg.epochs, batches, pos.batch)
            s.parts.net.train()
            lr = s.parts.lr
            t0 = time.perf_counter() - sums.seconds
            for x, y in s.train_loader:                   # x (B, C, H, W) normalized float32, y (B,) int64
                result = train_step(s.parts, x, y, pos.step + 1, check)
                if result.updated:
                    sums.add(result, y)
                    lr = result.lr
                pos.batch, pos.step = pos.batch + 1, pos.step + 1
                step_log.record(pos.step, result.loss, lr)
                elapsed = time.perf_counter() - t0
                running = dict(train_loss=sums.loss / max(sums.images, 1), train_acc=sums.correct / max(sums.images, 1),
                               images_per_s=sums.images * dist.world_size / max(elapsed, 1e-9))
                bar.update(loss=running["train_loss"], acc=running["train_acc"], images_per_s=running["images_per_s"])
                hooks("on_step", StepEvent(pos.step, last_step, epoch, result.loss, lr=lr, model=s.model, **running))
                if stopping or (cfg.checkpoint_every and pos.step % cfg.checkpoint_every == 0):
                    sums.seconds = elapsed
                    save("last")
                if stopping:
                    return _interrupted(cfg, run, pos, stop, bar)
                if pos.batch == batches:
                    break
            # end of epoch: global figures, validation, checkpoints, one metrics row
            seconds = time.perf_counter() - t0
            loss_sum, correct, seen = dist.all_sum(sums.to_list()[:3])
            val = _evaluate(s, dist, "val" if s.val_loader is not None else None)
            val_loss, val_acc = (val.metrics.loss, val.metrics.accuracy) if val is not None else (None, None)
            pos, sums = Position(epoch + 1, 0, pos.step), EpochSums()
            warning = watch.validation(val_acc, epoch + 1, len(s.bundle.val), lr) if val_acc is not None else None
            if warning:
                bar.print(warning)
            if s.val_loader is None or val_acc > best["val_acc"]:
                best = {"val_acc": val_acc if s.val_loader is not None else -1.0, "epoch": epoch + 1}
                save("best")
            save("last")
            row = dict(epoch=epoch + 1, step=pos.step, train_loss=loss_sum / max(seen, 1),
                       train_acc=correct / max(seen, 1), val_loss=val_loss, val_acc=val_acc,
                       lr=lr, epoch_time_s=seconds, images_per_s=seen / seconds)
            speeds.append(row["images_per_s"])
            if epoch == 0:
                split, acc = ("validation", val_acc) if val_acc is not None else ("training", row["train_acc"])
                warning = chance_warning(acc, s.meta["num_classes"], split)
                if warning:
                    bar.print(warning)
            run.append_metrics(row)
            hooks("on_epoch", dict(row))
            bar.print(epoch_line(row, cfg.epochs))
    finally:
        bar.close()
        run.close()
    return _finish(cfg, s, run, dist, best, pos, t_start, speeds)


def _evaluate(s: Session, dist: distributed.Dist, split: str | None, model: nn.Module | None = None, *,
              tta: str = "none", tta_share: float = 1.0, gallery: int = 0, checkpoint: str = "",
              split_note: str = "") -> EvalResult | None:
    """One pass of `cnnlab.eval.evaluate_model` over the run's ``split`` ("val" or "test"; None without one),
    in the run's precision and memory layout (`cnnlab eval` and the report follow them too)."""
    loader = {"val": s.val_loader, "test": s.test_loader, None: None}[split]
    if loader is None:
        return None
    return evaluate_model(model or s.eval_model, loader, s.meta["classes"], mean=s.meta["mean"], std=s.meta["std"],
                          tta=tta, tta_share=tta_share, numerics=s.numerics, device=dist.device, gallery=gallery,
                          gather=dist.all_gather, dataset=s.meta["dataset"], split=split, checkpoint=checkpoint, split_note=split_note)


def _save(s: Session, cfg: TrainConfig, run: RunDir, pos: Position, best: dict[str, Any], sums: EpochSums,
          dist: distributed.Dist, name: str) -> None:
    """Write checkpoints/<name>.pt (rank 0): everything needed to continue bitwise from this step."""
    epoch_tally = dist.all_sum(sums.to_list()[:3]) + [sums.seconds]  # global sums, so any rank count can resume
    if not dist.is_main:
        return
    save_checkpoint({
        "format_version": FORMAT_VERSION, "meta": s.meta, "config": cfg.to_dict(for_file=True),
        "model": s.model.state_dict(), "optimizer": s.parts.optimizer.state_dict(),
        "scheduler": s.parts.scheduler.state_dict(), "scaler": s.parts.scaler.state_dict(),
        "ema": s.ema.state_dict() if s.ema is not None else None, "rng": rng_state(), "numerics": s.numerics.to_dict(),
        "lookahead": s.lookahead.state_dict() if s.lookahead is not None else None,
        "epoch": pos.epoch, "batch": pos.batch, "step": pos.step,
        "best_val_acc": best["val_acc"], "best_epoch": best["epoch"], "epoch_tally": epoch_tally,
    }, run.checkpoint(name))


def _restore(s: Session, ckpt: Mapping[str, Any], dist: distributed.Dist) -> tuple[Position, dict[str, Any], EpochSums]:
    s.model.load_state_dict(ckpt["model"])
    s.parts.optimizer.load_state_dict(ckpt["optimizer"])
    s.parts.scheduler.load_state_dict(ckpt["scheduler"])
    s.parts.scaler.load_state_dict(ckpt["scaler"])
    if s.ema is not None:
        s.ema.load_state_dict(ckpt["ema"])
    if s.lookahead is not None:
        s.lookahead.load_state_dict(ckpt["lookahead"])
    set_rng_state(ckpt["rng"])                            # last: nothing may draw random numbers after this
    saved = list(ckpt.get("epoch_tally", [0.0] * 4))
    sums = EpochSums(*saved) if dist.is_main else EpochSums(seconds=saved[3])  # the global sums count once
    return (Position(ckpt["epoch"], ckpt["batch"], ckpt["step"]),
            {"val_acc": ckpt["best_val_acc"], "epoch": ckpt.get("best_epoch", 0)}, sums)


def _diverged(cfg: TrainConfig, s: Session, run: RunDir, pos: Position, loss_value: float) -> TrainingDiverged:
    last = run.checkpoint("last")
    kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was saved yet"
    lr = s.parts.lr
    return TrainingDiverged(
        f"the loss became {loss_value} at step {pos.step + 1} (epoch {pos.epoch + 1}, batch {pos.batch + 1}); "
        f"training stopped and {kept}. Lower the learning rate (it was {lr:.3g}; try --lr {cfg.lr / 10:g}), "
        "add --grad-clip 1.0, or pass --on-nan skip to skip such steps"
    )


def _interrupted(cfg: TrainConfig, run: RunDir, pos: Position, stop: StopRequest, bar: TrainProgress) -> TrainResult:
    bar.close()
    bar.print(f"Stopped by {stop.signal_name} at epoch {pos.epoch + 1}, batch {pos.batch} (step {pos.step}); "
              f"saved {run.checkpoint('last')}.\nResume with: cnnlab train --resume {run.path}")
    return TrainResult(run.path, "interrupted", exit_code=EXIT_CODES.get(stop.signal_name or "", 1))


def train_flops(s: Session, images: int) -> float:
    """Forward + backward FLOPs of the run's training steps (`cnnlab.inspect.step_flops`, per image)."""
    per_image = step_flops(s.model, (s.meta["in_channels"], *s.meta["input_size"]), device="cpu")
    return float(per_image.total * images)


def _finish(cfg: TrainConfig, s: Session, run: RunDir, dist: distributed.Dist, best: dict[str, Any],
            pos: Position, t_start: float, speeds: list[float]) -> TrainResult:
    """Evaluate the best checkpoint once on the test split (validation without one); write results.json and the report."""
    train_time = time.perf_counter() - t_start
    dist.barrier()                                        # best.pt is on disk before anyone reads it
    loaded = load_model(run.path, which="best", device=dist.device)
    model = loaded.model
    # without a test split the best checkpoint is measured on validation, and results.json says so
    has_test, has_val = s.test_loader is not None, s.val_loader is not None
    split, note = default_split(s.meta["dataset"], has_test, has_val) if has_test or has_val else (None, "")
    # the one pass over the test split: results.json and the report both take their figures from it
    final = _evaluate(s, dist, split, model, tta=cfg.tta, tta_share=cfg.tta_share, gallery=GALLERY_SIZE,
                      checkpoint=str(loaded.path), split_note=note)
    final_loss, final_acc = (final.metrics.loss, final.metrics.accuracy) if final is not None else (None, None)
    test_acc, test_loss = (final_acc, final_loss) if split == "test" else (None, None)
    results = {
        "status": "completed", "model": cfg.model, "dataset": s.meta["dataset"],
        "test_acc": test_acc, "test_loss": test_loss, "eval_split": split, "eval_acc": final_acc,
        "best_val_acc": best["val_acc"] if s.val_loader is not None else None, "best_epoch": best["epoch"],
        "evaluated": f"{loaded.path.name} ({'EMA' if s.ema is not None else 'raw'} weights"
                     f"{', ' + TestTimeAugmentation(cfg.tta, share=cfg.tta_share).description if cfg.tta != 'none' else ''})",
        "epochs": cfg.epochs, "steps": pos.step, "params": sum(p.numel() for p in model.parameters()),
        "train_time_s": round(train_time, 2),
        "images_per_s": round(sorted(speeds)[len(speeds) // 2]) if speeds else None,  # median over epochs
        "train_flops": train_flops(s, pos.step * s.train_loader.batch_size * dist.world_size),
        "device": str(dist.device), "precision": s.numerics.precision, "channels_last": s.numerics.channels_last,
        "numerics": s.numerics.reason, "cpu": cpu_info().to_dict() if dist.device.type == "cpu" else None,
        "world_size": dist.world_size,
    }
    results["wall_time_s"] = round(time.perf_counter() - t_start, 2)
    run.write_json("results.json", results)
    if dist.is_main:
        test = (f"test accuracy {test_acc:.2%}" if test_acc is not None else
                f"validation accuracy {final_acc:.2%} (no test split)" if final_acc is not None else "no test split")
        print(f"{test} ({results['evaluated']}, epoch {best['epoch']}); run folder: {run.path}")
        _report(cfg, run, dist, final)
    # the layout `load_model` gives, so the returned model's logits are those of the saved weights to the bit
    return TrainResult(run.path, "completed", results, model.to(memory_format=torch.contiguous_format))


def _report(cfg: TrainConfig, run: RunDir, dist: distributed.Dist, final: EvalResult | None) -> None:
    """report.html via cnnlab.eval when available; a failing report never loses the run."""
    if not cfg.report:
        print(f"report: run `cnnlab report {run.path}` to write {run.path / 'report.html'}")
        return
    from cnnlab.eval.report import write_report  # matplotlib: imported only when a report is written

    try:
        print(f"report: {write_report(run.path, evaluation=final, device=dist.device)}")
    except Exception as err:  # noqa: BLE001 - the run is complete; the report can be rebuilt later
        print(f"report not written ({type(err).__name__}: {err}); run `cnnlab report {run.path}` later")
