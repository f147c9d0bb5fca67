"""`summary(model, input_size)`: per-layer output shapes, parameters, MACs/FLOPs and receptive fields.

One forward pass does everything: forward hooks read each layer's output, `FlopCount` (PyTorch's
``FlopCounterMode`` formulas) counts FLOPs (convolutions and matrix products, 2 FLOPs per
multiply-add; the difference of its running total across a layer's call is that layer's count), and a
`ReceptiveFieldTracker` follows the receptive field through adds and concats. The pass runs in
eval mode under ``torch.no_grad()``; on the ``meta`` device it computes shapes only, which is the
fastest way to inspect a large model (``cnnlab summary`` does that).
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils._pytree import tree_flatten

from cnnlab.display import esc, table
from cnnlab.errors import ConfigError, ShapeError
from cnnlab.inspect.flop_count import FlopCount
from cnnlab.inspect.receptive_field import ReceptiveField, ReceptiveFieldTracker, format_axes

__all__ = ["LayerRow", "ModelSummary", "SummaryTotals", "summary"]


@dataclass
class LayerRow:
    """One layer call. ``params`` are counted at a module's first call only (0 when it is reused)."""

    name: str  # qualified module name, e.g. "layer1.0.conv1"
    type: str  # class name, e.g. "Conv2d"
    depth: int  # number of dots in ``name`` + 1 (the model itself is 0)
    output_shape: tuple[int, ...] | list[tuple[int, ...]]  # without the batch axis
    params: int
    trainable_params: int
    macs: int
    flops: int  # 2 x MACs for convolutions and linear layers
    receptive_field: ReceptiveField | None  # on the input; None for outputs without spatial axes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # JSON-ready: tuples become arrays, the receptive field a {size, jump} dict


