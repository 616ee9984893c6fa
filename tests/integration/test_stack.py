"""The stack the desk runs on answers like a real Kafka and a real ClickHouse."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException
from confluent_kafka.admin import AdminClient

from otcdesk.kafka import client_config
from otcdesk.settings import Settings
from otcdesk.stack import stack_for

pytestmark = pytest.mark.integration

READONLY_ERROR = 164  # ClickHouse's READONLY error code, the same on 18.16 and today


def _client(settings: Settings, user: str | None = None) -> Client:
    ep = settings.clickhouse
    return Client(
        host=ep.host,
        port=ep.port,
        user=user or ep.user,
        password="" if user else ep.password.get_secret_value(),
        database=ep.database,
    )


def test_both_components_are_healthy(stack: Settings) -> None:
    rows = {row.component: row for row in stack_for(stack).status()}
    assert set(rows) == {"kafka", "clickhouse"}
    assert all(row.healthy for row in rows.values()), rows


def test_status_json_from_the_cli(stack: Settings) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "otcdesk.cli.main", "stack", "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = {row["component"]: row for row in json.loads(out.stdout)}
    assert rows["kafka"]["healthy"] and rows["clickhouse"]["healthy"]
    assert rows["kafka"]["address"] == stack.bootstrap


def test_kafka_answers_metadata_with_its_broker(stack: Settings) -> None:
    metadata = AdminClient(client_config(stack)).list_topics(timeout=10)
    assert metadata.brokers
    assert metadata.cluster_id


def test_clickhouse_answers_with_its_version(stack: Settings) -> None:
    client = _client(stack)
    try:
        version = client.execute("SELECT version()")[0][0]
        assert client.execute("SELECT 1") == [(1,)]
    finally:
        client.disconnect()
    if stack.stack == "local":
        assert version.startswith("18.16"), version  # Debian's package: the oldest SQL we support


def test_read_only_user_can_select_but_not_create(stack: Settings) -> None:
    client = _client(stack, user="otcdesk_ro")
    try:
        assert client.execute("SELECT count() FROM system.one") == [(1,)]
        with pytest.raises(ServerException) as err:
            client.execute("CREATE TABLE ro_must_fail (x UInt8) ENGINE = Memory")
        assert err.value.code == READONLY_ERROR
    finally:
        client.disconnect()


def test_read_only_user_runs_with_the_desks_limits(stack: Settings) -> None:
    """The server's profile of otcdesk_ro is the one otcdesk/db/read_only.py describes (the local
    stack renders it into users.xml; a running server reloads it at `stack up`)."""
    profile = stack.read_only.profile()
    client = _client(stack, user="otcdesk_ro")
    try:
        rows = client.execute(
            "SELECT name, value FROM system.settings WHERE name IN %(names)s", {"names": tuple(profile)}
        )
    finally:
        client.disconnect()
    assert dict(rows) == profile


LOCAL_ONLY = pytest.mark.skipif(Settings().stack != "local", reason="docker/external stacks are not started by otcdesk")


@LOCAL_ONLY
def test_clickhouse_admin_takes_only_the_password_kept_owner_only_in_stack_json(stack: Settings) -> None:
    path = stack.state_dir / "stack.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = json.loads(path.read_text())["clickhouse_password"]
    assert len(password) >= 43 and stack.clickhouse.password.get_secret_value() == password
    client = _client(stack, user="default")  # no password
    try:
        with pytest.raises(ServerException) as err:
            client.execute("SELECT 1")
        assert err.value.code in (193, 194, 516), err.value  # wrong or missing password, auth failed
    finally:
        client.disconnect()


@LOCAL_ONLY
def test_up_again_is_a_no_op(stack: Settings) -> None:
    lines: list[str] = []
    before = {row.component: row.pid for row in stack_for(stack).status()}
    after = {row.component: row.pid for row in stack_for(stack, lines.append).up()}
    assert after == before
    assert sorted(lines) == sorted(f"{name} already running (pid {pid})" for name, pid in before.items())


@LOCAL_ONLY
def test_stack_json_tells_clients_where_the_stack_listens(stack: Settings) -> None:
    state = json.loads((stack.state_dir / "stack.json").read_text())
    assert state["kafka_bootstrap"] == stack.bootstrap
    assert state["clickhouse_url"].endswith(f"@127.0.0.1:{stack.clickhouse.port}/otcdesk")
    assert state["versions"]["kafka"] == "3.9.2"


@LOCAL_ONLY
@pytest.mark.timeout(600)
def test_three_brokers_in_a_state_dir_of_their_own(tmp_path) -> None:
    """`stack up --brokers 3` on a scratch state dir and free ports (the shared stack is untouched):
    three nodes of one cluster, bootstrap listing all three, topics replicated 3 / min.insync 2,
    `up` again keeps them, `down --wipe` stops every node."""
    from otcdesk.chaos import leaders
    from otcdesk.stack.ports import ephemeral_port

    env = {
        **os.environ,
        "OTCDESK_STATE_DIR": str(tmp_path),
        "OTCDESK_LOCAL__KAFKA_PORT": str(ephemeral_port()),
        "OTCDESK_LOCAL__KAFKA_CONTROLLER_PORT": str(ephemeral_port()),
        "OTCDESK_LOCAL__CLICKHOUSE_NATIVE_PORT": str(ephemeral_port()),
        "OTCDESK_LOCAL__CLICKHOUSE_HTTP_PORT": str(ephemeral_port()),
    }
    env.pop("OTCDESK_LOCAL__BROKERS", None)

    def otcdesk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "otcdesk.cli.main", *args], env=env, capture_output=True, text=True, timeout=400
        )

    try:
        up = otcdesk("stack", "up", "--brokers", "3")
        assert up.returncode == 0, up.stdout + up.stderr
        rows = {row["component"]: row for row in json.loads(otcdesk("stack", "status", "--json").stdout)}
        assert list(rows) == ["kafka", "kafka-2", "kafka-3", "clickhouse"] and all(r["healthy"] for r in rows.values())
        state = json.loads((tmp_path / "stack.json").read_text())
        assert state["brokers"] == 3
        assert state["kafka_bootstrap"] == ",".join(rows[n]["address"] for n in ("kafka", "kafka-2", "kafka-3"))
        settings = Settings(state_dir=tmp_path)
        assert settings.bootstrap == state["kafka_bootstrap"]
        assert len(AdminClient(client_config(settings)).list_topics(timeout=10).brokers) == 3
        init = otcdesk("topics", "create")
        assert init.returncode == 0, init.stdout + init.stderr
        assert leaders.replication_of(leaders.admin(settings), "rfq") == (3, 2)
        again = otcdesk("stack", "up")  # without --brokers: the size of its data
        assert again.returncode == 0 and again.stdout.count("already running") == 4, again.stdout + again.stderr
        refused = otcdesk("stack", "up", "--brokers", "1")
        assert refused.returncode != 0 and "--wipe" in refused.stdout + refused.stderr
    finally:
        down = otcdesk("stack", "down", "--wipe")
    assert down.returncode == 0, down.stderr
    assert down.stdout.count("stopped") + down.stdout.count("killed") == 4, down.stdout
    assert not (tmp_path / "kafka-3").exists()
