"""`otcdesk db migrate | status | generate`: the ClickHouse event log's schema and contents."""

from __future__ import annotations

from typing import Any

import typer

from otcdesk.cli.output import console, print_json, print_table
from otcdesk.db import client
from otcdesk.db.generate import FILLS_PER_DEAL
from otcdesk.db.migrate import applied_migrations, check_database_name, load_migrations, migrate
from otcdesk.db.rows import TABLES
from otcdesk.db.runner import SqlRunner
from otcdesk.errors import UserError
from otcdesk.settings import get_settings

#: `db generate` and a migration's backfill run single statements of minutes over 10M fills
LONG_STATEMENT_S = 3600.0

app = typer.Typer(help="The ClickHouse event log: schema migrations and table status.", no_args_is_help=True)


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply schemas/clickhouse/NNNN_*.sql not yet applied, in order (idempotent)."""
    settings = get_settings()
    database = check_database_name(settings.clickhouse.database)
    runner = client.admin(settings, timeout_s=LONG_STATEMENT_S)
    try:
        outcomes = migrate(runner, database)
        engine = runner.engine
    finally:
        runner.close()
    rows = [(f"{o.version:04d}", o.name, o.status, o.statements) for o in outcomes]
    console.print(f"database [bold]{database}[/bold] on {engine}", highlight=False)
    print_table("Migrations", ["version", "name", "status", "statements"], rows)
    applied = sum(1 for o in outcomes if o.status == "applied")
    console.print(f"{applied} applied, {len(outcomes) - applied} already there")


def _migration_rows(runner: SqlRunner, database: str) -> list[tuple[str, str, str, str]]:
    """Every migration on disk or in the database: applied, pending, or changed since applied."""
    on_disk = {m.version: m for m in load_migrations()}
    applied = {a.version: a for a in applied_migrations(runner, database)}
    rows = []
    for version in sorted(on_disk.keys() | applied.keys()):
        done, migration = applied.get(version), on_disk.get(version)
        if done is None:
            assert migration is not None
            rows.append((f"{version:04d}", migration.name, "pending", "-"))
            continue
        if migration is None:
            state = "not in this checkout"
        else:
            state = "applied" if migration.checksum == done.checksum else "CHANGED since applied"
        rows.append((f"{version:04d}", done.name, state, done.applied_at.isoformat()))
    return rows


def _table_rows(runner: SqlRunner, database: str) -> list[tuple[str, int | None]]:
    """Stored rows per event table (before FINAL: redelivered copies not merged yet count)."""
    existing = {r[0] for r in runner.query(f"SELECT name FROM system.tables WHERE database = '{database}'")}
    counts: list[tuple[str, int | None]] = []
    for table in TABLES.values():
        if table in existing:
            counts.append((table, int(runner.query(f"SELECT count() FROM {database}.{table}")[0][0])))
        else:
            counts.append((table, None))
    return counts


@app.command("status")
def status_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables.")) -> None:
    """Applied migrations and row counts per table."""
    settings = get_settings()
    database = check_database_name(settings.clickhouse.database)
    runner = client.admin(settings)
    try:
        migrations = _migration_rows(runner, database)
        tables = _table_rows(runner, database)
        engine = runner.engine
    finally:
        runner.close()
    if as_json:
        doc: dict[str, Any] = {
            "engine": engine,
            "database": database,
            "migrations": [dict(zip(("version", "name", "state", "applied_at"), m, strict=True)) for m in migrations],
            "tables": [{"table": t, "rows": n} for t, n in tables],
        }
        print_json(doc)
        return
    console.print(f"database [bold]{database}[/bold] on {engine}", highlight=False)
    print_table("Migrations", ["version", "name", "state", "applied_at"], migrations)
    print_table("Tables", ["table", "rows"], [(t, "missing" if n is None else n) for t, n in tables])


@app.command("generate")
def generate_cmd(
    fills: int = typer.Option(..., "--fills", help=f"Fills to write, a multiple of {FILLS_PER_DEAL} (one deal each)."),
    seed: int = typer.Option(0, "--seed", help="Moves prices and clients: one seed, one history."),
    database: str = typer.Option(
        ...,
        "--database",
        help=("Database to (re)fill: created and migrated if missing. Its generated tables are EMPTIED first."),
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a sentence."),
) -> None:
    """A synthetic trade history written on the server (benchmarks: `bench/sql.py`, docs/analytics.md)."""
    from otcdesk.analytics.reports import REPORTS, ReportOptions
    from otcdesk.db.generate import generate

    settings = get_settings()
    check_database_name(database)
    if database == settings.clickhouse.database:
        raise UserError(f"--database {database} is the desk's own event log: generate into another database")
    params = REPORTS["recon_breaks"].params(settings, ReportOptions())  # fee schedule of the instruments
    runner = client.admin(settings, timeout_s=LONG_STATEMENT_S)
    try:
        migrate(runner, database)
        history = generate(runner, database, fills, params, seed)
    finally:
        runner.close()
    if as_json:
        print_json(
            {
                "database": history.database,
                "fills": history.fills,
                "deals": history.deals,
                "seed": history.seed,
                "bad_fees": history.bad_fees,
                "seconds": round(history.seconds, 1),
            }
        )
        return
    console.print(
        f"{history.fills:,} fills, {history.deals:,} deals (seed {history.seed}) in {history.database}, "
        f"{history.bad_fees:,} fees off the schedule, {history.seconds:.1f} s",
        highlight=False,
    )
