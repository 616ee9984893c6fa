"""The stack the desk runs on (Kafka + ClickHouse): local processes, docker or external.

`stack_for(settings)` picks the implementation from `settings.stack`; `ensure_up(settings)` is
what test fixtures and `make demo` call before they need a broker and a database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from otcdesk.settings import Settings
from otcdesk.stack.health import ComponentStatus

__all__ = ["ComponentStatus", "Stack", "ensure_up", "stack_for"]


class Stack(Protocol):
    def up(self) -> list[ComponentStatus]: ...

    def down(self, wipe: bool = False) -> None: ...

    def status(self) -> list[ComponentStatus]: ...


def stack_for(settings: Settings, report: Callable[[str], None] | None = None) -> Stack:
    if settings.stack == "local":
        from otcdesk.stack.local import LocalStack

        return LocalStack(settings, report)
    from otcdesk.stack.unmanaged import UnmanagedStack

    return UnmanagedStack(settings, report)


def ensure_up(settings: Settings, report: Callable[[str], None] | None = None) -> Settings:
    """Start (local) or check (docker, external) the stack; raise StackError when it is not usable.

    Returns the settings unchanged: `settings.bootstrap` and `settings.clickhouse` already
    resolve the ports the local stack recorded.
    """
    stack_for(settings, report).up()
    return settings
