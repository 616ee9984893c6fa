"""docker-compose.yml's monitoring, checked against the code (no Docker engine here): Prometheus
scrapes every desk service on the port its command serves, Grafana is provisioned from the repo
with the desk's dashboard, and every metric the dashboard queries is one the code defines."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer
import yaml

from otcdesk.cli.main import app as cli_app
from otcdesk.settings import Settings
from streams import STAGES
from tests import dashboard

ROOT = Path(__file__).resolve().parents[2]
SERVICES = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
PROMETHEUS = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
DASHBOARD = dashboard.load()
#: The commands of the long-running desk processes (each serves /metrics with --metrics-port).
DESK_COMMANDS = (["feed", "run"], ["stage", "run"], ["sink", "run"])


def _cli_params(args: list[str]) -> dict[str, Any]:
    """The options the CLI parses out of a compose command, its checks run (an error raises)."""
    root = typer.main.get_command(cli_app)
    ctx = root.make_context("otcdesk", [], resilient_parsing=True)
    command, i = root, 0
    while hasattr(command, "get_command"):
        command = command.get_command(ctx, args[i])
        assert command is not None, args
        i += 1
    return command.make_context(" ".join(args[:i]), args[i:], parent=ctx).params


def _targets(job: str) -> set[str]:
    (config,) = [c for c in PROMETHEUS["scrape_configs"] if c["job_name"] == job]
    return {t for group in config["static_configs"] for t in group["targets"]}


def test_every_desk_service_is_a_prometheus_target_on_its_metrics_port() -> None:
    desk = {name: s for name, s in SERVICES.items() if s.get("command", [])[:2] in DESK_COMMANDS}
    assert set(STAGES) | {"feed", "sink"} <= set(desk)
    wanted = set()
    for name, service in desk.items():
        port = _cli_params(service["command"])["metrics_port"]
        assert port, f"{name} serves no /metrics"
        wanted.add(f"{name}:{port}")
    assert _targets("otcdesk") == wanted
    exporter = SERVICES["lag-exporter"]
    assert exporter["command"][0] == "lag" and exporter["image"] == SERVICES["aggregator"]["image"]
    assert _targets("otcdesk-lag") == {f"lag-exporter:{_cli_params(exporter['command'])['serve']}"}


def test_desk_endpoints_listen_beyond_their_container(monkeypatch) -> None:
    """A process's /metrics binds `metrics.host`, loopback by default: compose widens it."""
    for name, value in SERVICES["aggregator"]["environment"].items():
        monkeypatch.setenv(name, str(value))
    assert Settings().metrics.host == "0.0.0.0"


def test_prometheus_and_grafana_are_pinned_and_provisioned_from_the_repo() -> None:
    for name in ("prometheus", "grafana"):
        assert re.fullmatch(r"[a-z/]+:v?\d+\.\d+\.\d+", SERVICES[name]["image"]), SERVICES[name]["image"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in SERVICES["prometheus"]["volumes"]}
    assert (ROOT / mounts["/etc/prometheus/prometheus.yml"]).resolve() == ROOT / "infra/prometheus/prometheus.yml"
    mounts = {m.split(":")[1]: ROOT / m.split(":")[0] for m in SERVICES["grafana"]["volumes"]}
    provisioning = mounts["/etc/grafana/provisioning"]
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in SERVICES["prometheus"]["ports"]
    (provider,) = yaml.safe_load((provisioning / "dashboards/otcdesk.yml").read_text())["providers"]
    dashboards = mounts[provider["options"]["path"]]
    assert (dashboards / "otcdesk.json").is_file()
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/otcdesk.json"
    panels = dashboard.panels(DASHBOARD)
    assert {p["datasource"]["uid"] for p in panels} | {
        t["datasource"]["uid"] for p in panels for t in p["targets"]
    } == {source["uid"]}


def test_every_dashboard_panel_says_what_it_shows() -> None:
    assert DASHBOARD["schemaVersion"] >= 41 and DASHBOARD["uid"]
    panels = dashboard.panels(DASHBOARD)
    assert len({p["id"] for p in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])
    for panel in panels:
        assert len(panel["description"]) > 40 and panel["targets"], panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]


#: Runs in its own interpreter: the series are registered once per process, in the client's global
#: registry, and the sink creates its own only when asked to (here with no endpoint: port 0).
_CATALOGUE = """
import json
from prometheus_client import REGISTRY
import otcdesk.metrics
from consumers.lag_exporter import LagCollector
from consumers.sink_metrics import Prometheus
Prometheus("127.0.0.1", 0)
REGISTRY.register(LagCollector())
suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
print(json.dumps(sorted(f.name + s for f in REGISTRY.collect() for s in suffixes.get(f.type, []))))
"""


def test_every_metric_the_dashboard_queries_is_one_the_code_defines() -> None:
    done = subprocess.run([sys.executable, "-c", _CATALOGUE], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    defined = set(json.loads(done.stdout))
    queried = dashboard.queried_metrics(DASHBOARD)
    assert {"otcdesk_quote_latency_seconds_bucket", "otcdesk_lag_group_status", "process_start_time_seconds"} <= queried
    assert queried <= defined, sorted(queried - defined)
