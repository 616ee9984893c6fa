"""The project's own stack: one Kafka broker (or a cluster: `--brokers 3`, `otcdesk.stack.cluster`)
and one ClickHouse server as local processes.

`up` is idempotent and safe to run from several terminals (a file lock serialises it); what it
started is remembered in `state_dir` (pid files and `stack.json`, which `Settings.bootstrap` and
`Settings.clickhouse` read to find ports that had to move off their defaults).
"""

from __future__ import annotations

import fcntl
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from otcdesk.errors import StackError
from otcdesk.settings import ClickHouseEndpoint, Settings
from otcdesk.stack import clickhouse, clickhouse_access, cluster, kafka, processes, state_file
from otcdesk.stack.clickhouse_access import ServerAccess
from otcdesk.stack.health import ComponentStatus, Probe, probe_clickhouse, probe_kafka
from otcdesk.stack.ports import HOST, choose_port

Report = Callable[[str], None]
STOP_TIMEOUT_S = 30.0  # Kafka's controlled shutdown flushes and closes every partition


class ComponentFailed(StackError):
    """A component did not become ready; carries the tail of its logs for the operator."""

    def __init__(self, component: str, reason: str, log_tail: list[str]) -> None:
        super().__init__(f"{component} {reason}")
        self.component = component
        self.log_tail = log_tail


@dataclass(frozen=True)
class Server:
    """One process the stack manages: how to recognise it and where it logs."""

    name: str
    marker: str  # a path unique to this state dir, present in the process's command line
    pid_file: Path
    logs: tuple[Path, ...]  # main log first, then the process's own stdout/stderr

    def log_tail(self, since: int = 0, lines: int = 30) -> list[str]:
        """This run's last lines: main log from byte offset since, then the process's stdout
        (truncated at each start, it holds what happened before logging was set up)."""
        out: list[str] = []
        for path, count, start in zip(self.logs, (lines, 10), (since, 0), strict=False):
            chunk = processes.tail(path, count, start)
            if chunk:
                out += [f"--- {path}", *chunk]
        return out


