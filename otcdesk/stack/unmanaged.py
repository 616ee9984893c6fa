"""Stacks otcdesk uses but does not run: `external` (KAFKA_BOOTSTRAP + CLICKHOUSE_URL given by
the user) and `docker` (the containers of docker-compose.yml, started with `docker compose up -d`).

`up` and `down` only check that the endpoints answer: starting containers from the CLI with
testcontainers would not work, because its reaper removes them when the CLI process exits.
"""

from __future__ import annotations

from collections.abc import Callable

from otcdesk.errors import StackError
from otcdesk.settings import Settings
from otcdesk.stack.containers import DOCKER_NEEDED, docker_reachable
from otcdesk.stack.health import ComponentStatus, probe_clickhouse, probe_kafka


class UnmanagedStack:
    def __init__(self, settings: Settings, report: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.kind = settings.stack
        self.report = report or (lambda _line: None)

    def _require_docker(self) -> None:
        if self.kind == "docker" and not docker_reachable():
            raise StackError(DOCKER_NEEDED)

    def up(self) -> list[ComponentStatus]:
        self._require_docker()
        rows = self.status()
        down = [row for row in rows if not row.healthy]
        if down:
            hint = (
                "start the containers with `docker compose up -d`"
                if self.kind == "docker"
                else "check KAFKA_BOOTSTRAP and CLICKHOUSE_URL"
            )
            what = "; ".join(f"{row.component} at {row.address}: {row.detail}" for row in down)
            raise StackError(f"OTCDESK_STACK={self.kind}: {what}; {hint}")
        self.report(f"{self.kind} stack reachable (otcdesk does not start or stop it)")
        return rows

    def down(self, wipe: bool = False) -> None:
        hint = (
            "stop it with `docker compose down" + (" -v`" if wipe else "`")
            if self.kind == "docker"
            else "it is not otcdesk's to stop"
        )
        self.report(f"OTCDESK_STACK={self.kind}: nothing stopped; {hint}")

    def status(self) -> list[ComponentStatus]:
        from otcdesk.kafka import client_config  # brings the user's SASL/SSL settings

        kafka = probe_kafka(client_config(self.settings))
        endpoint = self.settings.clickhouse
        ch = probe_clickhouse(endpoint)
        return [
            ComponentStatus("kafka", self.settings.bootstrap, kafka.ok, None, None, kafka.detail),
            ComponentStatus("clickhouse", f"{endpoint.host}:{endpoint.port}", ch.ok, None, ch.version, ch.detail),
        ]
