"""Convolution and pooling arithmetic: output size, parameters, MACs and receptive field by formula.

For an ``N``-pixel side, filter ``F``, stride ``S``, padding ``P`` and dilation ``D``::

    output = (N + 2P - D(F-1) - 1) / S + 1          (must be an integer; PyTorch rounds down)
    params = F*F*C*K + K                             (K filters on C input channels, one bias each)
    MACs   = F*F*C * K*H_out*W_out                   (one multiply-add per weight per output pixel)

Pooling has no parameters and keeps the channels; its stride defaults to ``F`` (PyTorch's
default). A depthwise-separable convolution replaces the ``F``x``F``x``C``x``K`` filter bank with a
depthwise ``F``x``F`` filter per channel followed by a 1x1 ``C -> K`` convolution, costing about
``1/K + 1/F^2`` of the dense one.

The variants (the building blocks are in `cnnlab.layers`)::

    dilated:     effective filter size D(F-1) + 1          (a 3x3 filter with D=2 spans 5x5)
    grouped:     params F*F*(C/G)*K + K                     (G groups: 1/G of the weights and MACs)
    transposed:  output = (N-1)S - 2P + D(F-1) + output_padding + 1
                 (= (N-1)S - 2P + F + output_padding for D=1; the inverse of the conv size rule)
    1-D, 3-D:    the same rules per axis; params = prod(kernel) * C/G * K + K
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from cnnlab.display import esc, table
from cnnlab.errors import ConfigError, ShapeError
from cnnlab.inspect.receptive_field import ReceptiveField, stacked_receptive_field

__all__ = ["ConvLayer", "ConvReport", "conv_arithmetic", "conv_output_size", "conv_params", "effective_filter_size",
           "resolve_padding", "transposed_conv_output_size"]

Pool = Literal["max", "avg"]
_POOL_NAMES = {"max": "max pool", "avg": "avg pool"}


def resolve_padding(padding: int | str, kernel: int, dilation: int = 1) -> int:
    """An int, or ``"same"`` = ``D(F-1)/2`` (keeps the size at stride 1; needs an odd span)."""
    if isinstance(padding, str):
        if padding.strip().lower() == "same":
            span = dilation * (kernel - 1)
            if span % 2:
                raise ConfigError(f"padding 'same' needs an odd filter size (or an even dilation); F={kernel} "
                                  f"with dilation {dilation} would need {span / 2} pixels per side. "
                                  f"Use F={kernel + 1} or an explicit padding.")
            return span // 2
        try:
            padding = int(padding)
        except ValueError:
            raise ConfigError(f"padding must be an integer or 'same', got {padding!r}") from None
    if padding < 0:
        raise ConfigError(f"padding must be 0 or more, got {padding}")
    return padding


def conv_output_size(
    size: int, kernel: int, stride: int = 1, padding: int | str = 0, dilation: int = 1, *, exact: bool = True
) -> int:
    """Output side ``(N + 2P - D(F-1) - 1)/S + 1`` of a convolution or pooling window.

    With ``exact=True`` (the default) a fraction is a ShapeError that explains it and suggests a
    padding or stride that fits; ``exact=False`` rounds down like PyTorch.
    """
    for label, value, low in (("input size", size, 1), ("filter size", kernel, 1), ("stride", stride, 1),
                              ("dilation", dilation, 1)):
        if value < low:
            raise ConfigError(f"{label} must be at least {low}, got {value}")
    pad = resolve_padding(padding, kernel, dilation)
    span = size + 2 * pad - dilation * (kernel - 1) - 1  # pixels the window slides over
    if span < 0:
        raise ShapeError(
            f"the filter spans {dilation * (kernel - 1) + 1} pixels but the padded input has only "
            f"{size + 2 * pad} ({size} + 2*{pad}): use a smaller filter or dilation, or padding of at least "
            f"{math.ceil((dilation * (kernel - 1) + 1 - size) / 2)}."
        )
    if span % stride and exact:
        raise ShapeError(_not_integer_message(size, kernel, stride, pad, dilation, span))
    return span // stride + 1


def effective_filter_size(kernel: int, dilation: int = 1) -> int:
    """The pixels a dilated filter spans: ``D(F-1) + 1`` (the filter has only ``F`` taps)."""
    return dilation * (kernel - 1) + 1


def transposed_conv_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0, dilation: int = 1
) -> int:
    """Output side ``(N-1)S - 2P + D(F-1) + output_padding + 1`` of a transposed convolution.

    It inverts the convolution rule: a stride-S conv maps several input sizes to the same output,
    and ``output_padding`` (less than S or D) picks which of them the transposed conv gives back.
    """
    for label, value, low in (("input size", size, 1), ("filter size", kernel, 1), ("stride", stride, 1),
                              ("dilation", dilation, 1), ("padding", padding, 0), ("output padding", output_padding, 0)):
        if value < low:
            raise ConfigError(f"{label} must be at least {low}, got {value}")
    if output_padding >= max(stride, dilation):
        raise ConfigError(f"output padding must be smaller than the stride or the dilation (here {max(stride, dilation)}), "
                          f"got {output_padding}; it only chooses among the sizes a stride-{stride} conv maps together")
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ShapeError(f"a transposed conv with padding {padding} removes more than it adds: output "
                         f"({size}-1)*{stride} - 2*{padding} + {_span_text(kernel, dilation)} + {output_padding} + 1 = {out}; "
                         f"use less padding")
    return out


def conv_params(
    in_channels: int,
    out_channels: int,
    kernel: int | tuple[int, ...],
    *,
    dims: int = 2,
    groups: int = 1,
    bias: bool = True,
) -> int:
    """Weights of a (1-, 2- or 3-D, grouped, plain or transposed) convolution: ``prod(F) * C/G * K (+ K)``.

    ``kernel`` is one size per axis, or an int for a ``dims``-D cube (``F*F`` taps in 2-D).
    Each of the ``K`` filters sees only the ``C/G`` input channels of its group.
    """
    check_groups(in_channels, out_channels, groups)
    taps = math.prod((kernel,) * dims if isinstance(kernel, int) else kernel)
    return taps * (in_channels // groups) * out_channels + out_channels * bias


def check_groups(in_channels: int, out_channels: int, groups: int) -> None:
    """`ConfigError` unless ``groups`` divides both channel counts (as torch requires)."""
    if groups < 1 or in_channels % groups or out_channels % groups:
        common = [g for g in range(2, math.gcd(in_channels, out_channels) + 1) if in_channels % g == 0 == out_channels % g]
        hint = f"groups that fit: {', '.join(map(str, [1, *common][:6]))}"
        raise ConfigError(f"groups={groups} must divide both the input channels ({in_channels}) and the number of "
                          f"filters ({out_channels}); {hint}")


def _not_integer_message(size: int, kernel: int, stride: int, pad: int, dilation: int, span: int) -> str:
    formula = f"({size} + 2*{pad} - {_span_text(kernel, dilation)} - 1)/{stride} + 1 = {span / stride + 1:.4g}"
    fixes = []
    for p in _fitting_paddings(size, kernel, stride, pad, dilation):
        fixes.append(f"padding {p} (output {(size + 2 * p - dilation * (kernel - 1) - 1) // stride + 1})")
    for n in (size - span % stride, size - span % stride + stride):  # crop or enlarge the input
        if n >= size - span:
            fixes.append(f"input size {n} (output {(span - size + n) // stride + 1})")
    for s in _fitting_strides(span, stride):
        fixes.append(f"stride {s} (output {span // s + 1})")
    return (
        f"output size {formula} is not an integer: the window slides over {span} pixels, which is not a "
        f"multiple of stride {stride}, so {span % stride} pixel(s) at the border would never be covered. "
        f"Sizes that fit: {', or '.join(fixes)}."
    )


def _span_text(kernel: int, dilation: int) -> str:
    return f"({kernel}-1)" if dilation == 1 else f"{dilation}*({kernel}-1)"


def _fitting_paddings(size: int, kernel: int, stride: int, pad: int, dilation: int, limit: int = 2) -> list[int]:
    # 2P changes the span by even steps, so a fitting padding may not exist for even strides.
    candidates = range(0, pad + stride + 1)
    fits = [p for p in candidates if p != pad and (size + 2 * p - dilation * (kernel - 1) - 1) % stride == 0
            and size + 2 * p - dilation * (kernel - 1) - 1 >= 0]
    return sorted(fits, key=lambda p: abs(p - pad))[:limit]


def _fitting_strides(span: int, stride: int, limit: int = 2) -> list[int]:
    divisors = [s for s in range(1, max(span, 1) + 1) if span % s == 0 and s != stride]
    return sorted(divisors, key=lambda s: (abs(s - stride), s))[:limit]


@dataclass(frozen=True)
class ConvLayer:
    """One convolution or pooling layer worked out by formula."""

    kind: str  # "conv", "transposed conv", "separable conv", "max pool" or "avg pool"
    input_shape: tuple[int, int, int]  # (C, H, W)
    output_shape: tuple[int, int, int]  # (K, H_out, W_out)
    kernel: int
    stride: int
    padding: int
    dilation: int
    params: int
    macs: int
    dense_params: int  # the same layer as an ordinary, ungrouped convolution
    dense_macs: int
    receptive_field: ReceptiveField  # of this layer's output on the input of the whole stack
    groups: int = 1
    output_padding: int = 0  # transposed convolutions only

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, input_shape=list(self.input_shape), output_shape=list(self.output_shape),
                    receptive_field=_field_dict(self.receptive_field))

    def explain(self) -> list[str]:
        """The formulas behind each number, with this layer's values substituted."""
        c, h, w = self.input_shape
        k, out_h, out_w = self.output_shape
        f, s, p, d = self.kernel, self.stride, self.padding, self.dilation
        pool = self.kind.endswith("pool")
        grouped = f", {self.groups} groups" if self.groups > 1 else ""
        lines = [f"{self.kind} {f}x{f}, stride {s}, padding {p}, dilation {d}{grouped}"
                 + ("" if pool else f", {k} filter{'s' * (k != 1)}") + f": {_shape(self.input_shape)}"
                 f" -> {_shape(self.output_shape)}"]
        sides = [(h, out_h)] if h == w else [(h, out_h), (w, out_w)]
        if self.kind == "transposed conv":
            extra = f" + {self.output_padding}" if self.output_padding else ""
            lines += [f"  output side ({n}-1)*{s} - 2*{p} + {_span_text(f, d)}{extra} + 1 = {o}" for n, o in sides]
        else:
            lines += [f"  output side ({n} + 2*{p} - {_span_text(f, d)} - 1)/{s} + 1 = {o}" for n, o in sides]
        if d > 1:
            lines.append(f"  effective filter size {d}*({f}-1) + 1 = {effective_filter_size(f, d)} "
                         f"(only {f}x{f} weights)")
        lines += _COST_LINES[self.kind](self)
        lines.append(f"  receptive field {self.field_text()}")
        return lines

    def field_text(self) -> str:
        return "n/a (transposed convolutions are not modelled)" if self.kind == "transposed conv" else str(self.receptive_field)


