"""docker-compose.yml cannot run here (no Docker engine): check it against the code instead."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from otcdesk.db.client import READ_ONLY_USER
from otcdesk.settings import Settings
from streams import STAGES

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_one_service_per_stage_plus_infrastructure() -> None:
    assert set(STAGES) <= set(SERVICES)
    assert {"kafka", "clickhouse", "kafka-ui", "init", "feed", "sink"} <= set(SERVICES)
    for stage in STAGES:
        assert SERVICES[stage]["command"] == ["stage", "run", stage]


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
