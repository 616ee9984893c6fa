"""A throwaway three-node Kafka cluster for the broker-failover scenario (`otcdesk chaos broker-failover`).

The same nodes as `otcdesk stack up --brokers 3` (`otcdesk.stack.kafka`: combined broker+controller,
every node a KRaft voter, internal topics replicated 3 with min.insync.replicas 2), in a scratch
directory, on free ports, with the throwaway broker's small heap. One node can be killed with
SIGKILL and started again on its own data and ports, which is the fault.
"""

from __future__ import annotations

import time
from pathlib import Path

from otcdesk.settings import Settings
from otcdesk.stack import kafka
from otcdesk.stack.health import Probe, probe_kafka
from otcdesk.stack.ports import choose_port
from otcdesk.stack.throwaway import KafkaServer, _settings, _url


class ThrowawayNode(KafkaServer):
    """Node `node.node_id` of a throwaway cluster; ready once the metadata it answers lists every node."""

    def __init__(
        self, home: Path, stack: Settings, node: kafka.KafkaNode, voters: str, brokers: int, cluster_id: str
    ) -> None:
        self.local_stack = kafka.KafkaLayout(stack.state_dir, stack.repo_root)  # whose jars it runs
        self.layout = kafka.KafkaLayout(home, stack.repo_root, jars=self.local_stack.libs, node=node.node_id)
        super().__init__(self.layout.home)
        self.node, self.voters, self.brokers, self.cluster_id = node, voters, brokers, cluster_id

    def _write_configs(self) -> None:
        kafka.write_configs(
            self.layout, self.node.port, self.node.controller_port, voters=self.voters, brokers=self.brokers
        )

    def _cluster_id(self) -> str:
        return self.cluster_id  # every node of the cluster formatted with the same id

    def probe(self) -> Probe:
        probe = probe_kafka({"bootstrap.servers": self.node.address}, timeout_s=2.0)
        if probe.ok and probe.brokers < self.brokers:
            return Probe(False, detail=f"{probe.brokers} of {self.brokers} brokers registered")
        return probe


class ThrowawayCluster:
    """`brokers` nodes (3 by default) sharing one cluster id; the desk's processes get every node's
    address, and `clickhouse_url` (the shared ClickHouse unless given)."""

    def __init__(self, home: Path, stack: Settings, brokers: int = 3, clickhouse_url: str | None = None) -> None:
        self.home = home
        taken: set[int] = set()
        for _ in range(2 * brokers):
            taken.add(choose_port((), taken=taken))
        ports = sorted(taken)
        nodes = [kafka.KafkaNode(n, ports[2 * n - 2], ports[2 * n - 1]) for n in range(1, brokers + 1)]
        voters, cluster_id = kafka.quorum_voters(nodes), kafka.new_cluster_id()
        self.nodes = {n.node_id: ThrowawayNode(home, stack, n, voters, brokers, cluster_id) for n in nodes}
        self.bootstrap = kafka.bootstrap(nodes)
        self.clickhouse_url = clickhouse_url or _url(stack.clickhouse)

    def start(self, ready_timeout_s: float = 240.0) -> float:
        """Start every node, then wait until each lists them all; returns the seconds it took."""
        began = time.monotonic()
        try:
            for node in self.nodes.values():
                node.spawn()
            for node in self.nodes.values():
                node.wait_ready(began, ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - began

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()

    def env(self) -> dict[str, str]:
        """The environment of a desk process using this cluster (an external stack)."""
        return {
            "OTCDESK_STACK": "external",
            "KAFKA_BOOTSTRAP": self.bootstrap,
            "CLICKHOUSE_URL": self.clickhouse_url,
            "OTCDESK_STATE_DIR": str(self.home / "desk"),
        }

    def settings(self) -> Settings:
        return _settings(self.env())