def _pool_cost(layer: ConvLayer) -> list[str]:
    return ["  params 0 (pooling has no weights; channels unchanged)"]


def _conv_cost(layer: ConvLayer) -> list[str]:
    (c, h, w), (k, out_h, out_w) = layer.input_shape, layer.output_shape
    f, g = layer.kernel, layer.groups
    per_filter = f"{f}*{f}*{c}" if g == 1 else f"{f}*{f}*({c}/{g})"
    bias = layer.params - f * f * (c // g) * k
    # a transposed conv multiplies every input pixel by its filters; a conv computes every output pixel
    pixels = f"{h}*{w} input pixels" if layer.kind == "transposed conv" else f"{out_h}*{out_w}"
    lines = [f"  params {per_filter}*{k}" + (f" + {bias}" if bias else "") + f" = {layer.params:,}",
             f"  MACs {f}*{f}*{c // g} * {k}*{pixels} = {layer.macs:,} (FLOPs {2 * layer.macs:,})"]
    if g > 1:
        lines.append(f"  ungrouped: params {layer.dense_params:,}, MACs {layer.dense_macs:,} "
                     f"({g} groups use 1/{g} of the weights and MACs)")
    return lines


def _separable_cost(layer: ConvLayer) -> list[str]:
    (c, _, _), (k, out_h, out_w) = layer.input_shape, layer.output_shape
    f = layer.kernel
    return [f"  params {layer.params:,} = depthwise {f}*{f}*{c} + pointwise {c}*{k} (+ biases); "
            f"dense conv: {layer.dense_params:,}",
            f"  MACs ({f}*{f}*{c} + {c}*{k}) * {out_h}*{out_w} = {layer.macs:,}; dense conv: {layer.dense_macs:,}"]


_COST_LINES = {"conv": _conv_cost, "transposed conv": _conv_cost, "separable conv": _separable_cost,
               "max pool": _pool_cost, "avg pool": _pool_cost}


@dataclass(frozen=True)
class ConvReport:
    """``layers`` stacked identical layers, their totals and the receptive field of the last output."""

    layers: list[ConvLayer]
    params: int = 0
    macs: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return self.layers[-1].output_shape

    @property
    def receptive_field(self) -> ReceptiveField:
        return self.layers[-1].receptive_field

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": [layer.to_dict() for layer in self.layers],
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "receptive_field": _field_dict(self.receptive_field),
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        lines = []
        for i, layer in enumerate(self.layers, 1):
            explained = layer.explain()
            lines += [f"layer {i}: {explained[0]}" if len(self.layers) > 1 else explained[0], *explained[1:]]
        if len(self.layers) > 1:
            lines.append(f"total: output {_shape(self.output_shape)}, params {self.params:,}, MACs {self.macs:,}, "
                         f"receptive field {self.layers[-1].field_text()}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return conv_html(self)


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _field_dict(field: ReceptiveField) -> dict[str, int]:
    # The calculator's filters are square: one size and one jump.
    return {"size": field.size[0], "jump": field.jump[0]}


def conv_arithmetic(
    input_shape: tuple[int, ...] | int,
    kernel: int,
    *,
    stride: int | None = None,
    padding: int | str = 0,
    dilation: int = 1,
    filters: int | None = None,
    pool: Pool | None = None,
    layers: int = 1,
    separable: bool = False,
    groups: int = 1,
    transposed: bool = False,
    output_padding: int = 0,
    bias: bool = True,
    exact: bool = True,
) -> ConvReport:
    """Work out ``layers`` stacked identical conv (or pooling) layers on an input of ``input_shape``.

    Args:
        input_shape: ``(C, H, W)``, ``(H, W)`` or ``N`` (one channel, N x N).
        kernel: filter size F (square).
        stride: S; None means 1 for a convolution and F for pooling.
        padding: P, or ``"same"`` for ``D(F-1)/2``.
        dilation: D (the filter spans ``D(F-1)+1`` pixels).
        filters: K, the number of filters (output channels) of a convolution; default 1.
        pool: ``"max"`` or ``"avg"`` for a pooling layer (no parameters, channels unchanged).
        layers: L identical layers stacked (the first maps C -> K channels, the others K -> K).
        separable: depthwise-separable convolution (depthwise FxF + pointwise 1x1).
        groups: G, a grouped convolution (each filter sees C/G channels).
        transposed: a transposed convolution (output ``(N-1)S - 2P + D(F-1) + output_padding + 1``).
        output_padding: extra output rows/columns of a transposed convolution (less than S or D).
        bias: count one bias per filter.
        exact: a fractional output size is an error (True) or rounded down like PyTorch (False).
    """
    channels, height, width = _chw(input_shape)
    if pool is not None and pool not in _POOL_NAMES:
        raise ConfigError(f"pool must be one of {sorted(_POOL_NAMES)}, got {pool!r}")
    if pool is not None and (filters is not None or separable or transposed or groups != 1):
        raise ConfigError("pooling has no filters: drop --filters/--separable/--transposed/--groups, "
                          "or drop --pool for a convolution")
    if separable and (transposed or groups != 1):
        raise ConfigError("--separable already fixes the groups (depthwise: one per channel, then 1x1); "
                          "drop --groups/--transposed")
    if output_padding and not transposed:
        raise ConfigError("--output-padding applies to transposed convolutions only; add --transposed")
    if layers < 1:
        raise ConfigError(f"layers must be at least 1, got {layers}")
    if filters is not None and filters < 1:
        raise ConfigError(f"filters must be at least 1, got {filters}")
    out_channels = filters or 1
    if groups != 1:
        check_groups(channels, out_channels, groups)
    spec = _Spec(kernel=kernel, stride=(kernel if pool else 1) if stride is None else stride,
                 pad=resolve_padding(padding, kernel, dilation), dilation=dilation, filters=out_channels, pool=pool,
                 separable=separable, groups=groups, transposed=transposed, output_padding=output_padding,
                 bias=bias, exact=exact)
    stack, shape = [], (channels, height, width)
    for depth in range(1, layers + 1):
        # transposed convolutions are not modelled by the receptive-field rule: they keep the input's
        field = ReceptiveField.pixel() if transposed else stacked_receptive_field([(kernel, spec.stride, dilation)] * depth)
        layer = _one_layer(shape, spec, field)
        stack.append(layer)
        shape = layer.output_shape
    params, macs = sum(l.params for l in stack), sum(l.macs for l in stack)
    dense_params, dense_macs = sum(l.dense_params for l in stack), sum(l.dense_macs for l in stack)
    notes = []
    if separable:
        notes.append(f"separable uses {params / dense_params:.3f} of the parameters and {macs / dense_macs:.3f} "
                     f"of the MACs of dense convolutions (about 1/K + 1/F^2 = {1 / out_channels + 1 / kernel**2:.3f})")
    if groups > 1:
        notes.append(f"{groups} groups use {params / dense_params:.3f} of the parameters and {macs / dense_macs:.3f} "
                     f"of the MACs of an ungrouped convolution (1/G = {1 / groups:.3f}, biases aside)")
    return ConvReport(stack, params=params, macs=macs, notes=notes)


@dataclass(frozen=True)
class _Spec:
    """The settings shared by every layer of a stack."""

    kernel: int
    stride: int
    pad: int
    dilation: int
    filters: int
    pool: Pool | None
    separable: bool
    groups: int
    transposed: bool
    output_padding: int
    bias: bool
    exact: bool


def _chw(input_shape: tuple[int, ...] | int) -> tuple[int, int, int]:
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    forms = {1: lambda n: (1, n, n), 2: lambda h, w: (1, h, w), 3: lambda c, h, w: (c, h, w)}
    if len(shape) not in forms or any(int(v) < 1 for v in shape):
        raise ConfigError(f"input shape must be N, (H, W) or (C, H, W) with positive sizes, got {input_shape!r}")
    return forms[len(shape)](*(int(v) for v in shape))


def _one_layer(shape: tuple[int, int, int], spec: _Spec, field: ReceptiveField) -> ConvLayer:
    channels, height, width = shape
    f, stride, pad, dilation, filters = spec.kernel, spec.stride, spec.pad, spec.dilation, spec.filters
    if spec.transposed:
        out_h, out_w = (transposed_conv_output_size(n, f, stride, pad, spec.output_padding, dilation)
                        for n in (height, width))
    else:
        out_h, out_w = (conv_output_size(n, f, stride, pad, dilation, exact=spec.exact) for n in (height, width))
    geometry = (f, stride, pad, dilation)
    if spec.pool:
        return ConvLayer(_POOL_NAMES[spec.pool], shape, (channels, out_h, out_w), *geometry, 0, 0, 0, 0, field)
    # a conv computes each output pixel from its window; a transposed conv spreads each input pixel
    pixels = height * width if spec.transposed else out_h * out_w
    dense_params = conv_params(channels, filters, f, bias=spec.bias)
    dense_macs = f * f * channels * filters * pixels
    if spec.separable:
        params = conv_params(channels, channels, f, groups=channels, bias=spec.bias) + conv_params(
            channels, filters, 1, bias=spec.bias)
        macs = (f * f * channels + channels * filters) * pixels
    else:
        params = conv_params(channels, filters, f, groups=spec.groups, bias=spec.bias)
        macs = dense_macs // spec.groups
    kind = "separable conv" if spec.separable else "transposed conv" if spec.transposed else "conv"
    return ConvLayer(kind, shape, (filters, out_h, out_w), *geometry, params, macs, dense_params, dense_macs, field,
                     groups=spec.groups, output_padding=spec.output_padding)


# --- in Jupyter ---------------------------------------------------------------------------------

# the general formula of each line `ConvLayer.explain` substitutes numbers into
FORMULAS = {
    "output side": "(N + 2P - D(F-1) - 1)/S + 1",
    "effective filter size": "D(F-1) + 1",
    "params": "F*F*C*K + K",
    "MACs": "F*F*C * K*H_out*W_out",
    "receptive field": "r_l = r_(l-1) + (F-1)*jump",
}
TRANSPOSED_OUTPUT = "(N-1)S - 2P + D(F-1) + output_padding + 1"
_LINE = re.compile(r"^\s*(output side|effective filter size|params|MACs|receptive field|ungrouped:)\s+(.*)$")


def conv_html(report: ConvReport) -> str:
    """Each layer as a table: quantity, its formula, the formula with this layer's numbers, the value."""
    parts = []
    for i, layer in enumerate(report.layers, 1):
        lines = layer.explain()
        rows = []
        for line in lines[1:]:
            match = _LINE.match(line)
            label, worked = (match.group(1), match.group(2)) if match else ("", line.strip())
            formula = TRANSPOSED_OUTPUT if label == "output side" and layer.kind == "transposed conv" else FORMULAS.get(label, "")
            if layer.kind.endswith("pool") and label == "params":
                formula = "0"
            if layer.kind == "separable conv" and label in ("params", "MACs"):
                formula = "depthwise F*F*C + pointwise C*K"
            rows.append((label, formula, worked))
        title = f"layer {i}: {lines[0]}" if len(report.layers) > 1 else lines[0]
        parts.append(table(("quantity", "formula", "with the numbers"), rows, caption=title, cls="conv-layer"))
    if len(report.layers) > 1:
        parts.append(table(("total", ""), [("output", "x".join(map(str, report.output_shape))),
                                           ("params", f"{report.params:,}"), ("MACs", f"{report.macs:,}")],
                           cls="totals"))
    parts += [f"<p>note: {esc(n)}</p>" for n in report.notes]
    return f'<div class="cnnlab-conv">{"".join(parts)}</div>'