@dataclass
class SummaryTotals:
    params: int
    trainable_params: int
    macs: int
    flops: int
    input_shape: tuple[int, ...]  # with the batch axis
    output_shape: tuple[int, ...] | list[tuple[int, ...]]  # without the batch axis
    receptive_field: ReceptiveField | None  # of the model's output on its input
    dtype: str
    input_bytes: int
    param_bytes: int
    activation_bytes: int  # estimate: the outputs of every leaf-layer call, kept for backward

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelSummary:
    """The result of `summary`: ``rows`` (one per layer call, in execution order) and ``totals``."""

    model_type: str
    rows: list[LayerRow]
    totals: SummaryTotals
    depth: int | None = None
    batch_size: int = 1
    notes: list[str] = field(default_factory=list)

    def row(self, name: str) -> LayerRow:
        """The first row of the layer called ``name``."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_type,
            "depth": self.depth,
            "batch_size": self.batch_size,
            "rows": [r.to_dict() for r in self.rows],
            "totals": self.totals.to_dict(),
            "notes": list(self.notes),
        }

    def table(self):
        """The rows as a ``rich.table.Table`` (for printing to a rich console)."""
        from rich import box
        from rich.table import Table

        table = Table(title=f"{self.model_type}: input {_fmt_shape(self.totals.input_shape[1:])}", box=box.SIMPLE_HEAD)
        for col, justify in (("layer", "left"), ("type", "left"), ("output", "right"), ("params", "right"),
                             ("MACs", "right"), ("FLOPs", "right"), ("RF", "right"), ("jump", "right")):
            table.add_column(col, justify=justify, no_wrap=True)
        for r in self.rows:
            rf = r.receptive_field
            table.add_row(r.name or "(model)",
                          r.type, _fmt_shape(r.output_shape), f"{r.params:,}", f"{r.macs:,}", f"{r.flops:,}",
                          format_axes(rf.size) if rf else "", format_axes(rf.jump) if rf else "")
        return table

    def totals_text(self) -> str:
        t = self.totals
        lines = [
            f"input {_fmt_shape(t.input_shape[1:])} (batch {self.batch_size}) -> output {_fmt_shape(t.output_shape)}",
            f"params: {t.params:,} ({_si(t.params)}), trainable {t.trainable_params:,}",
            f"MACs: {t.macs:,} ({_si(t.macs)})   FLOPs: {t.flops:,} ({_si(t.flops)})",
        ]
        if t.receptive_field is not None:
            spatial = isinstance(t.output_shape, tuple) and len(t.output_shape) >= 2
            shown = t.receptive_field if spatial else format_axes(t.receptive_field.size)  # no jump between logits
            lines.append(f"receptive field of the output: {shown}")
        lines.append(
            f"memory ({t.dtype}): input {_mb(t.input_bytes)}, params {_mb(t.param_bytes)}, "
            f"activations ~{_mb(t.activation_bytes)} (sum of layer outputs)"
        )
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        from rich.console import Console

        buffer = io.StringIO()
        # force_jupyter=False: in a notebook rich would display the table instead of writing it to the buffer
        Console(file=buffer, width=240, color_system=None, legacy_windows=False, force_jupyter=False).print(self.table())
        return buffer.getvalue().rstrip() + "\n" + self.totals_text()

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return summary_html(self)


def summary(
    model: nn.Module,
    input_size: Sequence[int],
    *,
    depth: int | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 1,
    dtype: torch.dtype | None = None,
) -> ModelSummary:
    """Run one forward pass on a zero ``(batch_size, *input_size)`` input and describe every layer.

    Args:
        model: any ``nn.Module`` taking one image batch.
        input_size: one image's shape, channels first, e.g. ``(3, 224, 224)``.
        depth: None for one row per leaf layer; ``D`` to collapse everything below depth ``D``
            (top-level children are depth 1; ``2`` shows VGG's blocks ``features.0`` ...).
        device: where to run; None means where the model's parameters are. ``"meta"`` computes
            shapes and counts without arithmetic (the model must already be on ``meta``).
        batch_size: images in the pass; MACs/FLOPs and memory are for the whole batch.
        dtype: input dtype; None means the model's floating-point dtype (float32 if it has none).

    Raises:
        ConfigError: a malformed ``input_size``/``depth``/``batch_size``.
        ShapeError: the model cannot take an input of this size (names the failing layer).
    """
    input_size = _check_args(input_size, depth, batch_size)
    device, dtype = _placement(model, device, dtype)
    modules = dict(model.named_modules())
    rows_of = {name: m for name, m in modules.items() if _is_row(name, m, depth)}
    leaves = {name: m for name, m in modules.items() if _is_leaf(m)}
    recorder = _Recorder(rows_of, leaves)
    training = {m: m.training for m in modules.values()}
    model.eval()
    try:
        with torch.no_grad(), FlopCount() as flops, ReceptiveFieldTracker() as rf:
            recorder.attach(flops, rf)
            # zeros, not random: the pass must not move the caller's RNG state
            x = rf.track(torch.zeros(batch_size, *input_size, device=device, dtype=dtype))
            try:
                out = model(x)
            except (RuntimeError, ValueError) as err:
                raise ShapeError(_forward_failure(model, input_size, recorder.active(), err)) from err
    finally:
        recorder.detach()
        for m, mode in training.items():
            m.train(mode)
    return _build(model, recorder, flops, rf, x, out, depth, batch_size)


# --- internals -----------------------------------------------------------------------------------


def _check_args(input_size: Sequence[int], depth: int | None, batch_size: int) -> tuple[int, ...]:
    try:
        size = tuple(int(s) for s in input_size)
    except (TypeError, ValueError):
        raise ConfigError(f"input_size must be a sequence of ints such as (3, 224, 224), got {input_size!r}") from None
    if not size or any(s < 1 for s in size):
        raise ConfigError(f"input_size must hold positive sizes such as (3, 224, 224), got {input_size!r}")
    if depth is not None and depth < 0:
        raise ConfigError(f"depth must be 0 or more (or None for every leaf layer), got {depth}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    return size


def _placement(model: nn.Module, device, dtype) -> tuple[torch.device, torch.dtype]:
    tensors = [*model.parameters(), *model.buffers()]
    if device is None:
        device = tensors[0].device if tensors else torch.device("cpu")
    device = torch.device(device)
    elsewhere = {str(t.device) for t in tensors if t.device.type != device.type}
    if elsewhere:
        raise ConfigError(f"the model is on {', '.join(sorted(elsewhere))} but device={str(device)!r}: "
                          f"move it first with model.to({str(device)!r}), or leave device=None")
    if dtype is None:
        dtype = next((t.dtype for t in tensors if t.is_floating_point()), torch.float32)
    return device, dtype


def _is_row(name: str, module: nn.Module, depth: int | None) -> bool:
    if depth is None:
        return _is_leaf(module)
    level = _depth(name)
    return level == depth or (_is_leaf(module) and level < depth)


def _is_leaf(module: nn.Module) -> bool:
    return next(module.children(), None) is None


def _depth(name: str) -> int:
    return name.count(".") + 1 if name else 0


@dataclass
class _Call:
    name: str
    module: nn.Module
    flops_before: int
    output: Any = None
    flops: int = 0
    field: ReceptiveField | None = None
    done: bool = False


class _Recorder:
    """Forward hooks on the row modules (and on leaves, for the activation-memory estimate)."""

    def __init__(self, rows_of: dict[str, nn.Module], leaves: dict[str, nn.Module]) -> None:
        self.rows_of = rows_of
        self.leaves = leaves
        self.calls: list[_Call] = []  # row calls, in the order they start
        self.leaf_output_bytes = 0
        self._stack: list[_Call] = []
        self._handles: list[Any] = []

    def attach(self, flops: FlopCount, rf: ReceptiveFieldTracker) -> None:
        self._flops, self._rf = flops, rf
        for name, module in self.rows_of.items():
            self._handles.append(module.register_forward_pre_hook(self._pre(name)))
            self._handles.append(module.register_forward_hook(self._post(name)))
        for name, module in self.leaves.items():
            if name not in self.rows_of:  # leaves inside collapsed rows still count for memory
                self._handles.append(module.register_forward_hook(self._leaf_post))

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def active(self) -> list[str]:
        return [c.name for c in self._stack]

    def _pre(self, name: str):
        def hook(module: nn.Module, args: Any) -> None:
            call = _Call(name, module, self._flops.total)
            self.calls.append(call)
            self._stack.append(call)
        return hook

    def _post(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            call = self._stack.pop()
            call.output = _shapes(output)
            call.flops = self._flops.total - call.flops_before
            call.field = _spatial_field(self._rf, output)
            call.done = True
            if name in self.leaves:
                self._leaf_post(module, args, output)
        return hook

    def _leaf_post(self, module: nn.Module, args: Any, output: Any) -> None:
        self.leaf_output_bytes += sum(
            t.numel() * t.element_size() for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)
        )


def _shapes(output: Any) -> tuple[int, ...] | list[tuple[int, ...]]:
    shapes = [tuple(t.shape[1:]) for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)]
    return shapes[0] if len(shapes) == 1 else shapes


def _spatial_field(rf: ReceptiveFieldTracker, output: Any) -> ReceptiveField | None:
    for t in tree_flatten(output)[0]:
        if isinstance(t, torch.Tensor) and t.dim() >= 3:
            return rf.lookup(t)
    return None


def _count(params) -> tuple[int, int]:
    params = list(params)
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _build(model, recorder: _Recorder, flops: FlopCount, rf: ReceptiveFieldTracker,
           x: torch.Tensor, out: Any, depth: int | None, batch_size: int) -> ModelSummary:
    rows, seen = [], set()
    for call in recorder.calls:
        if not call.done:
            continue
        first = id(call.module) not in seen
        seen.add(id(call.module))
        params, trainable = _count(call.module.parameters()) if first else (0, 0)
        rows.append(LayerRow(
            name=call.name, type=type(call.module).__name__, depth=_depth(call.name),
            output_shape=call.output, params=params, trainable_params=trainable,
            macs=call.flops // 2, flops=call.flops, receptive_field=call.field,
        ))
    params, trainable = _count(model.parameters())
    total_flops = flops.total
    outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
    totals = SummaryTotals(
        params=params, trainable_params=trainable, macs=total_flops // 2, flops=total_flops,
        input_shape=tuple(x.shape), output_shape=_shapes(out),
        receptive_field=rf.lookup(outputs[0]) if outputs else None,
        dtype=str(x.dtype).removeprefix("torch."),
        input_bytes=x.numel() * x.element_size(),
        param_bytes=sum(p.numel() * p.element_size() for p in model.parameters()),
        activation_bytes=recorder.leaf_output_bytes,
    )
    notes = []
    called = {id(c.module) for c in recorder.calls}
    unused = [n for n, m in recorder.rows_of.items() if id(m) not in called and next(m.parameters(), None) is not None]
    if unused:
        notes.append(f"not called in eval mode (params counted in the totals only): {', '.join(unused[:6])}"
                     + (" ..." if len(unused) > 6 else ""))
    return ModelSummary(model_type=type(model).__name__, rows=rows, totals=totals, depth=depth,
                        batch_size=batch_size, notes=notes)


def _forward_failure(model: nn.Module, input_size: tuple[int, ...], active: list[str], err: Exception) -> str:
    where = f" in layer {active[-1]!r}" if active and active[-1] else ""
    return (f"{type(model).__name__} cannot take an input of size {_fmt_shape(input_size)}: the forward pass "
            f"failed{where}: {err}. Check the channel count and that the image is large enough for the "
            f"model's downsampling (or build the model for this input size).")


# --- formatting ----------------------------------------------------------------------------------


def _fmt_shape(shape: tuple[int, ...] | list[tuple[int, ...]]) -> str:
    if isinstance(shape, list):
        return ", ".join(_fmt_shape(s) for s in shape)
    return "x".join(map(str, shape)) if shape else "scalar"


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:g}"


def _mb(n: int) -> str:
    return f"{n / 2**20:.2f} MB"


# --- in Jupyter ---------------------------------------------------------------------------------

SUMMARY_COLUMNS = ("layer", "type", "output", "params", "MACs", "receptive field")


def summary_html(s: ModelSummary) -> str:
    """The per-layer table of `cnnlab.summary` and its totals."""

    rows = [(r.name or "(model)", r.type, _fmt_shape(r.output_shape), f"{r.params:,}", f"{r.macs:,}",
             format_axes(r.receptive_field.size) if r.receptive_field else "") for r in s.rows]
    t = s.totals
    totals = [("parameters", f"{t.params:,}", _si(t.params)), ("MACs", f"{t.macs:,}", _si(t.macs)),
              ("FLOPs", f"{t.flops:,}", _si(t.flops))]
    caption = f"{s.model_type}: input {_fmt_shape(t.input_shape[1:])} -> output {_fmt_shape(t.output_shape)}"
    notes = "".join(f"<p>note: {esc(n)}</p>" for n in s.notes)
    return (f'<div class="cnnlab-summary">{table(SUMMARY_COLUMNS, rows, caption=caption, cls="layers")}'
            f'{table(("total", "count", ""), totals, cls="totals")}{notes}</div>')
