"""Every benchmark of `make bench` runs for a second against the real stack, so none can rot.

One test per name in `bench.__main__.BENCHES`: a module listed there but missing, or one that
raises, fails its test (never a skip). Only that the code runs and reports sane figures is
checked, never a speed: no timed assertion belongs in the suite (bench/README.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.__main__ import BENCHES, main
from otcdesk.settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", BENCHES)
def test_bench_smoke(name: str, stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ep = stack.clickhouse  # the fixture's stack, for main()'s Settings() and the processes it starts
    monkeypatch.setenv("OTCDESK_STACK", "external")
    monkeypatch.setenv("KAFKA_BOOTSTRAP", stack.bootstrap)
    monkeypatch.setenv("CLICKHOUSE_URL", f"clickhouse://{ep.user}@{ep.host}:{ep.port}/{ep.database}")
    monkeypatch.setenv("OTCDESK_CLICKHOUSE_PASSWORD", ep.password.get_secret_value())
    assert main(["--smoke", "--only", name, "--out", str(tmp_path)]) == 0, f"bench {name} failed (see stderr)"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{name}.json", f"{name}.md", "history.md"])
    json_path, md_path = tmp_path / f"{name}.json", tmp_path / f"{name}.md"
    data = json.loads(json_path.read_text())
    assert data["runs"][-1]["benches"] == [name] and data["runs"][-1]["smoke"] is True
    assert f"| {name} (smoke) |" in (tmp_path / "history.md").read_text()
    figures = [f for f in data["figures"] if f["bench"] == name]
    assert figures, f"bench {name} reported no figure"
    # A one-second run on a busy CI box may not drain a stage or sustain the first lifecycle step:
    # that figure is then missing or 0 (and its target judged missed), which is a measurement, not
    # rot. Rot is a bench that raises, reports nothing at all, or reports nonsense.
    assert any(f["value"] and f["value"]["runs"] for f in figures), f"bench {name} measured nothing"
    for fig in figures:
        for stats in (fig["value"], fig["baseline_value"]):
            if stats is not None:
                assert all(math.isfinite(v) and v >= 0 for v in stats["runs"]), (fig["name"], stats)
        if fig["target"] is not None:  # judged, whatever the verdict, whenever it can be:
            # a ratio needs its baseline, and a smoke run's floor may not drain on a busy box
            judgeable = fig["value"] is not None and (
                fig["baseline_value"] is not None or not fig["target"].startswith("ratio")
            )
            assert fig["met"] in ((True, False) if judgeable else (None,)), fig["name"]
        assert f"| {fig['name']} |" in md_path.read_text()
