"""Tables that stay readable in any terminal width."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A table when it fits the terminal; else one block per row, its ``column: value`` pairs packed into
    lines of the terminal's width (a narrow table would cut every cell to a few letters)."""
    console = Console()
    table = Table(*header)
    for row in rows:
        table.add_row(*row)
    if console.measure(table, options=console.options.update_width(10_000)).maximum <= console.width:
        console.print(table)
        return
    for row in rows:
        lines = [row[0]]
        for pair in (f"{label}: {value}" for label, value in zip(header[1:], row[1:]) if value):
            if len(lines) > 1 and len(lines[-1]) + len(pair) + 3 <= console.width:
                lines[-1] += " · " + pair
            else:
                lines.append("  " + pair)
        console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
