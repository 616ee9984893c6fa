"""Is a component answering? The same probes serve `up` (readiness), `status` and tests.

Readiness means "a client gets an answer", not "the process is alive": Kafka answers a metadata
request listing at least one broker; ClickHouse answers `SELECT version()`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from otcdesk.settings import ClickHouseEndpoint
from otcdesk.stack.ports import port_open

# librdkafka reports every refused connection through this logger; a probe reports failure itself,
# so these lines would only be noise on the operator's terminal.
_librdkafka_log = logging.getLogger("otcdesk.stack.librdkafka")
_librdkafka_log.addHandler(logging.NullHandler())
_librdkafka_log.propagate = False


@dataclass(frozen=True)
class ComponentStatus:
    """One row of `otcdesk stack status`."""

    component: str
    address: str
    healthy: bool
    pid: int | None = None
    version: str | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Probe:
    ok: bool
    version: str | None = None
    detail: str = ""
    brokers: int = 0  # Kafka: brokers the metadata answer lists (live, unfenced)


def _host_ports(addresses: str) -> list[tuple[str, int]]:
    out = []
    for address in addresses.split(","):
        host, _, port = address.strip().rpartition(":")
        out.append((host.strip("[]") or "127.0.0.1", int(port)))
    return out


def probe_kafka(client_conf: dict[str, Any], timeout_s: float = 3.0) -> Probe:
    """A metadata request answered with at least one broker (KRaft: the broker is unfenced); a
    cluster's bootstrap list answers while any of its nodes listens."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    bootstrap = str(client_conf["bootstrap.servers"])
    if not any(port_open(host, port, timeout_s=min(timeout_s, 1.0)) for host, port in _host_ports(bootstrap)):
        return Probe(False, detail=f"nothing listens on {bootstrap}")
    admin = AdminClient(client_conf | {"logger": _librdkafka_log, "socket.connection.setup.timeout.ms": 2000})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        return Probe(False, detail=f"no metadata answer: {exc.args[0]}")
    if not metadata.brokers:
        return Probe(False, detail="metadata answer lists no broker yet")
    return Probe(True, detail=f"cluster {metadata.cluster_id}", brokers=len(metadata.brokers))


def probe_clickhouse(endpoint: ClickHouseEndpoint, timeout_s: float = 3.0) -> Probe:
    """`SELECT version()` over the native protocol, in database `default` (the desk's database
    may not exist yet on a fresh server)."""
    from clickhouse_driver import Client
    from clickhouse_driver.errors import Error as ClickHouseError

    # No bare TCP pre-check here: ClickHouse logs a warning for every connection that sends
    # nothing, and the driver fails fast on a refused connection anyway.
    client = Client(
        host=endpoint.host,
        port=endpoint.port,
        user=endpoint.user,
        password=endpoint.password.get_secret_value(),
        database="default",
        connect_timeout=timeout_s,
        send_receive_timeout=timeout_s,
    )
    try:
        version = str(client.execute("SELECT version()")[0][0])
    except (ClickHouseError, OSError, EOFError) as exc:
        return Probe(False, detail=f"no answer to SELECT version(): {exc}".splitlines()[0])
    finally:
        client.disconnect()
    return Probe(True, version=version)
