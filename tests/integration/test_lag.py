"""`otcdesk lag` on the real broker: the same CURRENT-OFFSET / LOG-END-OFFSET / LAG as Kafka's own
kafka-consumer-groups.sh for the same groups at the same moment, lag in seconds, exit codes and
Burrow's verdicts from sampled commits."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from consumers.lag import PROBE_GROUP, GroupLag, LagHistory, LagMonitor
from consumers.lag_rules import GroupStatus, PartitionStatus
from otcdesk.kafka import admin_client, client_config
from otcdesk.settings import Settings
from otcdesk.stack.kafka import KafkaLayout

pytestmark = pytest.mark.integration

JAVA_TOOL = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"  # Kafka 3.9 (was kafka.admin.*)
PER_PARTITION = (10, 20, 30)  # messages produced to partitions 0, 1, 2
AGE_S = 600.0  # the records carry a CreateTime this far in the past
EMPTY_COMMITS = {0: 10, 1: 5}  # caught up on p0, 15 behind on p1, nothing committed on p2
LIVE_COMMITS = {0: 4, 1: 20}  # 6 behind on p0, caught up on p1, nothing committed on p2 (assigned)

_COORDINATOR_NOT_READY = (
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
)

Row = tuple[str, str, str, str, str, str]  # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG


@pytest.fixture(scope="module")
def topic(stack: Settings) -> Iterator[str]:
    """A 3-partition topic with known keys per partition, every record AGE_S old."""
    name = f"lag-test-{uuid.uuid4().hex[:8]}"
    admin = admin_client(stack)
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(30)
    producer = Producer(client_config(stack) | {"enable.idempotence": True})
    old_ms = int((time.time() - AGE_S) * 1000)
    for partition, count in enumerate(PER_PARTITION):
        for i in range(count):
            producer.produce(
                name, key=f"p{partition}-k{i}".encode(), value=b"x", partition=partition, timestamp=old_ms + i
            )
    assert producer.flush(30) == 0
    yield name
    admin.delete_topics([name])[name].result(30)


def _commit(settings: Settings, group: str, topic: str, offsets: dict[int, int]) -> None:
    """A synchronous commit; retried while a fresh broker still loads __consumer_offsets."""
    consumer = Consumer(client_config(settings) | {"group.id": group, "enable.auto.commit": False})
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
                return
            except KafkaException as exc:
                if not exc.args[0].retriable() and exc.args[0].code() not in _COORDINATOR_NOT_READY:
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def empty_group(stack: Settings, topic: str) -> Iterator[str]:
    """Commits only, nobody consuming: state Empty, only the committed partitions are rows."""
    group = f"lag-test-empty-{uuid.uuid4().hex[:8]}"
    _commit(stack, group, topic, EMPTY_COMMITS)
    yield group
    _delete_group(stack, group)


@pytest.fixture(scope="module")
def live_group(stack: Settings, topic: str) -> Iterator[str]:
    """One live member owning all three partitions, commits on two: p2 is assigned, not committed."""
    group = f"lag-test-live-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        client_config(stack) | {"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "latest"}
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    while len(consumer.assignment()) < 3 and time.monotonic() < deadline:
        consumer.poll(0.2)
    assert len(consumer.assignment()) == 3, "the member never got its assignment"
    consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in LIVE_COMMITS.items()], asynchronous=False)
    yield group
    consumer.close()
    _delete_group(stack, group)


def _delete_group(settings: Settings, group: str) -> None:
    """Leave no test group behind: `otcdesk lag --all` on this broker should show only real ones."""
    admin = admin_client(settings)  # keep a reference: a collected client never resolves its futures
    for future in admin.delete_consumer_groups([group], request_timeout=30).values():
        with contextlib.suppress(
            KafkaException
        ):  # already gone, or a member still leaving: offsets expire with the broker's retention
            future.result(timeout=60)


def java_describe(settings: Settings, group: str) -> list[Row]:
    """Rows of kafka-consumer-groups.sh --describe, the reference the monitor must equal."""
    libs = KafkaLayout(settings.state_dir, settings.repo_root).libs
    if shutil.which("java") is None or not list(libs.glob("kafka-tools-*.jar")):
        message = f"Kafka's tools jar or java missing (looked in {libs})"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    out = subprocess.run(
        [
            "java",
            "-cp",
            f"{libs}/*",
            JAVA_TOOL,
            "--bootstrap-server",
            settings.bootstrap,
            "--describe",
            "--group",
            group,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    rows = [tuple(line.split()[:6]) for line in out.splitlines() if line.startswith(group)]
    return sorted(rows, key=lambda r: (r[1], int(r[2])))


def ours(group: GroupLag) -> list[Row]:
    """Our rows printed the way the Java tool prints them."""

    def dash(v: int | None) -> str:
        return "-" if v is None else str(v)

    return [
        (group.group, p.topic, str(p.partition), dash(p.current_offset), dash(p.log_end_offset), dash(p.lag))
        for p in group.partitions
    ]


def snapshot(settings: Settings, group: str, history: LagHistory | None = None) -> GroupLag:
    (result,) = LagMonitor(settings, history or LagHistory()).snapshot([group])
    return result


def run_cli(settings: Settings, state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point with its own history file (the desk's is left alone)."""
    env = os.environ | {
        "OTCDESK_STACK": "external",
        "KAFKA_BOOTSTRAP": settings.bootstrap,
        "OTCDESK_STATE_DIR": str(state_dir),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-c", "from otcdesk.cli.main import main; main()", "lag", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


# -- offsets equal Kafka's tool ---------------------------------------------------------------


def test_empty_group_equals_kafka_consumer_groups_tool(stack: Settings, topic: str, empty_group: str) -> None:
    result = snapshot(stack, empty_group)
    expected = [(empty_group, topic, "0", "10", "10", "0"), (empty_group, topic, "1", "5", "20", "15")]
    assert ours(result) == expected
    assert java_describe(stack, empty_group) == expected
    assert (result.state, result.members) == ("Empty", 0)


def test_unassigned_uncommitted_partition_shows_dashes_like_the_tool(
    stack: Settings, topic: str, live_group: str
) -> None:
    result = snapshot(stack, live_group)
    expected = [
        (live_group, topic, "0", "4", "10", "6"),
        (live_group, topic, "1", "20", "20", "0"),
        (live_group, topic, "2", "-", "30", "-"),
    ]
    assert ours(result) == expected
    assert java_describe(stack, live_group) == expected
    assert (result.state, result.members) == ("Stable", 1)
    no_commit = result.partitions[2]
    assert no_commit.lag_seconds is None and no_commit.consumer_id is not None


# -- lag in seconds ---------------------------------------------------------------------------


def test_lag_seconds_is_the_age_of_the_record_at_the_committed_offset(stack: Settings, empty_group: str) -> None:
    caught_up, behind = snapshot(stack, empty_group).partitions
    assert caught_up.lag == 0 and caught_up.lag_seconds == 0.0
    assert behind.lag == 15 and behind.lag_seconds is not None
    assert AGE_S - 5 < behind.lag_seconds < AGE_S + 120  # the record at offset 5 is AGE_S old


def test_the_probe_neither_joins_nor_commits(stack: Settings, topic: str, empty_group: str) -> None:
    snapshot(stack, empty_group)
    admin = admin_client(stack)
    groups = {g.group_id for g in admin.list_consumer_groups().result(30).valid}
    assert PROBE_GROUP not in groups
    assert java_describe(stack, empty_group)[1][3] == "5"  # committed offset untouched


def test_groups_waiting_at_different_offsets_of_one_partition_each_get_an_age(
    stack: Settings, topic: str, empty_group: str
) -> None:
    other = f"lag-test-other-{uuid.uuid4().hex[:8]}"
    _commit(stack, other, topic, {1: 3})
    try:
        by_group = {g.group: g for g in LagMonitor(stack).snapshot([empty_group, other])}
    finally:
        _delete_group(stack, other)
    at_5 = by_group[empty_group].partitions[1]
    at_3 = by_group[other].partitions[0]
    assert (at_5.current_offset, at_3.current_offset) == (5, 3)
    assert at_5.lag_seconds is not None and at_3.lag_seconds is not None
    assert at_3.lag_seconds >= at_5.lag_seconds > AGE_S - 5  # offset 3 was produced 2 ms before 5


# -- statuses from sampled commits ------------------------------------------------------------


def test_empty_group_with_lag_is_stopped(stack: Settings, empty_group: str) -> None:
    assert snapshot(stack, empty_group).status is GroupStatus.STOPPED


def test_live_owner_repeating_one_offset_with_lag_is_stall(stack: Settings, live_group: str) -> None:
    history = LagHistory(min_gap_s=0.5)
    first = snapshot(stack, live_group, history)
    assert first.partitions[0].status is PartitionStatus.OK  # one sample: no trend yet
    time.sleep(0.6)
    second = snapshot(stack, live_group, history)
    assert second.partitions[0].status is PartitionStatus.STALL  # p0: offset 4, lag 6, owner alive
    assert second.partitions[1].status is PartitionStatus.OK  # p1: caught up
    assert second.status is GroupStatus.ERR


def test_committed_offset_going_back_is_rewind(stack: Settings, topic: str) -> None:
    group = f"lag-test-rewind-{uuid.uuid4().hex[:8]}"
    history = LagHistory(min_gap_s=3600)
    for offset in (5, 8, 3):
        _commit(stack, group, topic, {1: offset})
        result = snapshot(stack, group, history)
        time.sleep(0.05)
    assert result.partitions[0].status is PartitionStatus.REWIND
    assert result.status is GroupStatus.STOPPED  # no member and lag: STOPPED names the cause first
    _delete_group(stack, group)


# -- the command ------------------------------------------------------------------------------


def test_cli_json_and_exit_codes(
    stack: Settings, topic: str, empty_group: str, live_group: str, tmp_path: Path
) -> None:
    stopped = run_cli(stack, tmp_path, "--group", empty_group, "--json")
    assert stopped.returncode == 1, stopped.stderr
    (doc,) = json.loads(stopped.stdout)
    assert (doc["group"], doc["state"], doc["members"], doc["status"]) == (empty_group, "Empty", 0, "STOPPED")
    assert [(p["partition"], p["current_offset"], p["log_end_offset"], p["lag"]) for p in doc["partitions"]] == [
        (0, 10, 10, 0),
        (1, 5, 20, 15),
    ]
    assert (tmp_path / "lag-history.json").exists()

    live = run_cli(stack, tmp_path, "--group", live_group, "--json")
    assert live.returncode == 0, live.stderr
    (doc,) = json.loads(live.stdout)
    no_commit = doc["partitions"][2]
    assert (no_commit["current_offset"], no_commit["lag"], no_commit["lag_seconds"]) == (None, None, None)

    missing = run_cli(stack, tmp_path, "--group", f"lag-test-none-{uuid.uuid4().hex[:8]}", "--json")
    assert missing.returncode == 0 and json.loads(missing.stdout)[0]["status"] == "NOTFOUND"

    table = run_cli(stack, tmp_path, "--group", empty_group, "--group", live_group)
    assert table.returncode == 1 and "STOPPED" in table.stdout and "LOG-END-OFFSET" in table.stdout


def test_cli_unreachable_broker_is_one_line_exit_2(tmp_path: Path) -> None:
    env = os.environ | {
        "OTCDESK_STACK": "external",
        "KAFKA_BOOTSTRAP": "127.0.0.1:1",
        "OTCDESK_STATE_DIR": str(tmp_path),
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from otcdesk.cli.main import main; main()", "lag"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "127.0.0.1:1" in done.stderr


# -- a running desk ---------------------------------------------------------------------------


def test_running_desk_groups_equal_kafka_consumer_groups_tool(stack: Settings, tmp_path: Path) -> None:
    """Live stage processes (members, commits by faust): the monitor's rows are the tool's rows.

    The stages run with no feed and no load once the RFQs are consumed, so their offsets hold
    still while both read them: "the same moment" without racing a moving target.
    """
    from otcdesk.kafka import EventProducer
    from otcdesk.simulate import SessionPlan
    from tests.integration.desk import namespace, processes

    stages = ("aggregator", "quote-engine", "acceptance")
    with namespace(stack) as settings, processes(settings, {s: ("stage", "run", s) for s in stages}, tmp_path) as procs:
        with EventProducer(settings) as producer:
            for rfq in SessionPlan(seed=3, speed=1, rfqs=20).schedule(settings):
                producer.produce(rfq)
        groups = [settings.group(s) for s in stages]
        deadline = time.monotonic() + 90
        while True:
            assert all(p.poll() is None for p in procs.values()), "a stage died"
            results = LagMonitor(settings, LagHistory()).snapshot(groups)
            # every partition that holds records committed up to its end (an uncommitted one has
            # no lag figure yet: it is not "lag 0")
            settled = all(
                r.state == "Stable"
                and r.members == 1
                and r.partitions
                and r.total_lag == 0
                and all(p.lag is not None or p.log_end_offset == 0 for p in r.partitions)
                for r in results
            )
            if settled or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        assert settled, [(r.group, r.state, r.members, r.total_lag) for r in results]
        time.sleep(2.0)  # past faust's commit interval: nothing left to commit
        results = LagMonitor(settings, LagHistory()).snapshot(groups)
        for result in results:
            assert ours(result) == java_describe(settings, result.group), result.group
            assert (result.state, result.members) == ("Stable", 1)
