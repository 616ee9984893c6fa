"""`otcdesk schemas list | check`: the Avro contract shipped under otcdesk/schemas/avro/."""

from __future__ import annotations

import typer

from otcdesk.cli.output import emit
from otcdesk.cli.params import whole
from otcdesk.errors import DeskError
from otcdesk.schema_check import check_catalog
from otcdesk.serde import SchemaCatalog

app = typer.Typer(help="The Avro contract: every event's schema versions.", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


@app.command("list")
def list_schemas(as_json: bool = JSON) -> None:
    """Every schema version with its fingerprint (the 8 bytes after C3 01 on the wire)."""
    catalog = SchemaCatalog()
    rows = [
        (v.event, v.version, v.full_name, v.fingerprint.hex(), str(v.path.relative_to(catalog.root)))
        for versions in catalog.versions.values()
        for v in versions
    ]
    emit(f"Avro schemas in {catalog.root}", ["event", "version", "name", "fingerprint", "file"], rows, as_json)


@app.command("check")
def check(
    as_json: bool = JSON,
    samples: int = typer.Option(50, help="Sample records per pair.", callback=whole(ge=1, le=10_000)),
) -> None:
    """Prove each version backward and forward compatible with the one before."""
    catalog = SchemaCatalog()
    results = check_catalog(catalog, samples)
    rows = [(r.event, f"v{r.older} -> v{r.newer}", r.backward, r.forward) for r in results]
    single = [e for e, vs in catalog.versions.items() if len(vs) == 1]
    emit("Schema compatibility", ["event", "pair", "backward", "forward"], rows, as_json)
    if not as_json:
        print(f"{len(results)} version pairs checked; {len(single)} events have a single version.")
    bad = [r for r in results if not r.ok]
    if bad:
        raise DeskError(
            f"{len(bad)} incompatible schema pair(s): " + ", ".join(f"{r.event} v{r.older}->v{r.newer}" for r in bad)
        )
