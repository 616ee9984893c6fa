"""The ClickHouse users the stack configures, without a server: the admin's password (generated,
kept owner-only, only its hash in users.xml), the read-only profile's limits (the same in the
local stack's users.xml and in the compose file) and the thread stack they need."""

from __future__ import annotations

import hashlib
import json
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pydantic import SecretStr

from otcdesk.db.read_only import ReadOnlyLimits
from otcdesk.settings import Settings
from otcdesk.stack import clickhouse, clickhouse_access, state_file
from otcdesk.stack.clickhouse_access import ServerAccess

REPO = Path(__file__).resolve().parents[2]
LIMITS = ReadOnlyLimits()


def _users(access: ServerAccess) -> ET.Element:
    return ET.fromstring(clickhouse.render_users(clickhouse.ClickHouseLayout(Path("/x"), REPO), access))


def test_users_xml_holds_the_admins_password_hash_never_the_password() -> None:
    password = clickhouse_access.new_password()
    text = clickhouse.render_users(clickhouse.ClickHouseLayout(Path("/x"), REPO), ServerAccess(password, LIMITS))
    root = ET.fromstring(text)
    assert password not in text
    assert root.findtext("users/default/password_sha256_hex") == hashlib.sha256(password.encode()).hexdigest()
    assert root.find("users/default/password") is None
    assert root.findtext("users/otcdesk_ro/password") in ("", None)  # loopback only, the limits below


def test_the_read_only_profile_has_every_limit_in_both_configs() -> None:
    local = _users(ServerAccess("x", LIMITS)).find("profiles/readonly")
    compose = ET.parse(REPO / "infra/clickhouse/compose-users.xml").getroot().find("profiles/otcdesk_readonly")
    assert local is not None and compose is not None
    profile = LIMITS.profile()
    assert {
        "readonly",
        "max_query_size",
        "max_ast_depth",
        "max_ast_elements",
        "max_expanded_ast_elements",
        "max_execution_time",
        "timeout_overflow_mode",
        "max_result_rows",
        "result_overflow_mode",
        "max_memory_usage",
    } <= set(profile)
    assert profile["readonly"] == "1" and profile["timeout_overflow_mode"] == profile["result_overflow_mode"] == "throw"
    assert {name: local.findtext(name) for name in profile} == profile
    assert {child.tag: child.text for child in compose} == profile


def test_limits_from_the_environment_reach_the_server_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTCDESK_READ_ONLY__MAX_EXECUTION_TIME_S", "5")
    limits = Settings().read_only
    assert limits.max_execution_time_s == 5
    assert _users(ServerAccess("x", limits)).findtext("profiles/readonly/max_execution_time") == "5"


def test_the_thread_stack_holds_three_times_the_deepest_query_the_size_allows() -> None:
    stack = clickhouse_access.thread_stack_bytes(LIMITS)
    deepest = LIMITS.max_query_size_bytes * clickhouse_access.PARSER_STACK_BYTES_PER_LEVEL
    assert stack >= 3 * deepest and stack & (stack - 1) == 0
    assert stack == 256 * 1024 * 1024  # 8 KiB of query -> 72 MiB of parser stack at most
    small = clickhouse_access.thread_stack_bytes(ReadOnlyLimits(max_query_size_bytes=256))
    assert small == clickhouse_access.MIN_THREAD_STACK_BYTES
    command = clickhouse.server_command(clickhouse.ClickHouseLayout(Path("/x"), REPO), LIMITS)
    assert command[:3] == ["/bin/sh", "-c", f'ulimit -s {stack // 1024} && exec "$@"']
    assert command[-1] == "--config-file=/x/clickhouse/etc/config.xml"


def test_the_state_file_is_owner_only_and_keeps_one_password(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text("{}")
    path.chmod(0o644)  # written by an older otcdesk
    state = state_file.read(path)
    password = clickhouse_access.admin_password(state)
    state_file.write(path, state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(password) >= 43 and clickhouse_access.admin_password(state_file.read(path)) == password
    assert clickhouse_access.new_password() != password


def test_users_xml_is_owner_only_and_rewritten_only_when_it_changes(tmp_path: Path) -> None:
    layout = clickhouse.ClickHouseLayout(tmp_path, REPO)
    layout.etc.mkdir(parents=True)
    assert clickhouse.write_users(layout, ServerAccess("a", LIMITS))
    assert stat.S_IMODE(layout.users.stat().st_mode) == 0o600
    assert not clickhouse.write_users(layout, ServerAccess("a", LIMITS))
    assert clickhouse.write_users(layout, ServerAccess("b", LIMITS))


def test_desk_clients_take_the_password_env_then_url_then_stack_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "stack.json").write_text(
        json.dumps(
            {"clickhouse_url": "clickhouse://default@127.0.0.1:19000/otcdesk", "clickhouse_password": "from-state"}
        )
    )
    local = Settings(state_dir=tmp_path, stack="local")
    assert (local.clickhouse.port, local.clickhouse.password.get_secret_value()) == (19000, "from-state")
    assert "from-state" not in repr(local.clickhouse) + local.clickhouse.model_dump_json()
    external = Settings(stack="external", clickhouse_url="clickhouse://default:a%2Fb@db:9000/otcdesk")
    assert external.clickhouse.password.get_secret_value() == "a/b"
    monkeypatch.setenv("OTCDESK_CLICKHOUSE_PASSWORD", "from-env")
    for settings in (
        Settings(state_dir=tmp_path, stack="local"),
        Settings(stack="external", clickhouse_url="clickhouse://default:x@db:9000/otcdesk"),
    ):
        assert settings.clickhouse.password == SecretStr("from-env")
