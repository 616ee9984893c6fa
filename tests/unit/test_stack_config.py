"""The local stack's generated configuration and port choice, without starting anything."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pydantic import SecretStr

from otcdesk.db.read_only import ReadOnlyLimits
from otcdesk.settings import LocalStackSettings, Settings
from otcdesk.stack import clickhouse, kafka, processes
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
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr"):
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
    for element in ("path", "tmp_path", "user_files_path", "format_schema_path", "users_config",
                    "logger/log", "logger/errorlog"):
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
    is_free = lambda port: free.get(port, False)  # noqa: E731
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
