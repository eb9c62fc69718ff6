"""The registry of cell families: "which cell" is a class, found by name here.

    CELLS["lstm"] is LSTMCell                  every registered family by name
    get_cell("gru") / get_cell(GRUCell)        the class, or a ValueError listing the names
    @register                                   on a family's class adds it to CELLS

The built-in families register themselves when rnnlab.cells imports their modules; a new
family is one new module with `@register` on its class and its name added to that import.
"""

from __future__ import annotations

from .base import Cell

#: every registered cell family: name -> class
CELLS: dict[str, type[Cell]] = {}


def register(cls: type[Cell]) -> type[Cell]:
    """Add a cell family to CELLS under `cls.name` (use it as a class decorator)."""
    if not isinstance(cls, type) or not issubclass(cls, Cell):
        raise TypeError(
            f"rnnlab.cells.register: expected a subclass of rnnlab.cells.Cell, got {cls!r}"
        )
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"rnnlab.cells.register: {cls.__name__} needs a class attribute `name`, "
            f"a short identifier such as 'lstm'; got {name!r}"
        )
    known = CELLS.get(name)
    if known is not None and known is not cls:
        raise ValueError(
            f"rnnlab.cells.register: the name {name!r} is taken by "
            f"{known.__module__}.{known.__qualname__}"
        )
    CELLS[name] = cls
    return cls


def get_cell(cell: str | type[Cell] | Cell) -> type[Cell]:
    """The cell family's class for a registry name, a Cell class or a Cell instance."""
    if isinstance(cell, Cell):
        return type(cell)
    if isinstance(cell, type) and issubclass(cell, Cell):
        return cell
    if isinstance(cell, str):
        if cell in CELLS:
            return CELLS[cell]
        raise ValueError(f"unknown cell {cell!r}; known cells: {sorted(CELLS)}")
    raise TypeError(
        f"expected a cell name from {sorted(CELLS)} or a rnnlab.cells.Cell class, "
        f"got {type(cell).__name__} {cell!r:.60}"
    )
