"""How a run computes: autocast precision and memory layout, chosen for the device it finds.

`choose_numerics` is the one place this is decided; training, evaluation, the report, the bench
and the explorer all read its `Numerics`. ``precision="auto"`` takes bf16 autocast on a CPU only
where bf16 is native (`cnnlab.hardware`), bf16 (or fp16 before Ampere) on CUDA, fp32 otherwise.
``channels_last="auto"`` times a few training steps of the model in both layouts (NCHW and NHWC)
and keeps the faster; the result is cached per CPU, torch version, threads, model and batch shape
in the user cache folder, so only the first run of a configuration pays for the probe (~1 s).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Mapping

import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.files import atomic_write_text, cache_root
from cnnlab.hardware import NATIVE_MAX_SLOWDOWN, bf16_slowdown, cpu_info

PRECISIONS: dict[str, torch.dtype | None] = {"auto": None, "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
LAYOUT_PROBE_SECONDS = 0.6    # a layout probe's time budget, both layouts together, after warm-up
LAYOUT_PROBE_MIN_BATCH = 8
LAYOUT_CACHE_FILE = "numerics.json"


class EmulatedPrecisionWarning(UserWarning):
    """bf16 asked for on a CPU that emulates it."""


@dataclass(frozen=True)
class Numerics:
    """The resolved choice for a run: what its steps and evaluations run in, and why."""

    precision: str          # fp32 | bf16 | fp16
    channels_last: bool     # NHWC activations and weights
    reason: str             # one line for the user: what was found and what that led to

    def autocast(self, device: torch.device | str) -> Callable[[], ContextManager[Any]]:
        """A factory of autocast contexts for ``device`` (a no-op context for fp32)."""
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return contextlib.nullcontext
        device_type = torch.device(device).type
        return lambda: torch.autocast(device_type, dtype=dtype)

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in this run's memory layout (4-D image batches only)."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> "Numerics":
        return cls(str(saved["precision"]), bool(saved["channels_last"]), str(saved.get("reason", "as saved")))


FP32 = Numerics("fp32", False, "fp32, NCHW")  # plain: what a model runs in without a run's choice


def check_precision(precision: str, device: torch.device | str) -> None:
    """ConfigError for an unknown name, or fp16 off CUDA, before any slow work."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if precision == "fp16" and torch.device(device).type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device; on CPU use auto, fp32 or bf16")


def resolve_precision(precision: str, device: torch.device | str) -> tuple[str, str]:
    """(fp32 | bf16 | fp16, why) for ``precision`` (auto or a name) on ``device``.

    An explicit bf16 on a CPU that emulates it is kept, with an EmulatedPrecisionWarning that
    says how much slower it measured and how to get the fast path.
    """
    check_precision(precision, device)
    device = torch.device(device)
    if device.type == "cuda":
        if precision != "auto":
            return precision, f"CUDA {torch.cuda.get_device_name(device)}: {precision} as asked"
        chosen = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return chosen, f"CUDA {torch.cuda.get_device_name(device)} -> {chosen} autocast"
    if device.type != "cpu":
        return ("fp32" if precision == "auto" else precision), f"{device.type} device"
    cpu = cpu_info()
    if precision == "auto":
        return ("bf16" if cpu.native_bf16 else "fp32"), f"CPU: {cpu.describe()}"
    if precision == "bf16" and not cpu.native_bf16:
        slowdown = bf16_slowdown()
        measured = f"{slowdown:.0f}x slower than fp32" if slowdown >= NATIVE_MAX_SLOWDOWN else "about as fast as fp32"
        warnings.warn(
            f"bf16 is emulated on this CPU ({cpu.describe()}): a bf16 matrix product measured "
            f"{measured} here (training steps of small CNNs about 10x slower where emulated). Use "
            "--precision auto (or fp32) for the fast path here; bf16 pays off on CPUs with AVX512_BF16 or AMX",
            EmulatedPrecisionWarning, stacklevel=2)
    return precision, f"CPU: {cpu.describe()}, {precision} as asked"


