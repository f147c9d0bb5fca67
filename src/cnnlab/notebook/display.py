"""How cnnlab's results look in Jupyter (``_repr_html_``) and in a terminal (``__repr__``).

Each class keeps a one-line method that calls a renderer here, so the classes stay about their
numbers and this module about their looks. The HTML is plain tables with inline styles: no
JavaScript, no dependency, readable in JupyterLab, VS Code and an exported HTML file alike.
"""
from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:
    from cnnlab.eval.evaluate import EvalResult
    from cnnlab.inspect.conv_arithmetic import ConvReport
    from cnnlab.inspect.summary import ModelSummary
    from cnnlab.notebook.runs import Run
    from cnnlab.scratch.explain import ConvExplanation, PoolExplanation

HIGHLIGHT = "#ffd54f"          # the window of the step being shown
PADDING_CELL = "#eeeeee"       # zeros (or -inf) added around the input
CELL = "padding:2px 6px;border:1px solid #ccc;text-align:right;font-family:monospace"
TABLE = "border-collapse:collapse;margin:4px 12px 8px 0"
MAX_STEPS_SHOWN = 16           # worked examples of larger outputs show their first steps only


def esc(value: Any) -> str:
    return html.escape(str(value))


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, caption: str = "", cls: str = "") -> str:
    """An HTML table; cells are escaped text (numbers formatted by the caller)."""
    head = "".join(f'<th style="{CELL};background:#f5f5f5">{esc(h)}</th>' for h in header)
    body = "".join("<tr>" + "".join(f'<td style="{CELL}">{esc(c)}</td>' for c in row) + "</tr>" for row in rows)
    cap = f"<caption style='text-align:left;font-weight:bold'>{esc(caption)}</caption>" if caption else ""
    return f'<table class="{cls}" style="{TABLE}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def percent(value: float | None) -> str:
    return "" if value is None else f"{value:.2%}"


# --- model summary ---------------------------------------------------------------------------------

SUMMARY_COLUMNS = ("layer", "type", "output", "params", "MACs", "receptive field")


def summary_html(s: ModelSummary) -> str:
    """The per-layer table of `cnnlab.summary` and its totals."""
    from cnnlab.inspect.receptive_field import format_axes
    from cnnlab.inspect.summary import _fmt_shape, _si

    rows = [(r.name or "(model)", r.type, _fmt_shape(r.output_shape), f"{r.params:,}", f"{r.macs:,}",
             format_axes(r.receptive_field.size) if r.receptive_field else "") for r in s.rows]
    t = s.totals
    totals = [("parameters", f"{t.params:,}", _si(t.params)), ("MACs", f"{t.macs:,}", _si(t.macs)),
              ("FLOPs", f"{t.flops:,}", _si(t.flops))]
    caption = f"{s.model_type}: input {_fmt_shape(t.input_shape[1:])} -> output {_fmt_shape(t.output_shape)}"
    notes = "".join(f"<p>note: {esc(n)}</p>" for n in s.notes)
    return (f'<div class="cnnlab-summary">{table(SUMMARY_COLUMNS, rows, caption=caption, cls="layers")}'
            f'{table(("total", "count", ""), totals, cls="totals")}{notes}</div>')


# --- conv arithmetic -------------------------------------------------------------------------------

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


# --- evaluation ------------------------------------------------------------------------------------


def eval_text(result: EvalResult) -> str:
    m = result.metrics
    top = "  ".join(f"top-{k} {v:.2%}" for k, v in m.topk.items() if 1 < k < len(m.classes))
    return (f"EvalResult({result.dataset} {result.split}, {m.num_samples:,} images: accuracy {m.accuracy:.2%}"
            f"{'  ' + top if top else ''}  loss {m.loss:.4f}  macro F1 {m.macro.get('f1', 0):.2%})")