class LocalStack:
    """Start, stop and check the local Kafka + ClickHouse of one state directory."""

    def __init__(self, settings: Settings, report: Report | None = None) -> None:
        self.settings = settings
        self.report: Report = report or (lambda _line: None)
        self.state_dir = settings.state_dir
        self.brokers = cluster.size(settings)
        self.nodes = {n.name: n for n in cluster.layouts(settings.state_dir, settings.repo_root, self.brokers)}
        self.kafka = self.nodes["kafka"]  # node 1: the single node of the default stack
        self.clickhouse = clickhouse.ClickHouseLayout(settings.state_dir, settings.repo_root)
        self._log_start: dict[str, int] = {}  # main log size when we started each server
        logs = settings.state_dir / "logs"
        self.servers = {
            name: Server(
                name,
                str(node.server_properties),
                settings.state_dir / f"{name}.pid",
                (node.logs / "kafka.log", logs / f"{name}.out"),
            )
            for name, node in self.nodes.items()
        }
        self.servers["clickhouse"] = Server(
            "clickhouse",
            str(self.clickhouse.config),
            settings.state_dir / "clickhouse.pid",
            (logs / "clickhouse-server.err.log", logs / "clickhouse-server.out"),
        )

    # -- state -----------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.state_dir / "stack.json"

    def read_state(self) -> dict[str, Any]:
        return state_file.read(self.state_file)

    def _write_state(self, state: dict[str, Any]) -> None:
        """Atomic replace, owner-only (it holds the ClickHouse admin password): state_file.write."""
        state_file.write(self.state_file, state)

    def _access(self) -> ServerAccess:
        """The ClickHouse users of this stack: the recorded admin password, the read-only limits."""
        return ServerAccess(str(self.read_state()["clickhouse_password"]), self.settings.read_only)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Two `up`s at once (two terminals, parallel test sessions) must not start two brokers."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "stack.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def running_pid(self, name: str) -> int | None:
        """Pid of our running server: from its pid file, else found by its marker (pid file lost)."""
        server = self.servers[name]
        pid = processes.read_pid(server.pid_file)
        if processes.is_ours(pid, server.marker):
            return pid
        found = processes.find_process(server.marker)
        if found:
            processes.write_pid(server.pid_file, found)
        return found

    # -- up --------------------------------------------------------------------------------------
    def up(self) -> list[ComponentStatus]:
        with self._locked():
            cluster.check_size(self.settings)
            java = kafka.find_java()
            clickhouse.find_server()  # fail on a missing binary before starting anything
            if kafka.ensure_jars(self.kafka):
                self.report(f"kafka jars resolved from Maven Central into {self.kafka.libs}")
            state = self.read_state()
            clickhouse_access.admin_password(state)  # recorded before any server uses it
            self._write_state(state)
            running = {name: self.running_pid(name) for name in self.servers}
            running["clickhouse"] = self._clickhouse_to_reuse(running["clickhouse"])
            ports = self._choose_ports(state, running)
            state |= self._addresses(ports) | {
                "ports": ports,
                "state_dir": str(self.state_dir),
                "brokers": self.brokers,
            }
            started, timings = self._start_missing(running, ports, java, state)
            state["pids"] = {name: self.running_pid(name) for name in self.servers}
            self._write_state(state)
            for name in self.servers:
                if name not in started:
                    self.report(f"{name} already running (pid {running[name]})")
            if "clickhouse" not in started and clickhouse.write_users(self.clickhouse, self._access()):
                self.report("clickhouse users.xml updated (admin password, read-only limits): the server reloads it")
            ready = self._wait_ready(started, state)  # a reloading server answers once the password works
            timings |= {f"{name}_ready_s": round(secs, 2) for name, secs in ready.items()}
            versions = {"kafka": kafka.jar_version(self.kafka.libs), "clickhouse": self._clickhouse_version(state)}
            self._create_database(state)
            if started:
                state["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
                state["timings_s"] = timings
            state["versions"] = versions
            self._write_state(state)
        return self.status()

    def _start_missing(
        self, running: dict[str, int | None], ports: dict[str, int], java: str, state: dict[str, Any]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Start the servers that are not running; returns (start time per started server, timings).
        ClickHouse first: it is ready in about a second, while Kafka's JVM formats and boots."""
        started: dict[str, float] = {}
        timings: dict[str, float] = {}
        if running["clickhouse"] is None:
            started["clickhouse"] = self._start_clickhouse(ports)
        formatted = [node for node in self.nodes.values() if node.formatted]
        cluster_id = kafka.formatted_cluster_id(formatted[0]) if formatted else kafka.new_cluster_id()
        for name, node in self.nodes.items():
            if running[name] is None:
                started[name], format_s = self._start_kafka(node, ports, java, state, cluster_id)
                timings["kafka_format_s"] = timings.get("kafka_format_s", 0.0) + format_s
        return started, timings

    def _choose_ports(self, state: dict[str, Any], running: dict[str, int | None]) -> dict[str, int]:
        """Running servers keep their ports; the others get the default or, if something else
        holds it, the port of the previous run or any free port."""
        local = self.settings.local
        previous: dict[str, int] = dict(state.get("ports", {}))
        nodes = cluster.default_ports(local, self.brokers)
        defaults = {key: port for key, (port, _) in nodes.items()} | {
            "clickhouse_native": local.clickhouse_native_port,
            "clickhouse_http": local.clickhouse_http_port,
        }
        owner = {key: name for key, (_, name) in nodes.items()} | {
            "clickhouse_native": "clickhouse",
            "clickhouse_http": "clickhouse",
        }
        ports: dict[str, int] = {}
        for key, default in defaults.items():
            if running[owner[key]]:
                ports[key] = previous.get(key, default)
        for key, default in defaults.items():
            if key not in ports:
                ports[key] = choose_port([default, previous.get(key)], taken=set(ports.values()))
                if ports[key] != default:
                    self.report(f"port {default} is taken by another program: {key} uses {ports[key]}")
        return ports

    def _addresses(self, ports: dict[str, int]) -> dict[str, str]:
        return {
            "kafka_bootstrap": kafka.bootstrap(cluster.nodes(ports, self.brokers)),
            "clickhouse_url": f"clickhouse://default@{HOST}:{ports['clickhouse_native']}/{clickhouse.DATABASE}",
            "clickhouse_http": f"{HOST}:{ports['clickhouse_http']}",
        }

    def _start_clickhouse(self, ports: dict[str, int]) -> float:
        access = self._access()
        clickhouse.write_configs(self.clickhouse, ports["clickhouse_native"], ports["clickhouse_http"], access)
        server = self.servers["clickhouse"]
        self._log_start["clickhouse"] = processes.size(server.logs[0])
        cmd = clickhouse.server_command(self.clickhouse, access.limits)
        pid = processes.spawn_detached(cmd, server.logs[1], self.clickhouse.home)
        processes.write_pid(server.pid_file, pid)
        self.report(f"clickhouse starting (pid {pid}) on {HOST}:{ports['clickhouse_native']}")
        return time.monotonic()

    def _start_kafka(
        self, node: kafka.KafkaLayout, ports: dict[str, int], java: str, state: dict[str, Any], cluster_id: str
    ) -> tuple[float, float]:
        """Start one node; returns (start time, seconds spent formatting storage, 0 when already
        formatted). The nodes of a cluster are formatted with one cluster id."""
        nodes = cluster.nodes(ports, self.brokers)
        port, controller_port = (ports[key] for key in cluster.port_keys(node.node))
        kafka.write_configs(node, port, controller_port, voters=kafka.quorum_voters(nodes), brokers=self.brokers)
        format_s = 0.0
        if not node.formatted:
            begin = time.monotonic()
            kafka.format_storage(node, java, cluster_id)
            format_s = round(time.monotonic() - begin, 2)
            state["kafka_cluster_id"] = cluster_id
            self.report(f"{node.name} storage formatted in {format_s:.1f}s (cluster id {cluster_id})")
        server = self.servers[node.name]
        self._log_start[node.name] = processes.size(server.logs[0])
        heap = self.settings.local.kafka_heap if self.brokers == 1 else self.settings.local.kafka_cluster_heap
        pid = processes.spawn_detached(kafka.broker_command(node, java, heap), server.logs[1], node.home)
        processes.write_pid(server.pid_file, pid)
        self.report(f"{node.name} starting (pid {pid}) on {HOST}:{port}")
        return time.monotonic(), format_s

    def _probe(self, name: str, state: dict[str, Any], timeout_s: float = 2.0) -> Probe:
        if name in self.nodes:
            return probe_kafka({"bootstrap.servers": self._node_address(name, state)}, timeout_s)
        return probe_clickhouse(self._endpoint(state), timeout_s)

    def _node_address(self, name: str, state: dict[str, Any]) -> str:
        client, _ = cluster.port_keys(self.nodes[name].node)
        default, _ = cluster.default_ports(self.settings.local, self.brokers)[client]
        return f"{HOST}:{int(state.get('ports', {}).get(client, default))}"

    def _ready(self, name: str, probe: Probe) -> bool:
        """ClickHouse answers; a Kafka node answers with every node of the cluster registered."""
        return probe.ok and (name not in self.nodes or probe.brokers >= self.brokers)

    def _endpoint(self, state: dict[str, Any]) -> ClickHouseEndpoint:
        """The admin's endpoint (its password as recorded in the state)."""
        port = int(state.get("ports", {}).get("clickhouse_native", self.settings.local.clickhouse_native_port))
        password = SecretStr(str(state.get("clickhouse_password", "")))
        return ClickHouseEndpoint(host=HOST, port=port, user="default", password=password, database=clickhouse.DATABASE)

    def _clickhouse_to_reuse(self, pid: int | None) -> int | None:
        """A running ClickHouse is reused unless its thread stack is too small for the read-only
        profile's max_query_size (a server started by an older otcdesk): then it is restarted."""
        needed = clickhouse_access.thread_stack_bytes(self.settings.read_only)
        stack = clickhouse.thread_stack_of(pid) if pid else None
        if pid is None or stack is None or stack >= needed:
            return pid
        self.report(
            f"clickhouse (pid {pid}) runs with a {stack >> 20} MiB thread stack, the read-only "
            f"limits need {needed >> 20} MiB: restarting it"
        )
        processes.terminate({pid: self.servers["clickhouse"].marker}, STOP_TIMEOUT_S)
        return None

    def _wait_ready(self, started: dict[str, float], state: dict[str, Any]) -> dict[str, float]:
        """Poll every component until it answers; fail fast when its process exits, and after
        ready_timeout_s with the tail of its log. Returns seconds from start to ready."""
        pending = set(self.servers)
        ready: dict[str, float] = {}
        deadline = time.monotonic() + self.settings.local.ready_timeout_s
        last: dict[str, Probe] = {}
        while pending:
            for name in sorted(pending):
                server = self.servers[name]
                pid = processes.read_pid(server.pid_file)
                if not processes.is_ours(pid, server.marker):
                    code = processes.exited(pid or 0)
                    if code is not None or not processes.alive(pid):
                        raise ComponentFailed(name, f"exited during start (exit code {code})", self._tail(name))
                    # Alive, but its command line does not show the marker yet (a JVM starting up
                    # can show another one for a moment): not ready, and the deadline still holds.
                    last[name] = Probe(False, detail="starting: its command line does not show it yet")
                    continue
                last[name] = self._probe(name, state)
                if self._ready(name, last[name]):
                    pending.discard(name)
                    ready[name] = time.monotonic() - started.get(name, time.monotonic())
                    if name in started:
                        self.report(f"{name} ready in {ready[name]:.1f}s")
            if pending and time.monotonic() > deadline:
                name = sorted(pending)[0]
                seen = f" ({last[name].brokers} of {self.brokers} brokers registered)" if name in self.nodes else ""
                reason = f"not ready after {self.settings.local.ready_timeout_s:.0f}s: {last[name].detail}{seen}"
                raise ComponentFailed(name, reason, self._tail(name))
            if pending:
                time.sleep(0.25)
        return {name: secs for name, secs in ready.items() if name in started}

    def _tail(self, name: str) -> list[str]:
        return self.servers[name].log_tail(self._log_start.get(name, 0))

    def _clickhouse_version(self, state: dict[str, Any]) -> str | None:
        return probe_clickhouse(self._endpoint(state)).version

    def _create_database(self, state: dict[str, Any]) -> None:
        """The URL in stack.json names database `otcdesk`: make it exist so that URL works."""
        from clickhouse_driver import Client

        endpoint = self._endpoint(state)
        client = Client(
            host=endpoint.host,
            port=endpoint.port,
            user=endpoint.user,
            password=endpoint.password.get_secret_value(),
            database="default",
        )
        try:
            client.execute(f"CREATE DATABASE IF NOT EXISTS {clickhouse.DATABASE}")
        finally:
            client.disconnect()

    # -- down ------------------------------------------------------------------------------------
    def down(self, wipe: bool = False) -> None:
        """Stop what `up` started (nothing else), keep the data unless wipe."""
        with self._locked():
            pids = {name: self.running_pid(name) for name in self.servers}
            targets = {pid: self.servers[name].marker for name, pid in pids.items() if pid}
            outcome = processes.terminate(targets, STOP_TIMEOUT_S)
            for name, pid in pids.items():
                self.report(f"{name} {outcome.get(pid or 0, 'not running')}" + (f" (pid {pid})" if pid else ""))
                self.servers[name].pid_file.unlink(missing_ok=True)
            state = self.read_state()
            if state:
                state["pids"] = {}
                self._write_state(state)
            if wipe:
                self._wipe()

    def _wipe(self) -> None:
        """Data, logs and generated configs go; the downloaded Kafka jars stay (slow to fetch)."""
        for path in (*(node.home for node in self.nodes.values()), self.clickhouse.home, self.state_dir / "logs"):
            shutil.rmtree(path, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)
        self.report(f"wiped Kafka and ClickHouse data and logs under {self.state_dir}")

    # -- status ----------------------------------------------------------------------------------
    def status(self) -> list[ComponentStatus]:
        state = self.read_state()
        state.setdefault("ports", {})
        rows = []
        for name in self.servers:
            pid = self.running_pid(name)
            probe = self._probe(name, state, 3.0) if pid else Probe(False, detail="not running: otcdesk stack up")
            kafka_node = name in self.nodes
            address = self._node_address(name, state) if kafka_node else f"{HOST}:{self._endpoint(state).port}"
            version = kafka.jar_version(self.kafka.libs) if kafka_node else probe.version
            detail = probe.detail
            if kafka_node and probe.ok and self.brokers > 1:
                detail += f", {probe.brokers} of {self.brokers} brokers"
            if name == "clickhouse" and probe.ok:
                detail = f"http {state.get('clickhouse_http', '')}".strip()
            rows.append(ComponentStatus(name, address, probe.ok, pid, version, detail))
        return rows
