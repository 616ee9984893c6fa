"""Versioned ClickHouse DDL: apply `otcdesk/schemas/clickhouse/NNNN_name.sql` in order, exactly once each.

ClickHouse has no transactional DDL and no migration tool of its own, so the rules are ours:
the files are the history (never edited once applied: the recorded sha256 must match, or we
refuse), `{db}` stands for the database from the settings, and a file is recorded in
`schema_migrations` only after all its statements succeeded. Statements use IF NOT EXISTS where
the 18.16 grammar allows it, so a file that failed halfway can simply be re-run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Literal

from otcdesk.db.runner import QueryError, SqlRunner
from otcdesk.errors import DeskError
from otcdesk.resources import MIGRATIONS, shipped_dir

MIGRATIONS_DIR = shipped_dir(*MIGRATIONS)  # otcdesk/schemas/clickhouse, shipped in the wheel
BOOKKEEPING_TABLE = "schema_migrations"

_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Status = Literal["applied", "skipped"]


class MigrationError(DeskError):
    """A migration could not be loaded or applied; the database is left as the message says."""


class ChecksumMismatchError(MigrationError):
    """An applied migration file was edited afterwards: history no longer matches the database."""


@dataclass(frozen=True)
class Migration:
    """One `NNNN_name.sql` file."""

    version: int
    name: str
    path: Path

    @cached_property
    def raw(self) -> bytes:
        """Read once, so the checksum recorded is the checksum of the statements that ran."""
        return self.path.read_bytes()

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8")

    @property
    def checksum(self) -> str:
        """sha256 of the file as written (before `{db}` substitution, so it is database-independent)."""
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def filename(self) -> str:
        return self.path.name

    def statements(self, database: str) -> list[str]:
        return split_statements(self.text.replace("{db}", database))


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime


@dataclass(frozen=True)
class Outcome:
    version: int
    name: str
    status: Status
    statements: int


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every `NNNN_name.sql` of the directory in version order; other files are an error, so a
    misnamed migration is never silently skipped."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} also used by {found[version].filename}")
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


def split_statements(sql: str) -> list[str]:
    """Split a file on `;` outside quotes and `--` comments (the native protocol takes one
    statement per query); comment-only pieces are dropped."""
    statements: list[str] = []
    current: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote is not None:
            current.append(ch)
            if ch == "\\" and i + 1 < len(sql):
                current.append(sql[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'`\"":
            quote = ch
            current.append(ch)
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        elif ch == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def check_database_name(database: str) -> str:
    """Database names are substituted into SQL text, so only plain identifiers are accepted."""
    if not _IDENTIFIER.fullmatch(database):
        raise MigrationError(f"database name {database!r} must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return database


def _bootstrap(runner: SqlRunner, database: str) -> None:
    """The migrator's own state lives beside the tables it manages (like flyway_schema_history);
    ReplacingMergeTree by version so two racing runs leave one row per version."""
    runner.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    runner.execute(
        f"CREATE TABLE IF NOT EXISTS {database}.{BOOKKEEPING_TABLE} ("
        " version UInt32, name String, checksum String,"
        " applied_at DateTime('UTC') DEFAULT now()"
        ") ENGINE = ReplacingMergeTree(applied_at) ORDER BY version"
    )


def applied_migrations(runner: SqlRunner, database: str) -> list[AppliedMigration]:
    """What the database says was applied (empty when the database or table does not exist)."""
    check_database_name(database)
    exists = runner.query(
        f"SELECT count() FROM system.tables WHERE database = '{database}' AND name = '{BOOKKEEPING_TABLE}'"
    )
    if not exists or int(exists[0][0]) == 0:
        return []
    rows = runner.query(
        f"SELECT version, name, checksum, toUInt32(applied_at) FROM {database}.{BOOKKEEPING_TABLE} FINAL"
        " ORDER BY version"
    )
    return [AppliedMigration(int(v), n, c, datetime.fromtimestamp(int(t), UTC)) for v, n, c, t in rows]


def verify_history(migrations: Sequence[Migration], applied: Sequence[AppliedMigration]) -> None:
    """Refuse when the files and the database disagree about the past."""
    on_disk = {m.version: m for m in migrations}
    for done in applied:
        migration = on_disk.get(done.version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {done.version:04d}_{done.name} but this checkout has no such"
                " file: it was applied by a newer otcdesk; upgrade instead of migrating"
            )
        if migration.checksum != done.checksum:
            raise ChecksumMismatchError(
                f"{migration.filename} changed after it was applied (recorded sha256 {done.checksum[:12]},"
                f" file {migration.checksum[:12]}): never edit an applied migration, add a new NNNN_*.sql"
            )


def _apply(runner: SqlRunner, database: str, migration: Migration) -> int:
    statements = migration.statements(database)
    for index, statement in enumerate(statements, start=1):
        try:
            runner.execute(statement)
        except QueryError as exc:
            raise MigrationError(
                f"{migration.filename} statement {index}/{len(statements)} failed, the file is not recorded"
                f" (earlier statements are IF NOT EXISTS and re-run safely): {exc}"
            ) from exc
    runner.insert(
        f"{database}.{BOOKKEEPING_TABLE}",
        ("version", "name", "checksum"),
        [(migration.version, migration.name, migration.checksum)],
    )
    return len(statements)


def migrate(runner: SqlRunner, database: str, migrations: Sequence[Migration] | None = None) -> list[Outcome]:
    """Apply every migration not yet recorded, in order; a second run is a no-op."""
    check_database_name(database)
    todo = list(migrations) if migrations is not None else load_migrations()
    _bootstrap(runner, database)
    applied = applied_migrations(runner, database)
    verify_history(todo, applied)
    done = {a.version for a in applied}
    outcomes: list[Outcome] = []
    for migration in todo:
        if migration.version in done:
            outcomes.append(Outcome(migration.version, migration.name, "skipped", 0))
        else:
            count = _apply(runner, database, migration)
            outcomes.append(Outcome(migration.version, migration.name, "applied", count))
    return outcomes
