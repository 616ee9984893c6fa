"""The local stack's Kafka nodes: how many, their ports and their layouts (pure, unit-tested).

`otcdesk stack up` runs one node by default; `--brokers 3` runs three, each a broker and a KRaft
voter with its own data directory, node id and ports. Node 1 keeps the single node's paths and
ports (9092, 9093), so settings and tools that know the default stack keep working; node n takes
`kafka_port + 2(n-1)` and `kafka_controller_port + 2(n-1)` (9094/9095, 9096/9097). The size is
the data's: a stack formatted as three nodes is brought up, listed and stopped as three.
"""

from __future__ import annotations

from pathlib import Path

from otcdesk.errors import StackError
from otcdesk.settings import LocalStackSettings, Settings
from otcdesk.stack.kafka import KafkaLayout, KafkaNode

MAX_NODES = 5  # LocalStackSettings.brokers' bound


def layouts(state_dir: Path, repo_root: Path, brokers: int) -> list[KafkaLayout]:
    return [KafkaLayout(state_dir, repo_root, node=n) for n in range(1, brokers + 1)]


def formatted_size(state_dir: Path, repo_root: Path) -> int:
    """Nodes whose storage is formatted (0: a fresh state directory)."""
    return sum(1 for layout in layouts(state_dir, repo_root, MAX_NODES) if layout.formatted)


def size(settings: Settings) -> int:
    """Nodes of the stack as it is: its data's size, else the one asked for, else 1."""
    return formatted_size(settings.state_dir, settings.repo_root) or settings.local.brokers or 1


def check_size(settings: Settings) -> None:
    """Refuse to bring up a stack formatted for another number of nodes: the quorum's voters and
    the replicas of every partition are in its data."""
    formatted = formatted_size(settings.state_dir, settings.repo_root)
    wanted = settings.local.brokers
    if wanted and formatted and wanted != formatted:
        raise StackError(
            f"the Kafka data under {settings.state_dir} is for {formatted} broker(s), not {wanted}: "
            f"`otcdesk stack up --brokers {formatted}`, or `otcdesk stack down --wipe` first "
            "(deletes every topic)"
        )


def port_keys(node: int) -> tuple[str, str]:
    """Keys of a node's (client, controller) ports in stack.json."""
    return ("kafka", "kafka_controller") if node == 1 else (f"kafka_{node}", f"kafka_{node}_controller")


def default_ports(local: LocalStackSettings, brokers: int) -> dict[str, tuple[int, str]]:
    """port key -> (default port, name of the server that listens on it) of every Kafka node."""
    out: dict[str, tuple[int, str]] = {}
    for layout in layouts(Path(), Path(), brokers):
        client, controller = port_keys(layout.node)
        step = 2 * (layout.node - 1)
        out[client] = (local.kafka_port + step, layout.name)
        out[controller] = (local.kafka_controller_port + step, layout.name)
    return out


def nodes(ports: dict[str, int], brokers: int) -> list[KafkaNode]:
    return [KafkaNode(n, ports[port_keys(n)[0]], ports[port_keys(n)[1]]) for n in range(1, brokers + 1)]
