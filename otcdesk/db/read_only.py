"""What one query of the read-only user `otcdesk_ro` (the user of `otcdesk sql`) may cost.

One settings section (`Settings.read_only`, `OTCDESK_READ_ONLY__*`) feeds both sides: the server's
`readonly` profile (`profile()`, rendered into the local server's users.xml and kept equal in
infra/clickhouse/compose-users.xml) and the CLI, which refuses an over-long or over-nested query
before sending it and names the limit that stopped a query (otcdesk/analytics/limit_errors.py).

`max_query_size_bytes` is also what keeps ClickHouse 18.16 up: its parser has no depth limit and
recurses once per nesting level, so the server's thread stack must hold the deepest query that
size allows (`otcdesk.stack.clickhouse_access.thread_stack_bytes`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReadOnlyLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_query_size_bytes: int = Field(
        8192,
        ge=256,
        le=65536,
        description=("longest query text; also bounds how deep a query can nest (one level per byte at most)"),
    )
    max_nesting_levels: int = Field(
        16, ge=1, description=("brackets nested deeper than this are refused by `otcdesk sql` before sending")
    )
    max_ast_depth: int = Field(500, ge=1, description="deepest syntax tree the server parses")
    max_ast_elements: int = Field(10_000, ge=1, description="syntax tree nodes, as written")
    max_expanded_ast_elements: int = Field(100_000, ge=1, description="syntax tree nodes after aliases and *")
    max_execution_time_s: int = Field(30, ge=1, description="the server stops a query running longer")
    max_result_rows: int = Field(1_000_000, ge=1, description="rows of a result (and of each subquery's)")
    max_result_bytes: int = Field(1_000_000_000, ge=1, description="uncompressed bytes of a result")
    max_memory_usage_bytes: int = Field(2_000_000_000, ge=1, description="memory of one query")
    max_memory_usage_for_user_bytes: int = Field(
        4_000_000_000, ge=1, description=("memory of all the read-only user's queries at once")
    )
    max_concurrent_queries_for_user: int = Field(8, ge=1)
    cancel_grace_s: float = Field(
        5.0,
        ge=0,
        description=("`otcdesk sql` cancels a query the server has not stopped this long after max_execution_time_s"),
    )

    def profile(self) -> dict[str, str]:
        """The server settings of the read-only profile, by ClickHouse setting name (18.16 and current)."""
        values: dict[str, object] = {
            "readonly": 1,
            "max_query_size": self.max_query_size_bytes,
            "max_ast_depth": self.max_ast_depth,
            "max_ast_elements": self.max_ast_elements,
            "max_expanded_ast_elements": self.max_expanded_ast_elements,
            "max_execution_time": self.max_execution_time_s,
            "timeout_overflow_mode": "throw",
            "max_result_rows": self.max_result_rows,
            "max_result_bytes": self.max_result_bytes,
            "result_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_usage_bytes,
            "max_memory_usage_for_user": self.max_memory_usage_for_user_bytes,
            "max_concurrent_queries_for_user": self.max_concurrent_queries_for_user,
        }
        return {name: str(value) for name, value in values.items()}
