"""The steps of adding an event field that no other test holds (docs/architecture.md, "Add an event
field"): the shipped versions stay compatible, a field added by a newer version is set in the
sample event the golden bytes are made from, and docs/clickhouse.md names each table's version."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

from otcdesk.db.rows import TABLES
from otcdesk.events import BY_SCHEMA
from otcdesk.schema_check import check_catalog
from otcdesk.serde import SCHEMA_ROOT, SchemaCatalog
from tests.samples import sample_events

CATALOG = SchemaCatalog()
CLICKHOUSE_DOC = Path(__file__).resolve().parents[2] / "docs" / "clickhouse.md"
#: a row of the table list: | `table` | `event` (`Class`, vN) | ...; no `, vN` means v1
TABLE_ROW = re.compile(r"^\| `(\w+)` \| `(\w+)` \(`(\w+)`(?:, v(\d+))?\)", re.MULTILINE)


def _field_names(path: Path) -> list[str]:
    return [f["name"] for f in json.loads(path.read_text())["fields"]]


def test_every_shipped_version_pair_is_backward_and_forward_compatible() -> None:
    """What `otcdesk schemas check` proves, on the schemas the package ships."""
    bad = [r for r in check_catalog(CATALOG, samples=20) if not r.ok]
    assert bad == []


def test_a_new_field_without_a_default_fails_the_compatibility_check(tmp_path: Path) -> None:
    """The check above can fail: a field old data does not carry needs a default."""
    shutil.copytree(SCHEMA_ROOT / "fill", tmp_path / "fill", ignore=shutil.ignore_patterns("v[2-9]*.avsc"))
    schema = json.loads((tmp_path / "fill" / "v1.avsc").read_text())
    schema["fields"].append({"name": "walkthrough_probe", "type": "string", "doc": "no default"})
    (tmp_path / "fill" / "v2.avsc").write_text(json.dumps(schema))
    (result,) = check_catalog(SchemaCatalog(tmp_path), samples=5)
    assert result.backward != "ok" and result.forward == "ok"


def test_fields_added_by_a_newer_version_are_set_in_the_sample_event() -> None:
    """otcdesk/samples.py (re-exported by tests/samples.py) feeds the golden bytes and the round
    trips: a new field left at its default there would travel the wire in no test."""
    samples = {type(e).SCHEMA: e for e in sample_events()}
    for event, versions in CATALOG.versions.items():
        added = set(_field_names(versions[-1].path)) - set(_field_names(versions[0].path))
        for field in dataclasses.fields(BY_SCHEMA[event]):
            if field.name in added:
                value = getattr(samples[event], field.name)
                assert value not in (None, (), field.default), f"{event}.{field.name} is left at its default"


def test_the_clickhouse_page_names_the_newest_version_of_each_table_it_lists() -> None:
    listed = {
        table: (event, cls, int(version or 1))
        for table, event, cls, version in TABLE_ROW.findall(CLICKHOUSE_DOC.read_text())
    }
    assert "fills" in listed  # the pattern still matches the page's table list
    for cls, table in TABLES.items():
        if table in listed:
            newest = CATALOG.latest(cls.SCHEMA).version
            assert listed[table] == (cls.SCHEMA, cls.__name__, newest), f"docs/clickhouse.md, Tables: {table}"
