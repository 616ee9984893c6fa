"""Apache Kafka as local KRaft broker+controller nodes (one or a cluster), from the Maven Central jars.

Everything here is a pure function of paths and ports (unit-tested) except the three steps
that touch the machine: resolving the jars with Maven, formatting storage, building the command.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from otcdesk.errors import StackError
from otcdesk.settings import TopicSettings

INSTALL_HINT = "run infra/install.sh (or apt-get install openjdk-17-jre-headless maven)"
SCRAM_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class ScramUser:
    """The one login of a broker whose client listener is SASL_PLAINTEXT with SCRAM-SHA-512.

    KRaft keeps SCRAM credentials in the cluster metadata, so the user is written when storage is
    formatted (`--add-scram`, KIP-900): nobody can log in to create it afterwards.
    """

    name: str
    password: SecretStr


@dataclass(frozen=True)
class KafkaNode:
    """One node of a cluster: its KRaft node id and its two loopback ports."""

    node_id: int
    port: int
    controller_port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def quorum_voters(nodes: Sequence[KafkaNode]) -> str:
    """`controller.quorum.voters`: every node of the cluster votes (combined broker+controller)."""
    return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)


def bootstrap(nodes: Sequence[KafkaNode]) -> str:
    """Every node's client address: a client starts from whichever answers."""
    return ",".join(n.address for n in nodes)


@dataclass(frozen=True)
class KafkaLayout:
    """Where one local broker keeps its files, all under the stack's state directory. Node 1 is
    `kafka/` (the single node of the default stack); node n of a cluster is `kafka-n/`."""

    state_dir: Path
    repo_root: Path
    jars: Path | None = None  # another stack's kafka-libs (a throwaway broker shares the jars)
    node: int = 1

    @property
    def name(self) -> str:
        return "kafka" if self.node == 1 else f"kafka-{self.node}"

    @property
    def home(self) -> Path:
        return self.state_dir / self.name

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def server_properties(self) -> Path:
        return self.home / "server.properties"

    @property
    def log4j_properties(self) -> Path:
        return self.home / "log4j.properties"

    @property
    def libs(self) -> Path:
        return self.jars or self.state_dir / "kafka-libs"

    @property
    def logs(self) -> Path:
        """kafka.log's directory: `logs/` for node 1, `logs/kafka-n/` for the others."""
        return self.state_dir / "logs" if self.node == 1 else self.state_dir / "logs" / self.name

    @property
    def pom(self) -> Path:
        return self.repo_root / "infra" / "kafka" / "pom.xml"

    @property
    def log4j_template(self) -> Path:
        return self.repo_root / "infra" / "kafka" / "log4j.properties"

    @property
    def formatted(self) -> bool:
        """StorageTool writes meta.properties; its presence means 'formatted, never again'."""
        return (self.data_dir / "meta.properties").exists()


def server_properties(
    data_dir: Path,
    port: int,
    controller_port: int,
    scram: ScramUser | None = None,
    *,
    node_id: int = 1,
    voters: str | None = None,
    brokers: int = 1,
) -> str:
    """server.properties of a combined broker+controller node on the loopback interface.

    Alone (`brokers` 1), replication factors are 1. In a cluster of `brokers` nodes (`voters`:
    `quorum_voters` of all of them), the internal topics (consumer offsets, transactions) and any
    topic created without a factor get the desk's (`TopicSettings.replication`: 3 and
    min.insync.replicas 2), so the group coordinator survives a broker too. Topics are created by
    `otcdesk topics create`, never implicitly, so a typo in a topic name fails loudly. With
    `scram`, the client listener is SASL_PLAINTEXT and takes only SCRAM-SHA-512 logins; the
    controller listener stays PLAINTEXT (loopback, only the nodes talk to it).
    """
    listener = "SASL_PLAINTEXT" if scram else "PLAINTEXT"
    factor, min_isr = TopicSettings().replication(brokers)
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters or f"{node_id}@127.0.0.1:{controller_port}",
        "listeners": f"{listener}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"{listener}://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": listener,
        "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{listener}:{listener}",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": str(factor),
        "transaction.state.log.replication.factor": str(factor),
        "transaction.state.log.min.isr": str(min_isr),
        "default.replication.factor": str(factor),
        "min.insync.replicas": str(min_isr),
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
    }
    if scram:
        props |= _scram_properties(listener, scram)
    header = "# Generated by `otcdesk stack up`; edits are overwritten on the next start.\n"
    return header + "".join(f"{key}={value}\n" for key, value in props.items())