def choose_numerics(precision: str, channels_last: bool | str, device: torch.device | str, *,
                    model: nn.Module | None = None, batch_shape: tuple[int, ...] | None = None,
                    loss_fn: nn.Module | None = None, cache: bool = True) -> Numerics:
    """The precision and layout a run uses on ``device``; "auto" for either is decided here.

    ``model`` and ``batch_shape`` (B, C, H, W) let "auto" layout time real training steps; without
    them (or for inputs that are not images) auto means the default NCHW layout.
    """
    device = torch.device(device)
    chosen, why = resolve_precision(precision, device)
    if channels_last != "auto":
        if not isinstance(channels_last, bool):
            raise ConfigError(f"channels_last must be true, false or auto, not {channels_last!r}")
        layout, layout_why = channels_last, "as asked"
    elif model is None or batch_shape is None or len(batch_shape) != 4:
        layout, layout_why = False, "no image batches to time"
    elif device.type == "cuda":
        layout, layout_why = chosen in ("bf16", "fp16"), "tensor cores read NHWC"
    else:
        layout, layout_why = _layout_by_probe(model, batch_shape, chosen, device, loss_fn, cache)
    shown = "channels-last" if layout else "NCHW"
    return Numerics(chosen, layout, f"{why} -> {chosen}, {shown} ({layout_why})")


# --- the layout probe ----------------------------------------------------------------------------

def _layout_by_probe(model: nn.Module, batch_shape: tuple[int, ...], precision: str, device: torch.device,
                     loss_fn: nn.Module | None, cache: bool) -> tuple[bool, str]:
    key = _cache_key(model, batch_shape, precision)
    saved = _read_cache().get(key) if cache else None
    if saved is not None:
        return bool(saved["channels_last"]), f"{saved['speedup']:.2f}x faster than the other layout, measured before"
    seconds = time_layouts(model, batch_shape, precision, device, loss_fn)
    channels_last = seconds[True] < seconds[False]
    speedup = max(seconds.values()) / max(min(seconds.values()), 1e-9)
    if cache:
        entry = _add_to_cache(key, {"channels_last": channels_last, "speedup": round(speedup, 3),
                                    "seconds": {("channels_last" if k else "nchw"): v for k, v in seconds.items()}})
        if entry["channels_last"] != channels_last:       # another process decided first: runs must agree
            return bool(entry["channels_last"]), f"{entry['speedup']:.2f}x faster than the other layout, measured before"
    return channels_last, f"{speedup:.2f}x faster than the other layout in a timed probe"


