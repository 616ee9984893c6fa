"""Markers and options every test directory shares.

`chdb`: the test runs SQL on an in-process ClickHouse (a `chdb` fixture). No server is needed,
but starting the engine and loading data costs seconds per module: these tests are most of
tests/unit's time. `make test-fast` leaves them out (`-m "not chdb"`); `make test-unit` and
`make test` run them.

`exclusive`: the test needs the machine to itself: it loads every core on purpose, or what it
checks happens in a window of wall time that tests running beside it would stretch.

`--phase` picks one of three disjoint parts of the suite; `make test` (infra/test.sh) runs them:
- `shared`: every test that is neither exclusive nor background, in pytest-xdist workers side by
  side on the one stack (each test has its own topics, groups and databases);
- `exclusive`: the tests marked so, one after the other, at normal CPU priority;
- `background`: the chdb tests outside tests/integration and the modules marked `background`.
  They need no server and no window of wall time, only CPU, so they run beside the exclusive
  tests at the idle scheduling class (`chrt --idle`): a core goes to them only when the
  exclusive tests leave it idle, and they may wait for one as long as they must without
  failing. A module is marked so when it is among the costly ones and nothing in it is timed
  (a subprocess's generous timeout aside).
Plain `pytest` (`--phase all`, the default) runs every test in one process, in file order.

Under xdist with `--dist loadgroup` the tests of a module go to one worker together, so a
module-scoped fixture (a generated history, a running desk, a throwaway server) is built once;
an integration or chaos module without such a fixture hands out each of its tests on its own.
Longest first: the workers take the tests that declare a timeout beyond pyproject's, then
tests/chaos, tests/integration, tests/stream and tests/unit, so that the long scenarios start
at once and the short unit modules fill the end.
"""

from __future__ import annotations

import pytest

PHASES = ("all", "shared", "exclusive", "background")
#: Module-scoped fixtures cheap enough to build in every worker (a ClickHouse connection).
CHEAP = frozenset({"server"})
#: Order in which the directories' units are handed out (unlisted: last).
DIRECTORIES = ("chaos", "integration", "stream", "unit")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--phase",
        choices=PHASES,
        default="all",
        help=(
            "shared: the tests that share the stack; exclusive: those marked so; background: the chdb "
            "tests outside tests/integration and those marked so; all (default): every test"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chdb: runs SQL on chdb, the in-process ClickHouse (set from its fixture)")


def pytest_itemcollected(item: pytest.Item) -> None:
    if "chdb" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.chdb)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    phase = config.getoption("phase")
    if phase != "all":
        keep = [i for i in items if phase_of(i) == phase]
        if dropped := [i for i in items if i not in keep]:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
    if hasattr(config, "workerinput") and getattr(config.option, "loadgroup", False):  # an xdist worker
        _plan_for_workers(config, items)


def phase_of(item: pytest.Item) -> str:
    """The part of the suite `make test` runs the item in (see the module docstring)."""
    if item.get_closest_marker("exclusive") is not None:
        return "exclusive"
    if item.get_closest_marker("background") is not None:
        return "background"
    if item.get_closest_marker("chdb") is not None and item.get_closest_marker("integration") is None:
        return "background"
    return "shared"


def _plan_for_workers(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group each module's tests (but split modules without a costly module-scoped fixture) and
    order the groups longest first (see the module docstring)."""
    default_timeout = float(config.getini("timeout") or 0)
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    rank: dict[str, tuple[float, int, int]] = {}
    for order, (module, members) in enumerate(modules.items()):
        parts = module.split("/")
        directory = parts[1] if len(parts) > 2 else ""
        split = directory in ("chaos", "integration") and not any(_costly_fixture(i) for i in members)
        for item in members:
            if not split:
                item.add_marker(pytest.mark.xdist_group(module))
            timeout = max((float(m.args[0]) for m in item.iter_markers("timeout") if m.args), default=0.0)
            key = item.nodeid if split else module
            rank[key] = min(
                rank.get(key, (0.0, len(DIRECTORIES), 0)),
                (
                    -timeout if timeout > default_timeout else 0.0,
                    DIRECTORIES.index(directory) if directory in DIRECTORIES else len(DIRECTORIES),
                    order,
                ),
            )
    items.sort(key=lambda i: rank.get(i.nodeid, rank.get(i.nodeid.split("::")[0], (0.0, 0, 0))))


def _costly_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        d.scope in ("module", "class", "package") and name not in CHEAP
        for name, defs in info.name2fixturedefs.items()
        for d in defs
    )
