"""Throwaway Kafka brokers and ClickHouse servers for fault scenarios (`otcdesk chaos`, tests/chaos).

A broker restart or a ClickHouse outage cannot be staged on the shared local stack: other
sessions use it. These are the same servers, built by the same code (`otcdesk.stack.kafka`,
`otcdesk.stack.clickhouse`), in a scratch directory, on free ports, with a small heap. Unlike
the stack they can be stopped and started again *on the same data and ports*, which is the fault.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from unittest import mock
from urllib.parse import quote

from pydantic import SecretStr

from otcdesk.errors import StackError
from otcdesk.settings import ClickHouseEndpoint, Settings
from otcdesk.stack import clickhouse, kafka, processes, state_file
from otcdesk.stack.clickhouse_access import ServerAccess, admin_password
from otcdesk.stack.health import Probe, probe_clickhouse, probe_kafka
from otcdesk.stack.ports import HOST, choose_port

HEAP = "-Xms128m -Xmx384m"  # a few topics and one scenario's traffic; leaves room on a 2-core box
STOP_TIMEOUT_S = 20.0


class _Server:
    """Start / stop / restart of one detached process recognised by its config path."""

    name = "server"

    def __init__(self, home: Path) -> None:
        self.home = home
        self.pid: int | None = None

    @property
    def marker(self) -> str:
        raise NotImplementedError

    @property
    def log(self) -> Path:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write configs (and format storage the first time)."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def probe(self) -> Probe:
        raise NotImplementedError

    def start(self, ready_timeout_s: float = 240.0) -> float:
        """Start and wait until it answers; returns the seconds it took. StackError with the log
        tail when it exits or does not answer in time (and then it is stopped)."""
        began = time.monotonic()
        self.spawn()
        return self.wait_ready(began, ready_timeout_s)

    def spawn(self) -> None:
        """Start without waiting (the nodes of a cluster answer only once a quorum of them runs)."""
        self._prepare()
        self.pid = processes.spawn_detached(self._command(), self.home / f"{self.name}.out", self.home)

    def wait_ready(self, began: float, ready_timeout_s: float = 240.0) -> float:
        """Seconds from `began` until it answered (see `start`)."""
        assert self.pid is not None, "spawn() first"
        deadline = began + ready_timeout_s
        while not (probe := self.probe()).ok:
            code = processes.exited(self.pid)
            if code is not None or time.monotonic() > deadline:
                self.stop()
                why = f"exited (code {code})" if code is not None else f"not ready after {ready_timeout_s:.0f}s"
                tail = processes.tail(self.log, 15) or processes.tail(self.home / f"{self.name}.out")
                raise StackError(f"throwaway {self.name} {why}: {probe.detail}\n" + "\n".join(tail))
            time.sleep(0.25)
        return time.monotonic() - began

    def stop(self) -> None:
        """SIGTERM (a clean shutdown, as an operator would), SIGKILL after STOP_TIMEOUT_S. Idempotent."""
        if self.pid is not None:
            processes.terminate({self.pid: self.marker}, STOP_TIMEOUT_S)
            self.pid = None

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no controlled shutdown, no flush."""
        if self.pid is not None and processes.is_ours(self.pid, self.marker):
            os.kill(self.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while processes.is_ours(self.pid, self.marker) and time.monotonic() < deadline:
                time.sleep(0.02)
        self.pid = None

    def __enter__(self) -> _Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class KafkaServer(_Server):
    """A KRaft node from the local stack's jars, in its own directory (`layout`): what a single
    broker and a cluster's node share. Subclasses write its configs and name its cluster id."""

    name = "kafka"
    layout: kafka.KafkaLayout
    local_stack: kafka.KafkaLayout

    @property
    def marker(self) -> str:
        return str(self.layout.server_properties)

    @property
    def log(self) -> Path:
        return self.layout.logs / "kafka.log"

    def _write_configs(self) -> None:
        raise NotImplementedError

    def _cluster_id(self) -> str:
        return kafka.new_cluster_id()

    def _prepare(self) -> None:
        kafka.ensure_jars(self.local_stack)  # what `otcdesk stack up` does; a no-op once resolved
        self._write_configs()
        if not self.layout.formatted:  # a restart keeps its data: formatted once
            kafka.format_storage(self.layout, kafka.find_java(), self._cluster_id())

    def _command(self) -> list[str]:
        return kafka.broker_command(self.layout, kafka.find_java(), HEAP)


class ThrowawayBroker(KafkaServer):
    """A single-node KRaft broker (PLAINTEXT) on its own ports and data directory."""

    def __init__(self, home: Path, stack: Settings) -> None:
        super().__init__(home)
        self.local_stack = kafka.KafkaLayout(stack.state_dir, stack.repo_root)  # whose jars it runs
        self.layout = kafka.KafkaLayout(home, stack.repo_root, jars=self.local_stack.libs)
        self.clickhouse_url = _url(stack.clickhouse)  # the desk processes keep the shared ClickHouse
        port = choose_port((), taken=set())
        self.ports = (port, choose_port((), taken={port}))
        self.bootstrap = f"{HOST}:{port}"

    def _write_configs(self) -> None:
        kafka.write_configs(self.layout, *self.ports)

    def probe(self) -> Probe:
        return probe_kafka({"bootstrap.servers": self.bootstrap}, timeout_s=2.0)

    def env(self) -> dict[str, str]:
        """The environment of a desk process using this broker (an external stack)."""
        return {
            "OTCDESK_STACK": "external",
            "KAFKA_BOOTSTRAP": self.bootstrap,
            "CLICKHOUSE_URL": self.clickhouse_url,
            "OTCDESK_STATE_DIR": str(self.home / "desk"),
        }

    def settings(self) -> Settings:
        return _settings(self.env())


class ThrowawayClickHouse(_Server):
    """A ClickHouse server (Debian's 18.16 here) with the stack's config, on its own ports: the
    same users and read-only limits (those of `stack.read_only`), its own admin password, kept
    in its own state file (`home/stack.json`, mode 0600)."""

    name = "clickhouse"

    def __init__(self, home: Path, stack: Settings) -> None:
        super().__init__(home)
        self.layout = clickhouse.ClickHouseLayout(home, stack.repo_root)
        self.bootstrap = stack.bootstrap  # the desk processes keep the shared broker
        tcp = choose_port((), taken=set())
        self.ports = (tcp, choose_port((), taken={tcp}))
        self.state_file = home / "stack.json"  # as a local stack's: Settings(stack="local", state_dir=home) finds it
        state = state_file.read(self.state_file)
        self.access = ServerAccess(admin_password(state), stack.read_only)
        self.endpoint = ClickHouseEndpoint(
            host=HOST,
            port=tcp,
            user="default",
            database=clickhouse.DATABASE,
            password=SecretStr(self.access.admin_password),
        )
        state["clickhouse_url"] = f"clickhouse://default@{HOST}:{tcp}/{clickhouse.DATABASE}"
        state_file.write(self.state_file, state)

    @property
    def marker(self) -> str:
        return str(self.layout.config)

    @property
    def log(self) -> Path:
        return self.layout.logs / "clickhouse-server.err.log"

    def _prepare(self) -> None:
        clickhouse.find_server()
        clickhouse.write_configs(self.layout, *self.ports, self.access)

    def _command(self) -> list[str]:
        return clickhouse.server_command(self.layout, self.access.limits)

    def probe(self) -> Probe:
        return probe_clickhouse(self.endpoint, timeout_s=2.0)

    def env(self) -> dict[str, str]:
        return {
            "OTCDESK_STACK": "external",
            "KAFKA_BOOTSTRAP": self.bootstrap,
            "CLICKHOUSE_URL": _url(self.endpoint),
            "OTCDESK_STATE_DIR": str(self.home / "desk"),
        }

    def settings(self) -> Settings:
        return _settings(self.env())


def _url(ep: ClickHouseEndpoint) -> str:
    password = ep.password.get_secret_value()
    auth = f"{ep.user}:{quote(password, safe='')}" if password else ep.user
    return f"clickhouse://{auth}@{ep.host}:{ep.port}/{ep.database}"


def _settings(env: dict[str, str]) -> Settings:
    """Settings read from `env` by pydantic-settings, as every `otcdesk` process reads them."""
    with mock.patch.dict(os.environ, env):
        return Settings()
