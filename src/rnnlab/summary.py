"""The model summary table, drawn as Keras 3 draws it (box characters, totals with sizes).

    Model: "sequential"
    ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
    ┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
    ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
    │ simple_rnn (SimpleRNN)          │ (None, None, 32)       │         4,256 │
    └─────────────────────────────────┴────────────────────────┴───────────────┘
     Total params: 4,256 (16.62 KB)
     Trainable params: 4,256 (16.62 KB)
     Non-trainable params: 0 (0.00 B)

Cells may hold several lines (a layer with several outputs, several connections). Columns are
at least as wide as Keras makes them and grow to fit their text (Keras wraps long cells at the
terminal width instead; here nothing is cut).
"""

from __future__ import annotations

from collections.abc import Sequence

#: Keras' column widths (text + padding) for the Sequential and the functional tables
SEQUENTIAL_WIDTHS = (33, 24, 15)
FUNCTIONAL_WIDTHS = (21, 19, 12, 19)


def memory_size(n_bytes: int) -> str:
    """Keras' readable size: 26.04 KB, 0.00 B (powers of 1024)."""
    size = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def param_totals(params) -> list[tuple[str, int, int]]:
    """Keras' three total lines for these parameter arrays (all trainable)."""
    arrays = list(params)
    count, size = sum(a.size for a in arrays), sum(a.nbytes for a in arrays)
    return [
        ("Total params", count, size),
        ("Trainable params", count, size),
        ("Non-trainable params", 0, 0),
    ]


def render_table(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    right_aligned: Sequence[bool],
    widths: Sequence[int],
    totals: Sequence[tuple[str, int, int]],
) -> str:
    """The whole summary text.

    rows: one entry per layer, each a cell text per column (may contain newlines);
    right_aligned: per column; widths: minimum column widths including one space of padding on
    each side; totals: (label, parameter count, bytes), e.g. ("Total params", 4256, 17024).
    """
    cells = [[str(c).split("\n") for c in row] for row in [header, *rows]]
    inner = [
        max([w - 2, *(len(line) for row in cells for line in row[k])]) for k, w in enumerate(widths)
    ]

    def rule(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in inner) + right

    def lines(row: list[list[str]], edge: str) -> list[str]:
        height = max(len(c) for c in row)
        out = []
        for i in range(height):
            parts = []
            for k, cell in enumerate(row):
                text = cell[i] if i < len(cell) else ""
                parts.append(text.rjust(inner[k]) if right_aligned[k] else text.ljust(inner[k]))
            out.append(edge + edge.join(f" {p} " for p in parts) + edge)
        return out

    text = [
        f'Model: "{title}"',
        rule("┏", "━", "┳", "┓"),
        *lines(cells[0], "┃"),
        rule("┡", "━", "╇", "┩"),
    ]
    for i, row in enumerate(cells[1:]):
        if i:
            text.append(rule("├", "─", "┼", "┤"))
        text += lines(row, "│")
    text.append(rule("└", "─", "┴", "┘"))
    text += [f" {label}: {count:,} ({memory_size(size)})" for label, count, size in totals]
    return "\n".join(text)


def shape_text(shape) -> str:
    """(None, None, 32) as Keras prints it; a list of shapes on several lines."""
    if isinstance(shape, list):
        items = [shape_text(s) for s in shape]
        return "\n".join(
            ("[" if i == 0 else "") + s + ("]" if i == len(items) - 1 else ",")
            for i, s in enumerate(items)
        )
    parts = ["None" if d is None else str(d) for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