def eval_html(result: EvalResult) -> str:
    """Headline metrics, per-class precision/recall/F1 and the confusion matrix (rows: true class)."""
    m = result.metrics
    figures = [("accuracy", percent(m.accuracy)), ("loss", f"{m.loss:.4f}")]
    figures += [(f"top-{k} accuracy", percent(v)) for k, v in m.topk.items() if 1 < k < len(m.classes)]
    figures += [(f"macro {k}", percent(v)) for k, v in m.macro.items()]
    caption = f"{result.dataset}, {result.split} split, {m.num_samples:,} images" + (" (TTA)" if result.tta else "")
    per_class = [(c["class"], percent(c["precision"]), percent(c["recall"]), percent(c["f1"]), c["support"])
                 for c in m.per_class()]
    return (f'<div class="cnnlab-eval">{table(("metric", "value"), figures, caption=caption, cls="metrics")}'
            f'{table(("class", "precision", "recall", "F1", "support"), per_class, cls="per-class")}'
            f'{confusion_html(m.confusion, m.classes)}</div>')


def confusion_html(confusion: Sequence[Sequence[int]], classes: Sequence[str]) -> str:
    """Counts shaded by their share of the true class's row: a dark diagonal is a good classifier."""
    head = "".join(f'<th style="{CELL};background:#f5f5f5">{esc(c)}</th>' for c in classes)
    body = []
    for name, row in zip(classes, confusion):
        total = max(sum(row), 1)
        cells = "".join(_shaded(n, n / total) for n in row)
        body.append(f'<tr><th style="{CELL};background:#f5f5f5">{esc(name)}</th>{cells}</tr>')
    return (f'<table class="confusion" style="{TABLE}"><caption style="text-align:left;font-weight:bold">'
            f'confusion matrix (rows: true class, columns: predicted)</caption>'
            f'<thead><tr><th style="{CELL}"></th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def _shaded(count: int, share: float) -> str:
    blue = f"rgba(30,100,200,{share:.2f})"
    color = "white" if share > 0.5 else "black"
    return f'<td style="{CELL};background:{blue};color:{color}">{count}</td>'


# --- worked examples of `cnnlab explain` ------------------------------------------------------------


def grid_html(matrix: Any, *, window: tuple[int, int, int, int] | None = None, border: int = 0) -> str:
    """A 2-D array as a table of cells; ``window`` (top, left, height, width) highlighted, the outer
    ``border`` rows and columns (the padding) greyed."""
    from cnnlab.scratch.explain import fmt

    rows = []
    height, width = len(matrix), len(matrix[0])
    for i, row in enumerate(matrix):
        cells = []
        for j, value in enumerate(row):
            inside = window is not None and window[0] <= i < window[0] + window[2] and window[1] <= j < window[1] + window[3]
            pad = border and (i < border or j < border or i >= height - border or j >= width - border)
            background = HIGHLIGHT if inside else PADDING_CELL if pad else "white"
            mark = ' class="window"' if inside else ""
            cells.append(f'<td{mark} style="{CELL};background:{background}">{esc(fmt(float(value)))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="grid" style="{TABLE}"><tbody>{"".join(rows)}</tbody></table>'


def _panel(title: str, body: str) -> str:
    return f'<div style="display:inline-block;vertical-align:top;margin-right:16px"><div>{esc(title)}</div>{body}</div>'


def _step_box(content: str, expression: str) -> str:
    return (f'<div class="step" style="border:1px solid #ddd;padding:6px;margin:6px 0">{content}'
            f'<div style="font-family:monospace">{esc(expression)}</div></div>')


def _more(total: int) -> str:
    return f"<p>... {total - MAX_STEPS_SHOWN} more steps (the first {MAX_STEPS_SHOWN} are shown)</p>" if total > MAX_STEPS_SHOWN else ""


def explain_conv_html(ex: ConvExplanation) -> str:
    """Every output element: the input with its window highlighted, the kernel, the sum of products."""
    kh, kw = ex.kernel.shape[1:]
    steps = []
    for step in ex.steps[:MAX_STEPS_SHOWN]:
        window = (*step.origin, kh, kw)
        panels = "".join(_panel(f"input channel {s.channel}" if len(ex.padded) > 1 else "input",
                                grid_html(ex.padded[s.channel], window=window, border=ex.padding)) for s in step.channels)
        panels += "".join(_panel(f"kernel {c}" if len(ex.kernel) > 1 else "kernel", grid_html(k)) for c, k in enumerate(ex.kernel))
        panels += _panel("output", grid_html(ex.output, window=(*step.position, 1, 1)))
        terms = " + ".join(f"({s.expression()})" if len(step.channels) > 1 else s.expression() for s in step.channels)
        total = f" = {step.value:g}" if len(step.channels) > 1 else ""
        steps.append(_step_box(panels, f"output{list(step.position)}: {terms}{total}"))
    title = (f"cross-correlation: input {'x'.join(map(str, ex.input.shape))}, kernel {'x'.join(map(str, ex.kernel.shape))}, "
             f"stride {ex.stride}, padding {ex.padding} -> output {'x'.join(map(str, ex.output.shape))}")
    return f'<div class="cnnlab-explain"><p><b>{esc(title)}</b></p>{"".join(steps)}{_more(len(ex.steps))}</div>'


def explain_pool_html(ex: PoolExplanation) -> str:
    from cnnlab.scratch.explain import POOL_MODES

    label = POOL_MODES[ex.mode].label
    steps = []
    for step in ex.steps[:MAX_STEPS_SHOWN]:
        panels = _panel(f"input channel {step.channel}" if len(ex.input) > 1 else "input",
                        grid_html(ex.padded[step.channel], window=(*step.origin, ex.size, ex.size), border=ex.padding))
        panels += _panel("output", grid_html(ex.output[step.channel], window=(*step.position, 1, 1)))
        steps.append(_step_box(panels, f"output{list(step.position)}: {step.expression(label)}"))
    title = (f"{ex.mode} pooling {ex.size}x{ex.size}, stride {ex.stride}, padding {ex.padding}: "
             f"input {'x'.join(map(str, ex.input.shape))} -> output {'x'.join(map(str, ex.output.shape))}")
    return f'<div class="cnnlab-explain"><p><b>{esc(title)}</b></p>{"".join(steps)}{_more(len(ex.steps))}</div>'


def explain_conv_text(ex: ConvExplanation) -> str:
    lines = [f"ConvExplanation(stride {ex.stride}, padding {ex.padding}, output {ex.output.tolist()})"]
    for step in ex.steps:
        lines.append(f"  output{list(step.position)}: " + " + ".join(s.expression() for s in step.channels))
    return "\n".join(lines)


def explain_pool_text(ex: PoolExplanation) -> str:
    from cnnlab.scratch.explain import POOL_MODES

    lines = [f"PoolExplanation({ex.mode} {ex.size}x{ex.size}, stride {ex.stride}, output {ex.output.tolist()})"]
    lines += [f"  channel {s.channel} output{list(s.position)}: {s.expression(POOL_MODES[ex.mode].label)}" for s in ex.steps]
    return "\n".join(lines)


# --- runs ------------------------------------------------------------------------------------------

EPOCH_COLUMNS = (("epoch", "epoch", "{:g}"), ("train_loss", "train loss", "{:.4f}"), ("train_acc", "train acc", "{:.2%}"),
                 ("val_loss", "val loss", "{:.4f}"), ("val_acc", "val acc", "{:.2%}"), ("lr", "lr", "{:.3g}"))


def run_figures(run: Run) -> list[tuple[str, str]]:
    """The report's key figures (`cnnlab.eval.report.result_cards`) plus the training FLOPs."""
    from cnnlab.eval.report import result_cards
    from cnnlab.inspect.summary import _si

    figures = [("state", run.state.state), ("model", run.state.model), ("dataset", run.state.dataset)]
    if run.state.epochs_done is not None:
        planned = f" of {run.state.epochs:g}" if run.state.epochs else ""
        figures.append(("epochs", f"{run.state.epochs_done:g}{planned}"))
    figures += result_cards(run.results)
    if not run.results and run.state.best_val_acc is not None:
        figures.append(("best val accuracy", percent(run.state.best_val_acc)))
    if isinstance(run.results.get("train_flops"), (int, float)):
        figures.append(("training FLOPs", _si(run.results["train_flops"])))
    return figures


def run_text(run: Run) -> str:
    return f"Run({run.path}: " + ", ".join(f"{k} {v}" for k, v in run_figures(run)) + ")"


def run_html(run: Run) -> str:
    rows = [[fmt.format(r[key]) if r.get(key) is not None else "" for key, _, fmt in EPOCH_COLUMNS] for r in run.epochs]
    epochs = table([label for _, label, _ in EPOCH_COLUMNS], rows, cls="epochs") if rows else ""
    return (f'<div class="cnnlab-run">{table(("run", run.path.name), run_figures(run), cls="figures")}'
            f'{epochs}</div>')
