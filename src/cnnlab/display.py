"""How cnnlab's results look in Jupyter (``_repr_html_``) and in served pages: HTML pieces and PNG bytes.

Each class renders itself in its own module with these pieces (plain tables with inline styles: no
JavaScript, no dependency, readable in JupyterLab, VS Code and an exported HTML file alike).
"""
from __future__ import annotations

import html
import io
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """``fig`` as PNG bytes (for serving)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()
