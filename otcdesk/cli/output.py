"""Printing for read commands: a rich table for people, `--json` for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # money stays exact in JSON: a string, never a float
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def print_json(data: Any) -> None:
    print(json.dumps(data, default=_default, indent=2))


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row))
    console.print(table)


def emit(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], as_json: bool) -> None:
    """One call per read command: the same rows as a table or as a JSON list of objects."""
    if as_json:
        print_json([dict(zip(columns, row, strict=False)) for row in rows])
    else:
        print_table(title, columns, rows)
