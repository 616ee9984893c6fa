"""The data the package ships, found through importlib.resources (never through the checkout).

| resource                          | what                                                        |
|-----------------------------------|-------------------------------------------------------------|
| `schemas/avro/<event>/vN.avsc`    | the Avro contract, every version kept (`otcdesk.serde`)      |
| `schemas/clickhouse/NNNN_*.sql`   | the ClickHouse migrations (`otcdesk.db.migrate`)             |
| `schemas/clickhouse/queries/*.sql`| the named report queries (`otcdesk.analytics.queries`)       |
| `.../queries/passes/*.sql`        | queries a report runs before its own (`analytics.reports`)   |
| `venues/recorded/<venue>/...`     | venue responses in ccxt's format (`otcdesk.venues`)          |

All of them live inside the `otcdesk` package and are declared as package data in
pyproject.toml, so an installed wheel has them; the checkout's top-level `schemas/` is a symlink
to `otcdesk/schemas/`.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path

_extracted = ExitStack()
atexit.register(_extracted.close)


@cache
def shipped_dir(*parts: str) -> Path:
    """A directory of the package's data as a real path, for code that globs and opens files.

    Installed as files (a wheel, an editable checkout) this is the directory itself; from an
    archive (a zip import) `as_file` extracts it for the life of the process (Python 3.12 on:
    3.11's `as_file` takes single files only).
    """
    resource = files("otcdesk").joinpath(*parts)
    if isinstance(resource, Path):
        return resource.resolve()
    return _extracted.enter_context(as_file(resource))


SCHEMAS = ("schemas",)
AVRO = (*SCHEMAS, "avro")
MIGRATIONS = (*SCHEMAS, "clickhouse")
QUERIES = (*MIGRATIONS, "queries")
VENUE_RECORDINGS = ("venues", "recorded")
