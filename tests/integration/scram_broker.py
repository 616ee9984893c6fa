"""A throwaway single-node KRaft broker whose client listener takes only SASL/SCRAM-SHA-512 logins.

Built by the local stack's own code (otcdesk.stack.kafka: server.properties, storage format,
JVM command line) in a temporary directory, on free ports, from the local stack's jars, with a
small heap. The password is random per run: it exists only in this process, the broker's
generated server.properties and the metadata's salted credential, never in the repository.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from unittest import mock

from pydantic import SecretStr

from otcdesk.errors import StackError
from otcdesk.kafka import client_config
from otcdesk.settings import Settings
from otcdesk.stack import kafka, processes
from otcdesk.stack.health import probe_kafka
from otcdesk.stack.ports import HOST, choose_port

HEAP = "-Xms128m -Xmx384m"  # a few topics and one test's traffic; leaves room on a 2-core box
STOP_TIMEOUT_S = 10.0  # nothing to keep: SIGKILL soon after SIGTERM


class ScramBroker:
    """`start()` formats and starts the broker, `stop()` always stops it (idempotent)."""

    def __init__(self, home: Path, stack: Settings, user: str = "desk-admin") -> None:
        self.user = kafka.ScramUser(user, SecretStr(secrets.token_urlsafe(24)))
        self.local_stack = kafka.KafkaLayout(stack.state_dir, stack.repo_root)  # whose jars it runs
        self.layout = kafka.KafkaLayout(home, stack.repo_root, jars=self.local_stack.libs)
        self.pid: int | None = None
        port = choose_port((), taken=set())
        self.ports = (port, choose_port((), taken={port}))
        self.bootstrap = f"{HOST}:{port}"

    @property
    def logs(self) -> list[Path]:
        return sorted(self.layout.logs.glob("*"))

    def env(self, password: str | None = None) -> dict[str, str]:
        """The environment of a desk process using this broker (an external stack, logging in
        with the documented OTCDESK_SECURITY__* variables): its user, with its password unless
        told another."""
        return {
            "OTCDESK_STACK": "external",
            "KAFKA_BOOTSTRAP": self.bootstrap,
            "OTCDESK_STATE_DIR": str(self.layout.state_dir / "desk"),
            "OTCDESK_SECURITY__PROTOCOL": "SASL_PLAINTEXT",
            "OTCDESK_SECURITY__SASL_MECHANISM": kafka.SCRAM_MECHANISM,
            "OTCDESK_SECURITY__SASL_USERNAME": self.user.name,
            "OTCDESK_SECURITY__SASL_PASSWORD": self.user.password.get_secret_value() if password is None else password,
        }

    def settings(self, password: str | None = None) -> Settings:
        """Settings read from `env()` by pydantic-settings, as every `otcdesk` process reads them."""
        with mock.patch.dict(os.environ, self.env(password)):
            return Settings()

    def start(self, ready_timeout_s: float = 60.0) -> None:
        """StackError (with the broker's last log lines) when it cannot be had."""
        java = kafka.find_java()
        kafka.ensure_jars(self.local_stack)  # what `otcdesk stack up` does; a no-op once resolved
        kafka.write_configs(self.layout, *self.ports, scram=self.user)
        kafka.format_storage(self.layout, java, kafka.new_cluster_id(), scram=self.user)
        cmd = kafka.broker_command(self.layout, java, HEAP)
        self.pid = processes.spawn_detached(cmd, self.layout.logs / "kafka.out", self.layout.home)
        try:
            self._wait_ready(ready_timeout_s)
        except StackError:
            self.stop()
            raise

    def restart(self, ready_timeout_s: float = 60.0) -> None:
        """Start it again after `stop()` on the same storage: its topics, offsets and logins kept."""
        cmd = kafka.broker_command(self.layout, kafka.find_java(), HEAP)
        self.pid = processes.spawn_detached(cmd, self.layout.logs / "kafka.out", self.layout.home)
        self._wait_ready(ready_timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        """Ready = the user logs in and gets metadata listing the broker (unfenced)."""
        conf = client_config(self.settings())
        deadline = time.monotonic() + timeout_s
        while not (probe := probe_kafka(conf, timeout_s=2.0)).ok:
            code = processes.exited(self.pid or 0)
            if code is not None or time.monotonic() > deadline:
                why = f"exited (code {code})" if code is not None else f"not ready after {timeout_s:.0f}s"
                logs = self.layout.logs
                tail = processes.tail(logs / "kafka.log", 15) or processes.tail(logs / "kafka.out")
                raise StackError(f"SASL test broker {why}: {probe.detail}\n" + "\n".join(tail))
            time.sleep(0.25)

    def stop(self) -> None:
        if self.pid is not None:
            processes.terminate({self.pid: str(self.layout.server_properties)}, STOP_TIMEOUT_S)
            self.pid = None
