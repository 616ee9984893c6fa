"""The local stack's generated configuration and port choice, without starting anything."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pydantic import SecretStr

from otcdesk.db.read_only import ReadOnlyLimits
from otcdesk.errors import StackError
from otcdesk.settings import LocalStackSettings, Settings
from otcdesk.stack import clickhouse, cluster, kafka, processes
from otcdesk.stack.clickhouse_access import ServerAccess
from otcdesk.stack.local import LocalStack
from otcdesk.stack.ports import choose_port, is_port_free

REPO = Path(__file__).resolve().parents[2]


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_server_properties_is_a_single_node_kraft_combined_node(tmp_path: Path) -> None:
    props = _props(kafka.server_properties(tmp_path / "data", 19092, 19093))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path / "data")
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
    ):
        assert props[key] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"


def test_scram_server_properties_make_the_client_listener_sasl_only(tmp_path: Path) -> None:
    user = kafka.ScramUser("desk-admin", SecretStr("s3cret"))
    props = _props(kafka.server_properties(tmp_path / "data", 19092, 19093, scram=user))
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
    assert props["inter.broker.listener.name"] == "SASL_PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    jaas = props["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"]
    assert jaas.startswith("org.apache.kafka.common.security.scram.ScramLoginModule required ")
    assert 'username="desk-admin"' in jaas and jaas.endswith(";")
    assert "s3cret" not in repr(user)


def test_a_layout_can_run_another_stacks_jars(tmp_path: Path) -> None:
    assert kafka.KafkaLayout(tmp_path, REPO).libs == tmp_path / "kafka-libs"
    assert kafka.KafkaLayout(tmp_path / "x", REPO, jars=tmp_path / "kafka-libs").libs == tmp_path / "kafka-libs"


def test_cluster_id_has_kafkas_uuid_format() -> None:
    ids = {kafka.new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", cid) for cid in ids)


def test_kafka_version_comes_from_the_pom_and_the_jar_name(tmp_path: Path) -> None:
    assert kafka.pom_kafka_version(REPO / "infra/kafka/pom.xml") == "3.9.2"
    assert kafka.jar_version(tmp_path) is None
    (tmp_path / "kafka_2.13-3.9.2.jar").touch()
    (tmp_path / "kafka-clients-3.9.2.jar").touch()
    assert kafka.jar_version(tmp_path) == "3.9.2"


def test_broker_command_uses_the_heap_setting_and_the_generated_files(tmp_path: Path) -> None:
    layout = kafka.KafkaLayout(tmp_path, REPO)
    cmd = kafka.broker_command(layout, "/usr/bin/java", "-Xms256m -Xmx1g")
    assert cmd[:3] == ["/usr/bin/java", "-Xms256m", "-Xmx1g"]
    assert cmd[-2:] == ["kafka.Kafka", str(tmp_path / "kafka/server.properties")]
    assert f"-Dkafka.logs.dir={tmp_path / 'logs'}" in cmd
    assert cmd[cmd.index("-cp") + 1] == str(tmp_path / "kafka-libs" / "*")


def test_log4j_config_writes_kafka_log_under_the_logs_dir() -> None:
    text = (REPO / "infra/kafka/log4j.properties").read_text()
    assert "log4j.appender.file.File=${kafka.logs.dir}/kafka.log" in text


def test_clickhouse_config_listens_on_loopback_and_keeps_everything_in_the_state_dir(tmp_path: Path) -> None:
    layout = clickhouse.ClickHouseLayout(tmp_path, REPO)
    root = ET.fromstring(clickhouse.render_config(layout, 19000, 18123))
    assert root.tag == "yandex"  # ClickHouse 18.16's root element
    assert root.findtext("listen_host") == "127.0.0.1"
    assert root.findtext("tcp_port") == "19000"
    assert root.findtext("http_port") == "18123"
    assert root.find("interserver_http_port") is None
    for element in (
        "path",
        "tmp_path",
        "user_files_path",
        "format_schema_path",
        "users_config",
        "logger/log",
        "logger/errorlog",
    ):
        assert (root.findtext(element) or "").startswith(str(tmp_path)), element
    assert root.findtext("logger/log", "").endswith("logs/clickhouse-server.log")


def test_clickhouse_users_default_and_read_only_from_localhost_only() -> None:
    access = ServerAccess("s3cret", ReadOnlyLimits())
    root = ET.fromstring(clickhouse.render_users(clickhouse.ClickHouseLayout(Path("/x"), REPO), access))
    profiles = root.find("profiles")
    assert profiles is not None
    assert profiles.findtext("default/allow_experimental_low_cardinality_type") == "1"
    assert profiles.findtext("readonly/readonly") == "1"
    users = root.find("users")
    assert users is not None
    for name, profile in (("default", "default"), ("otcdesk_ro", "readonly")):
        user = users.find(name)
        assert user is not None, name
        assert user.findtext("profile") == profile
        assert sorted(ip.text or "" for ip in user.findall("networks/ip")) == ["127.0.0.1", "::1"]


def test_choose_port_prefers_default_then_previous_then_any() -> None:
    free = {9092: True, 19092: True}

    def is_free(port: int) -> bool:
        return free.get(port, False)

    assert choose_port([9092, 19092], set(), is_free, lambda: 40000) == 9092
    free[9092] = False
    assert choose_port([9092, 19092], set(), is_free, lambda: 40000) == 19092
    assert choose_port([9092, 19092], {19092}, is_free, lambda: 40000) == 40000
    assert choose_port([9092, None], set(), is_free, lambda: 40001) == 40001


def test_choose_port_never_hands_out_a_port_twice() -> None:
    picks = iter([40000, 40000, 40002])
    assert choose_port([9], {40000}, lambda _p: False, lambda: next(picks)) == 40002


def test_a_port_held_by_another_program_moves_and_is_recorded_for_clients(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        assert not is_port_free(taken)
        settings = Settings(state_dir=tmp_path, local=LocalStackSettings(kafka_port=taken))
        stack = LocalStack(settings)
        ports = stack._choose_ports({}, {"kafka": None, "clickhouse": None})
        assert ports["kafka"] != taken and len(set(ports.values())) == 4
        stack._write_state(stack._addresses(ports))
    assert settings.bootstrap == f"127.0.0.1:{ports['kafka']}"
    assert settings.clickhouse.port == ports["clickhouse_native"]
    assert settings.clickhouse.database == "otcdesk"


def test_a_running_component_keeps_its_recorded_ports(tmp_path: Path) -> None:
    stack = LocalStack(Settings(state_dir=tmp_path))
    previous = {"ports": {"kafka": 1, "kafka_controller": 2, "clickhouse_native": 3, "clickhouse_http": 4}}
    ports = stack._choose_ports(previous, {"kafka": 4242, "clickhouse": None})
    assert (ports["kafka"], ports["kafka_controller"]) == (1, 2)


def test_tail_reads_only_what_was_written_since_the_start_offset(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("old run\n")
    start = processes.size(log)
    with open(log, "a") as fh:
        fh.writelines(f"line {i}\n" for i in range(50))
    assert processes.tail(log, 3, start) == ["line 47", "line 48", "line 49"]
    assert processes.tail(log, 100, start)[0] == "line 0"
    assert processes.tail(tmp_path / "missing.log") == []


def test_a_process_is_ours_only_with_the_marker_in_its_command_line() -> None:
    import os

    assert processes.is_ours(os.getpid(), "python") or processes.is_ours(os.getpid(), "pytest")
    assert not processes.is_ours(os.getpid(), "/no/such/server.properties")
    assert not processes.is_ours(None, "python")


@pytest.mark.parametrize("kind", ["docker", "external"])
def test_unmanaged_stacks_do_not_start_anything(kind: str) -> None:
    from otcdesk.stack import stack_for
    from otcdesk.stack.unmanaged import UnmanagedStack

    assert isinstance(stack_for(Settings(stack=kind)), UnmanagedStack)


# -- a local cluster (`otcdesk stack up --brokers 3`) ----------------------------------------------


def test_cluster_nodes_are_voters_of_one_quorum_with_replicated_internal_topics(tmp_path: Path) -> None:
    nodes = [kafka.KafkaNode(n, 19090 + 2 * n, 19091 + 2 * n) for n in (1, 2, 3)]
    voters = kafka.quorum_voters(nodes)
    assert voters == "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    assert kafka.bootstrap(nodes) == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    props = _props(kafka.server_properties(tmp_path / "d2", 19094, 19095, node_id=2, voters=voters, brokers=3))
    assert props["node.id"] == "2" and props["controller.quorum.voters"] == voters
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19094"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "default.replication.factor",
    ):
        assert props[key] == "3", key
    assert props["transaction.state.log.min.isr"] == props["min.insync.replicas"] == "2"
    single = _props(kafka.server_properties(tmp_path / "d", 19092, 19093))
    assert single["default.replication.factor"] == single["min.insync.replicas"] == "1"


def test_node_n_of_a_cluster_has_its_own_home_logs_and_pid_but_the_same_jars(tmp_path: Path) -> None:
    one, two = kafka.KafkaLayout(tmp_path, REPO), kafka.KafkaLayout(tmp_path, REPO, node=2)
    assert (one.name, one.home, one.logs) == ("kafka", tmp_path / "kafka", tmp_path / "logs")
    assert (two.name, two.home, two.logs) == ("kafka-2", tmp_path / "kafka-2", tmp_path / "logs" / "kafka-2")
    assert one.libs == two.libs == tmp_path / "kafka-libs"
    stack = LocalStack(Settings(state_dir=tmp_path, local=LocalStackSettings(brokers=3)))
    assert list(stack.servers) == ["kafka", "kafka-2", "kafka-3", "clickhouse"]
    assert stack.servers["kafka-3"].pid_file == tmp_path / "kafka-3.pid"
    assert stack.servers["kafka-3"].marker == str(tmp_path / "kafka-3" / "server.properties")
    assert len({s.marker for s in stack.servers.values()}) == 4


def test_cluster_ports_step_by_two_from_the_single_nodes_and_bootstrap_lists_all(tmp_path: Path) -> None:
    defaults = cluster.default_ports(LocalStackSettings(), 3)
    assert {k: port for k, (port, _) in defaults.items()} == {
        "kafka": 9092,
        "kafka_controller": 9093,
        "kafka_2": 9094,
        "kafka_2_controller": 9095,
        "kafka_3": 9096,
        "kafka_3_controller": 9097,
    }
    assert {name for _, name in defaults.values()} == {"kafka", "kafka-2", "kafka-3"}
    stack = LocalStack(Settings(state_dir=tmp_path, local=LocalStackSettings(kafka_port=29092, brokers=3)))
    ports = {k: p for k, (p, _) in cluster.default_ports(stack.settings.local, 3).items()}
    ports |= {"clickhouse_native": 29000, "clickhouse_http": 28123}
    assert stack._addresses(ports)["kafka_bootstrap"] == "127.0.0.1:29092,127.0.0.1:29094,127.0.0.1:29096"


def test_the_stack_keeps_the_size_its_data_was_formatted_for(tmp_path: Path) -> None:
    for node in (1, 2, 3):
        layout = kafka.KafkaLayout(tmp_path, REPO, node=node)
        layout.data_dir.mkdir(parents=True)
        (layout.data_dir / "meta.properties").write_text("cluster.id=EQUl3PD7QgWY8j_lKw_XJw\nnode.id=1\n")
    assert cluster.size(Settings(state_dir=tmp_path)) == 3  # `stack up` and `down` without --brokers
    assert list(LocalStack(Settings(state_dir=tmp_path)).servers)[:3] == ["kafka", "kafka-2", "kafka-3"]
    assert kafka.formatted_cluster_id(kafka.KafkaLayout(tmp_path, REPO, node=3)) == "EQUl3PD7QgWY8j_lKw_XJw"
    cluster.check_size(Settings(state_dir=tmp_path, local=LocalStackSettings(brokers=3)))
    with pytest.raises(StackError, match=r"for 3 broker\(s\), not 1: .*--brokers 3.*--wipe"):
        cluster.check_size(Settings(state_dir=tmp_path, local=LocalStackSettings(brokers=1)))
    assert cluster.size(Settings(state_dir=tmp_path / "fresh")) == 1
    assert cluster.size(Settings(state_dir=tmp_path / "fresh", local=LocalStackSettings(brokers=3))) == 3


def test_brokers_is_odd_and_replication_follows_the_cluster() -> None:
    with pytest.raises(ValueError, match="brokers must be odd"):
        LocalStackSettings(brokers=2)
    topics = Settings().topics
    assert [topics.replication(n) for n in (1, 2, 3, 5)] == [(1, 1), (2, 1), (3, 2), (3, 2)]
    pinned = topics.model_copy(update={"replication_factor": 3, "min_insync_replicas": 3})
    assert pinned.replication(1) == (3, 3)  # a given factor is kept: creating the topic fails loudly
