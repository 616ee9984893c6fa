"""The wheel holds everything the image and an installed desk need; the Dockerfile builds from it.

One wheel per module, built the Dockerfile's way (tests/wheel.py: from the paths its build stage
copies, `pip wheel --no-deps`; about 7 s). No Docker engine runs here, so these checks are the
Dockerfile's test: its build stage copies enough to build the wheel, its last stage installs that
wheel and copies no source, and the wheel holds every module and every data file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.wheel import (
    PACKAGES,
    ROOT,
    SHIPPED_DIRS,
    build_stage_sources,
    build_wheel,
    checkout_files,
    docker_stages,
    wheel_files,
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_every_schema_sql_file_and_venue_response(wheel: Path) -> None:
    shipped = checkout_files(*SHIPPED_DIRS)
    assert {p for p in shipped if p.endswith(".avsc")} and {p for p in shipped if p.endswith(".sql")}
    assert any(p.startswith("otcdesk/schemas/clickhouse/queries/") for p in shipped)
    assert any(p.startswith("otcdesk/venues/recorded/binance/") for p in shipped)
    assert shipped - wheel_files(wheel) == set()


def test_the_wheel_holds_every_module_of_the_four_packages(wheel: Path) -> None:
    modules = {p for p in checkout_files(*PACKAGES) if p.endswith(".py")}
    assert {f"{package}/__init__.py" for package in PACKAGES} <= modules
    assert modules - wheel_files(wheel) == set()


def test_the_wheel_holds_no_test_file_and_no_top_level_data(wheel: Path) -> None:
    tops = {name.split("/")[0] for name in wheel_files(wheel)}
    assert tops == {*PACKAGES, wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}


def test_the_wheel_runs_from_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """Unpacked in a temporary directory and imported from there (the checkout is not on the
    path: the editable install's finder only answers what the path does not), the package finds
    its schemas, migrations, queries and venue responses inside itself."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path)
    code = """if True:
        import json, otcdesk
        from otcdesk.analytics import queries
        from otcdesk.db.migrate import load_migrations
        from otcdesk.serde import SchemaCatalog
        from otcdesk.venues.constants import FIXTURES_ROOT
        print(json.dumps({"package": otcdesk.__file__, "schemas": str(SchemaCatalog().root),
                          "events": sorted(SchemaCatalog().versions),
                          "migrations": [m.filename for m in load_migrations()],
                          "queries": queries.names(), "venues": str(FIXTURES_ROOT),
                          "venue_files": sum(1 for p in FIXTURES_ROOT.rglob("*.json"))}))
    """
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout)
    for key in ("package", "schemas", "venues"):
        assert Path(found[key]).resolve().is_relative_to(tmp_path.resolve()), (key, found[key])
    shipped = checkout_files(*SHIPPED_DIRS)
    assert found["events"] == sorted({Path(p).parent.name for p in shipped if p.endswith(".avsc")})
    assert found["migrations"] == sorted(Path(p).name for p in shipped if Path(p).parent.name == "clickhouse")
    assert found["queries"] == sorted(Path(p).stem for p in shipped if Path(p).parent.name == "queries")
    assert found["venue_files"] == sum(
        1 for p in shipped if p.startswith("otcdesk/venues/recorded/") and p.endswith(".json")
    )


def test_the_dockerfile_builds_the_wheel_then_installs_only_the_wheel(wheel: Path) -> None:
    build, *rest = docker_stages()
    final = rest[-1]
    assert build.name and build.args("RUN") and "pip wheel" in build.args("RUN")[-1]
    assert set(build_stage_sources()) == {"pyproject.toml", "README.md", *PACKAGES}  # and the wheel built
    copies = final.args("COPY")
    assert copies and all(c.startswith(f"--from={build.name} ") for c in copies), copies
    assert any("pip install" in run and ".whl" in run for run in final.args("RUN"))
    with zipfile.ZipFile(wheel) as archive:
        dist_info = next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
        entry_points = archive.read(dist_info).decode()
    assert "otcdesk = otcdesk.cli.main:main" in entry_points
    assert json.loads(final.args("ENTRYPOINT")[-1]) == ["otcdesk"]


def test_compose_runs_the_desk_from_that_image() -> None:
    """Every otcdesk service of docker-compose.yml builds this Dockerfile and runs a command of
    the wheel's entry point (init, feed, stage, sink, lag, web), never the source tree."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    desk = {name: s for name, s in services.items() if s.get("build")}
    assert {"init", "feed", "sink"} <= set(desk)
    for name, service in desk.items():
        assert service["build"] == "." and service["image"] == "otcdesk:dev", name
        assert service["command"][0] in {"init", "feed", "stage", "sink", "lag", "web"}, name
        assert not any(":/" in str(v) and "otcdesk" in str(v).split(":")[0] for v in service.get("volumes", [])), name
