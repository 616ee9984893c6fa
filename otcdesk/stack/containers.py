"""Kafka and ClickHouse in throwaway containers (testcontainers) for test sessions with Docker.

Used by the integration-test fixture when OTCDESK_STACK=docker: the containers live as long as
the `with` block (testcontainers' reaper removes them if the test process dies).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from otcdesk.errors import StackError
from otcdesk.stack.ports import ephemeral_port

if TYPE_CHECKING:  # testcontainers is a test extra: imported where a container starts
    from testcontainers.core.container import DockerContainer

KAFKA_IMAGE = "apache/kafka:3.9.2"  # the same broker version as the local stack
CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:25.8"  # current LTS: the SQL must run on both
DOCKER_NEEDED = "OTCDESK_STACK=docker needs a reachable Docker engine; use OTCDESK_STACK=local"


def docker_reachable(timeout_s: int = 3) -> bool:
    try:
        import docker

        client = docker.from_env(timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure (no socket, no permission, no package) means "no"
        return False


def _kafka_container(image: str) -> tuple[DockerContainer, str]:
    """apache/kafka configured by environment; the host port is chosen up front because the
    broker must advertise the address clients dial (testcontainers' KafkaContainer only
    supports Confluent images)."""
    from testcontainers.core.container import DockerContainer

    host_port = ephemeral_port()
    env = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{host_port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    }
    container = DockerContainer(image).with_bind_ports(9092, host_port)
    for key, value in env.items():
        container = container.with_env(key, value)
    return container, f"127.0.0.1:{host_port}"


def _wait_for_kafka(bootstrap: str, timeout_s: float) -> None:
    import time

    from otcdesk.stack.health import probe_kafka

    deadline = time.monotonic() + timeout_s
    while not (probe := probe_kafka({"bootstrap.servers": bootstrap})).ok:
        if time.monotonic() > deadline:
            raise StackError(f"Kafka container not ready after {timeout_s:.0f}s: {probe.detail}")
        time.sleep(0.5)


def _add_readonly_user(url: str) -> None:
    """The same otcdesk_ro user, with the same limits, as the local stack's users.xml, created by SQL."""
    from clickhouse_driver import Client

    from otcdesk.db.read_only import ReadOnlyLimits

    profile = ReadOnlyLimits().profile()
    settings = ", ".join(f"{name} = {value if value.isdigit() else repr(value)}" for name, value in profile.items())
    client = Client.from_url(url)
    try:
        client.execute(f"CREATE USER IF NOT EXISTS otcdesk_ro IDENTIFIED WITH no_password SETTINGS {settings}")
        client.execute("GRANT SELECT ON *.* TO otcdesk_ro")
    finally:
        client.disconnect()


@contextmanager
def docker_stack(
    kafka_image: str = KAFKA_IMAGE, clickhouse_image: str = CLICKHOUSE_IMAGE, timeout_s: float = 120.0
) -> Iterator[tuple[str, str]]:
    """Yield (kafka bootstrap, clickhouse url) of fresh containers, removed on exit."""
    if not docker_reachable():
        raise StackError(DOCKER_NEEDED)
    from testcontainers.community.clickhouse import ClickHouseContainer

    kafka, bootstrap = _kafka_container(kafka_image)
    clickhouse = ClickHouseContainer(
        clickhouse_image, username="otcdesk", password="otcdesk", dbname="otcdesk"
    ).with_env("CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT", "1")
    with kafka, clickhouse:
        _wait_for_kafka(bootstrap, timeout_s)
        url = clickhouse.get_connection_url()
        _add_readonly_user(url)
        yield bootstrap, url
