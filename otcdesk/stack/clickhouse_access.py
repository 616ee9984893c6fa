"""Who may do what on a ClickHouse server the stack starts (local stack and throwaway servers).

Two users exist (infra/clickhouse/users.xml.tmpl): `default`, the desk's own writer and admin
(sink, migrations, reports), whose password is generated once per state directory and kept in
its state file (`stack.json`, mode 0600; users.xml holds only its SHA-256); and `otcdesk_ro`, the
user of `otcdesk sql`, with the read-only profile's limits (otcdesk/db/read_only.py).

ClickHouse 18.16 has no parser depth limit. Its parser recurses once per nesting level of the
query text and uses about 8.9 KiB of the thread's stack per level: `SELECT ((((...` crashes the
whole server at 944 levels (951 bytes) with the default 8 MiB thread stack, at 7,552 levels with
64 MiB. Threads get the process's stack limit (RLIMIT_STACK), and max_query_size bounds the
nesting (one level per byte at most), so the server is started with a stack limit of
`STACK_MARGIN` times what a query of max_query_size bytes can use.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from otcdesk.db.read_only import ReadOnlyLimits

#: Measured on 18.16.1: 8 MiB of thread stack / 940 levels of `(` (the deepest recursion per byte found).
PARSER_STACK_BYTES_PER_LEVEL = 9 * 1024
STACK_MARGIN = 3
MIN_THREAD_STACK_BYTES = 8 * 1024 * 1024  # Linux's usual default: never below it


def new_password() -> str:
    """A fresh admin password: 43 URL-safe characters (256 random bits), fine inside a URL."""
    return secrets.token_urlsafe(32)


def admin_password(state: dict[str, object]) -> str:
    """The admin password recorded in a state mapping, generated (and recorded) on first use."""
    if not state.get("clickhouse_password"):
        state["clickhouse_password"] = new_password()
    return str(state["clickhouse_password"])


def thread_stack_bytes(limits: ReadOnlyLimits) -> int:
    """Stack limit for the server: STACK_MARGIN times the deepest parse a query of
    max_query_size bytes can need, rounded up to a power of two."""
    needed = limits.max_query_size_bytes * PARSER_STACK_BYTES_PER_LEVEL * STACK_MARGIN
    size = MIN_THREAD_STACK_BYTES
    while size < needed:
        size *= 2
    return size


@dataclass(frozen=True)
class ServerAccess:
    """The users.xml of one server: the admin's password and the read-only profile."""

    admin_password: str
    limits: ReadOnlyLimits

    def template_values(self) -> dict[str, str]:
        sha256 = hashlib.sha256(self.admin_password.encode()).hexdigest()
        return {"admin_password_sha256": sha256} | {f"ro_{k}": v for k, v in self.limits.profile().items()}
