"""docker-compose.yml cannot run here (no Docker engine): check it against the code instead."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

from otcdesk.db.client import READ_ONLY_USER
from otcdesk.settings import Settings, TopicSettings
from otcdesk.stack import cluster, kafka
from streams import STAGES

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_one_service_per_stage_plus_infrastructure() -> None:
    assert set(STAGES) <= set(SERVICES)
    assert {"kafka", "clickhouse", "kafka-ui", "init", "feed", "sink"} <= set(SERVICES)
    for stage in STAGES:
        assert SERVICES[stage]["command"][:3] == ["stage", "run", stage]


def test_images_are_kafka_39_kraft_and_a_current_clickhouse() -> None:
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:3.9.")
    assert SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    major = int(SERVICES["clickhouse"]["image"].split(":")[1].split(".")[0])
    assert major >= 24


def test_ports_match_the_local_stack_defaults() -> None:
    local = Settings().local
    assert f"{local.kafka_port}:9092" in SERVICES["kafka"]["ports"]
    assert f"{local.clickhouse_native_port}:9000" in SERVICES["clickhouse"]["ports"]
    assert f"{local.clickhouse_http_port}:8123" in SERVICES["clickhouse"]["ports"]


def test_desk_environment_names_are_settings_the_code_reads(monkeypatch) -> None:
    env = SERVICES["aggregator"]["environment"]
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    settings = Settings()
    assert settings.stack == env["OTCDESK_STACK"] == "external"
    assert settings.bootstrap == env["KAFKA_BOOTSTRAP"]
    assert settings.clickhouse_url == env["CLICKHOUSE_URL"]
    assert settings.seed == int(env["OTCDESK_SEED"])
    for stage in STAGES:
        assert SERVICES[stage]["environment"] == env


def test_the_web_page_is_published_on_the_hosts_loopback_only() -> None:
    web, port = SERVICES["web"], Settings().web.port
    assert web["command"] == ["web", "--host", "0.0.0.0", "--port", str(port)]
    assert web["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert web["environment"] == SERVICES["aggregator"]["environment"]


def test_clickhouse_gets_the_read_only_user_of_sql() -> None:
    """`otcdesk sql` connects as otcdesk_ro: the compose server must define it with a readonly=1
    profile, as the local stack's users.xml does (its limits: tests/unit/test_store_access.py)."""
    mounts = {m.split(":")[1]: m.split(":")[0] for m in SERVICES["clickhouse"]["volumes"]}
    source = mounts["/etc/clickhouse-server/users.d/otcdesk-ro.xml"]
    root = ET.parse(Path(__file__).resolve().parents[2] / source).getroot()
    user = root.find(f"users/{READ_ONLY_USER}")
    assert user is not None
    profile = root.find(f"profiles/{user.findtext('profile')}")
    assert profile is not None and profile.findtext("readonly") == "1"


def test_clickhouse_admin_password_comes_from_the_environment() -> None:
    """`default` gets OTCDESK_CLICKHOUSE_PASSWORD through the image's CLICKHOUSE_PASSWORD; compose
    refuses to start without it; every desk service passes it to its ClickHouse clients."""
    required = "${OTCDESK_CLICKHOUSE_PASSWORD:?"
    server = SERVICES["clickhouse"]
    assert server["environment"]["CLICKHOUSE_PASSWORD"].startswith(required)
    assert "CLICKHOUSE_SKIP_USER_SETUP" not in server["environment"]
    assert "$$CLICKHOUSE_PASSWORD" in server["healthcheck"]["test"][1]
    desk = [s for s in SERVICES.values() if "CLICKHOUSE_URL" in s.get("environment", {})]
    assert len(desk) > len(STAGES)
    assert all(s["environment"]["OTCDESK_CLICKHOUSE_PASSWORD"].startswith(required) for s in desk)


# -- docker-compose.cluster.yml: three brokers over the same file -------------------------------------

CLUSTER = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.cluster.yml").read_text())
NODES = ("kafka", "kafka-2", "kafka-3")


def _merged(base: Any, override: Any) -> Any:
    """What `docker compose -f docker-compose.yml -f docker-compose.cluster.yml` runs: mappings
    merged key by key (environment, depends_on), the override's scalars win."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {
            k: _merged(base[k], override[k]) if k in base and k in override else override.get(k, base.get(k))
            for k in {**base, **override}
        }
    return override


MERGED = _merged(SERVICES, CLUSTER["services"])


def test_cluster_runs_three_kraft_voters_of_one_cluster() -> None:
    envs = [MERGED[name]["environment"] for name in NODES]
    assert [env["KAFKA_NODE_ID"] for env in envs] == [1, 2, 3]
    assert {MERGED[name]["image"] for name in NODES} == {SERVICES["kafka"]["image"]}
    (cluster_id,) = {env["CLUSTER_ID"] for env in envs}
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id) and len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs} == {"1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert set(envs[0]) == set(envs[1]) == set(envs[2])  # the same settings, node id and addresses aside
    for key in set(envs[0]) - {"KAFKA_NODE_ID", "KAFKA_ADVERTISED_LISTENERS"}:
        assert envs[0][key] == envs[1][key] == envs[2][key], key


def test_cluster_host_ports_are_the_local_clusters() -> None:
    """Node n listens on the port `otcdesk stack up --brokers 3` gives it: 9092, 9094, 9096."""
    ports = cluster.default_ports(Settings().local, 3)
    for n, name in enumerate(NODES, start=1):
        port, _ = ports[cluster.port_keys(n)[0]]
        assert f"{port}:9092" in MERGED[name]["ports"]
        assert f"PLAINTEXT://localhost:{port}," in MERGED[name]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        assert MERGED[name]["hostname"] == name


def test_cluster_replicates_like_the_local_cluster() -> None:
    factor, min_isr = TopicSettings().replication(3)
    assert (factor, min_isr) == (3, 2)
    props = dict(
        line.split("=", 1)
        for line in kafka.server_properties(Path("/d"), 1, 2, brokers=3).splitlines()
        if line and not line.startswith("#")
    )
    env = MERGED["kafka"]["environment"]
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "default.replication.factor",
        "min.insync.replicas",
    ):
        assert str(env["KAFKA_" + key.replace(".", "_").upper()]) == props[key], key
    assert props["default.replication.factor"] == str(factor) and props["min.insync.replicas"] == str(min_isr)


def test_cluster_desk_starts_from_every_node_and_waits_for_them(monkeypatch) -> None:
    desk = [name for name, s in SERVICES.items() if "KAFKA_BOOTSTRAP" in s.get("environment", {})]
    assert set(STAGES) | {"init", "feed", "sink"} <= set(desk)
    for name in desk:
        for key, value in MERGED[name]["environment"].items():
            monkeypatch.setenv(key, str(value))
        settings = Settings()
        assert settings.bootstrap == "kafka:19092,kafka-2:19092,kafka-3:19092", name
        assert settings.topics.replication(3) == (3, 2) and settings.topics.replication_factor == 3, name
    for name in ("init", "kafka-ui"):
        assert all(MERGED[name]["depends_on"][node]["condition"] == "service_healthy" for node in NODES), name
    ui = MERGED["kafka-ui"]["environment"]["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"]
    assert ui == "kafka:19092,kafka-2:19092,kafka-3:19092"