def time_layouts(model: nn.Module, batch_shape: tuple[int, ...], precision: str, device: torch.device,
                 loss_fn: nn.Module | None = None) -> dict[bool, float]:
    """Seconds per image of a training step (forward, loss, backward) in NCHW (False) and NHWC (True).

    On copies of ``model``, with the random stream left as it was, in alternating rounds so that a
    change of load hits both layouts alike. The batch is cut down when a step would be slow.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    autocast = Numerics(precision, False, "").autocast(device)
    with torch.random.fork_rng(devices=[]):
        batch = _probe_batch(model, batch_shape, autocast, device, loss_fn)
        x = torch.randn(batch, *batch_shape[1:], device=device)
        copies = {layout: _probe_copy(model, device, layout) for layout in (False, True)}
        inputs = {False: x, True: x.contiguous(memory_format=torch.channels_last)}
        y = torch.zeros(batch, dtype=torch.long, device=device)
        best = {layout: float("inf") for layout in copies}
        spent, rounds = 0.0, 0
        for layout in copies:                                  # warm-up: oneDNN primitive creation
            _probe_step(copies[layout], inputs[layout], y, autocast, loss_fn)
        while rounds < 2 or (spent < LAYOUT_PROBE_SECONDS and rounds < 10):
            for layout in copies:
                start = time.perf_counter()
                _probe_step(copies[layout], inputs[layout], y, autocast, loss_fn)
                seconds = time.perf_counter() - start
                best[layout], spent = min(best[layout], seconds), spent + seconds
            rounds += 1
    return {layout: seconds / batch for layout, seconds in best.items()}


def _probe_copy(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    probe = copy.deepcopy(model).to(device).train()
    return probe.to(memory_format=torch.channels_last) if channels_last else probe


def _probe_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, autocast: Callable[[], ContextManager[Any]],
                loss_fn: nn.Module) -> None:
    with autocast():
        logits = model(x)
        if not isinstance(logits, torch.Tensor):             # e.g. auxiliary heads: the main output
            logits = logits[0]
        loss = loss_fn(logits.float(), y[: logits.shape[0]].clamp_max(logits.shape[-1] - 1))
    loss.backward()
    model.zero_grad(set_to_none=True)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


def _probe_batch(model: nn.Module, batch_shape: tuple[int, ...], autocast: Callable[[], ContextManager[Any]],
                 device: torch.device, loss_fn: nn.Module) -> int:
    """The run's batch, or fewer images when a step of the whole batch would not fit the budget.

    Doubles from a few images while a step stays cheap: small batches measure per-call overhead,
    not the layout, so the probe uses the largest batch it can afford.
    """
    probe = _probe_copy(model, device, False)
    batch = min(batch_shape[0], LAYOUT_PROBE_MIN_BATCH)
    while True:
        x = torch.randn(batch, *batch_shape[1:], device=device)
        y = torch.zeros(batch, dtype=torch.long, device=device)
        _probe_step(probe, x, y, autocast, loss_fn)          # a new shape: oneDNN builds its kernels first
        start = time.perf_counter()
        _probe_step(probe, x, y, autocast, loss_fn)
        if batch >= batch_shape[0] or time.perf_counter() - start > LAYOUT_PROBE_SECONDS / 16:
            return batch
        batch = min(2 * batch, batch_shape[0])


def _cache_key(model: nn.Module, batch_shape: tuple[int, ...], precision: str) -> str:
    """CPU model, torch version, threads, precision, batch shape and the model's parameter shapes."""
    shapes = ";".join(f"{name}:{tuple(t.shape)}" for name, t in model.state_dict().items())
    fingerprint = hashlib.sha1(f"{type(model).__name__}|{shapes}".encode()).hexdigest()[:16]
    cpu = cpu_info()
    return "|".join([cpu.model, torch.__version__, f"threads={torch.get_num_threads()}", precision,
                     "x".join(map(str, batch_shape)), fingerprint])


def _cache_path() -> Path:
    return cache_root() / LAYOUT_CACHE_FILE


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _add_to_cache(key: str, entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """Store a decision unless another process stored one for ``key`` first; return the stored one.

    The first decision wins, so every later run of a configuration computes in the same layout
    (a timed probe under other load could otherwise flip it). A cache that cannot be written only
    costs the next run another probe.
    """
    cached = _read_cache()
    if key in cached:
        return cached[key]
    try:
        atomic_write_text(_cache_path(), json.dumps({**cached, key: dict(entry)}, indent=1) + "\n")
    except OSError:
        pass
    return entry


def for_evaluation(saved: Mapping[str, Any] | None, config: Mapping[str, Any], device: torch.device | str) -> Numerics:
    """How to evaluate a trained run on ``device``: as it trained, where that runs well here.

    ``saved`` is the run's resolved choice (its checkpoint's "numerics"); runs without one give
    their config's explicit values. fp16 off CUDA, and bf16 on a CPU that emulates it, fall back
    to fp32 (with a warning for bf16: the figures may then differ from the run's in the last digit).
    """
    device = torch.device(device)
    precision = str((saved or config).get("precision") or "fp32")
    layout = (saved or config).get("channels_last", False)
    if precision == "auto" or layout == "auto":
        return choose_numerics(precision, False if layout == "auto" else bool(layout), device)
    if precision == "fp16" and device.type != "cuda":
        precision = "fp32"
    if precision == "bf16" and device.type == "cpu" and not cpu_info().native_bf16:
        warnings.warn(f"this run trained in bf16, which this CPU ({cpu_info().describe()}) only emulates: evaluating "
                      "in fp32 instead, so the figures may differ from the run's own in the last digit",
                      EmulatedPrecisionWarning, stacklevel=2)
        precision = "fp32"
    return Numerics(precision, bool(layout), "as the run trained")
