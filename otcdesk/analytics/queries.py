"""The named queries of `otcdesk/schemas/clickhouse/queries/`: load a file, read its header, render it.

A query file is plain ClickHouse SQL, one SELECT that runs on 18.16 and on a current engine, with
two kinds of placeholders:

- `{db}`: the database, substituted as an identifier (checked), exactly as the migrations do;
- `%(name)s`: a value, rendered here as a ClickHouse literal.

Values are rendered by this module for both engines instead of by clickhouse-driver: the driver
would send a Decimal as a bare `0.5`, which ClickHouse reads as a Float64, and chDB has no
client-side substitution at all. Rendering once means both engines run the very same text.
Decimals become quoted strings and the SQL converts them at the scale it wants
(`toDecimal128(%(price_tolerance_bps)s, 6)`), so no digit goes through a float.

The header is the leading block of `--` lines:

    -- hit_ratio: Hit ratio by client and size bucket
    -- free text: what the query answers, how, engine notes
    -- columns:
    --   client_id       the client
    -- params:
    --   since_us        quotes at or after this event time (epoch us)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

from otcdesk.db.migrate import check_database_name
from otcdesk.errors import DeskError
from otcdesk.resources import QUERIES, shipped_dir

QUERIES_DIR = shipped_dir(*QUERIES)  # otcdesk/schemas/clickhouse/queries, shipped in the wheel
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_TITLE = re.compile(r"--\s*(\w+):\s*(.+)")
_ENTRY = re.compile(r"--\s{2,5}(\w+)\s+(\S.*)")  # `--   name   meaning`
_CONTINUED = re.compile(r"--\s{6,}(\S.*)")  # a longer meaning goes on, indented deeper
_SECTIONS = ("columns:", "params:")

Value = int | str | Decimal | Sequence["Value"]


class QueryFileError(DeskError):
    """A query file is malformed, or was given the wrong parameters."""


@dataclass(frozen=True)
class Query:
    name: str
    title: str
    about: str  # the header's free text
    columns: tuple[tuple[str, str], ...]  # (column, meaning), in SELECT order
    params: tuple[tuple[str, str], ...]  # (parameter, meaning)
    body: str  # the SQL without its header

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.params)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def render(self, database: str, values: Mapping[str, Value]) -> str:
        """The SQL with `{db}` and every `%(name)s` substituted; missing or undeclared values refused."""
        missing = sorted(set(self.param_names) - set(values))
        unknown = sorted(set(values) - set(self.param_names))
        if missing or unknown:
            raise QueryFileError(f"{self.name}: missing parameters {missing}, unknown parameters {unknown}")
        text = self.body.replace("{db}", check_database_name(database))
        return PLACEHOLDER.sub(lambda m: literal(values[m.group(1)]), text)


def literal(value: Value) -> str:
    """A ClickHouse literal: ints as numbers, strings and Decimals quoted, sequences as arrays."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return _quoted(format(value, "f"))  # plain notation: '1E-8' would not parse as a Decimal
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, Sequence):
        if not value:  # [] is Array(Nothing) on 18.16, which most array functions refuse
            raise QueryFileError("an empty list cannot be a query parameter")
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise QueryFileError(f"no ClickHouse literal for {type(value).__name__}")


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse(name: str, text: str) -> Query:
    lines = text.splitlines()
    header_end = next((i for i, line in enumerate(lines) if not line.startswith("--")), len(lines))
    header = lines[:header_end]
    title = _TITLE.fullmatch(header[0].strip()) if header else None
    if title is None or title.group(1) != name:
        raise QueryFileError(f"{name}.sql: the first line must be `-- {name}: <title>`")
    about: list[str] = []
    sections: dict[str, list[tuple[str, str]]] = {s: [] for s in _SECTIONS}
    current: str | None = None
    for line in header[1:]:
        stripped = line[2:].strip()
        if stripped in _SECTIONS:
            current = stripped
        elif current is not None and sections[current] and _CONTINUED.fullmatch(line):
            entry_name, meaning = sections[current][-1]
            sections[current][-1] = (entry_name, f"{meaning} {stripped}")
        elif current is not None and (entry := _ENTRY.fullmatch(line)):
            sections[current].append((entry.group(1), entry.group(2).strip()))
        else:
            current = None
            about.append(stripped)
    body = "\n".join(lines[header_end:]).strip()
    return Query(
        name,
        title.group(2).strip(),
        " ".join(a for a in about if a),
        tuple(sections["columns:"]),
        tuple(sections["params:"]),
        body,
    )


@cache
def load(name: str, directory: Path = QUERIES_DIR) -> Query:
    path = directory / f"{name}.sql"
    if not re.fullmatch(r"[a-z0-9_]+", name) or not path.is_file():
        raise QueryFileError(f"no query named {name!r} in {directory}")
    return parse(name, path.read_text())


def names(directory: Path = QUERIES_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.sql"))