def _scram_properties(listener: str, user: ScramUser) -> dict[str, str]:
    """The broker logs in as `user` too when it connects to itself over the inter-broker listener
    (transaction markers), hence the credentials in its JAAS line. Kafka leaves listener-prefixed
    settings out of its config dump (tests/integration/test_sasl.py checks the broker's logs)."""
    password = user.password.get_secret_value()
    return {
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
        f"listener.name.{listener.lower()}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": (
            f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user.name}" '
            f'password="{password}";'
        ),
    }


def new_cluster_id() -> str:
    """Kafka's own format (Uuid.randomUuid().toString()): url-safe base64 of 16 random bytes,
    without padding and never starting with '-' (it would read as a command-line flag)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def pom_kafka_version(pom: Path) -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text())
    if not match:
        raise StackError(f"{pom} has no <kafka.version> property")
    return match.group(1).strip()


def jar_version(libs: Path) -> str | None:
    """Version of the broker jar present in libs (kafka_2.13-X.Y.Z.jar), None when absent."""
    for jar in sorted(libs.glob("kafka_2.13-*.jar")):
        match = re.fullmatch(r"kafka_2\.13-(\d+\.\d+\.\d+)\.jar", jar.name)
        if match:
            return match.group(1)
    return None


def ensure_jars(layout: KafkaLayout) -> bool:
    """Resolve the broker jars from Maven Central once; True when they had to be downloaded.

    Maven copies into a scratch directory swapped in at the end, so an interrupted download or a
    version bump in the pom never leaves two Kafka versions on one classpath.
    """
    wanted = pom_kafka_version(layout.pom)
    if jar_version(layout.libs) == wanted:
        return False
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(f"Kafka jars missing and mvn not found: {INSTALL_HINT}")
    scratch = layout.libs.with_name("kafka-libs.partial")
    shutil.rmtree(scratch, ignore_errors=True)
    cmd = [mvn, "-q", "-B", "-f", str(layout.pom), "dependency:copy-dependencies", f"-DoutputDirectory={scratch}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or jar_version(scratch) != wanted:
        last = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no output"]
        raise StackError(f"mvn could not resolve Kafka {wanted} from Maven Central: {last[0]}")
    shutil.rmtree(layout.libs, ignore_errors=True)
    scratch.rename(layout.libs)
    return True


def find_java() -> str:
    """JAVA_HOME's java when set (what Kafka's own scripts do), else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise StackError(f"java not found: {INSTALL_HINT}")
    return java


def classpath(layout: KafkaLayout) -> str:
    return str(layout.libs / "*")  # the JVM expands 'dir/*' itself: no shell involved


def formatted_cluster_id(layout: KafkaLayout) -> str:
    """The cluster id a node's storage was formatted with (its meta.properties)."""
    for line in (layout.data_dir / "meta.properties").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return value.strip()
    raise StackError(f"{layout.data_dir / 'meta.properties'} has no cluster.id: `otcdesk stack down --wipe`")


def format_storage(layout: KafkaLayout, java: str, cluster_id: str, scram: ScramUser | None = None) -> None:
    """Kafka's own storage tool writes meta.properties and the bootstrap metadata checkpoint
    (with `scram`, the user's salted SCRAM credential too; the password itself is not stored)."""
    cmd = [
        java,
        "-cp",
        classpath(layout),
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(layout.server_properties),
    ]
    if scram:
        cmd += ["--add-scram", f"{SCRAM_MECHANISM}=[name={scram.name},password={scram.password.get_secret_value()}]"]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=layout.home)
    if result.returncode != 0:
        last = " | ".join((result.stdout + result.stderr).strip().splitlines()[-3:])
        if scram:  # the tool may echo its arguments back in an error
            last = last.replace(scram.password.get_secret_value(), str(scram.password))
        raise StackError(f"kafka storage format failed: {last}")


def broker_command(layout: KafkaLayout, java: str, heap: str) -> list[str]:
    """The JVM command line kafka-server-start.sh would build, minus the shell.

    The server.properties path in it is the marker that identifies this broker as ours.
    """
    return [
        java,
        *shlex.split(heap),
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={layout.logs}",
        f"-Dlog4j.configuration=file:{layout.log4j_properties}",
        "-cp",
        classpath(layout),
        "kafka.Kafka",
        str(layout.server_properties),
    ]


def write_configs(
    layout: KafkaLayout,
    port: int,
    controller_port: int,
    scram: ScramUser | None = None,
    *,
    voters: str | None = None,
    brokers: int = 1,
) -> None:
    """(Re)generate server.properties and log4j.properties: ports may differ from the last run."""
    layout.home.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.server_properties.write_text(
        server_properties(
            layout.data_dir, port, controller_port, scram, node_id=layout.node, voters=voters, brokers=brokers
        )
    )
    shutil.copyfile(layout.log4j_template, layout.log4j_properties)
