"""The domains of the CLI's option values, checked while the command line is parsed.

Each factory returns a Typer callback (`typer.Option(..., callback=number(gt=0, le=DAY_S))`) that
gets the parsed value and refuses it with a `UserError` naming the option: one red line and exit
code 2 (otcdesk/cli/main.py), before the command starts any work. Typer's own parse errors (not
a number at all, an unknown option) keep click's usage box.

- numbers are finite and inside the range that makes sense for what they measure (`nan`, `inf`
  and `1e300` are refused where a float is parsed);
- whole numbers are inside their range (a seed is a non-negative 64-bit integer);
- ids follow `otcdesk.validation.id_problem`: 1..limit characters, no control character; lists
  of names (`--stages a,b`) take no control character either;
- a choice is one of a fixed set, case-insensitive.

Rules that belong to the desk rather than to the command line (RFQ fields, sessions, load plans)
stay where the Python API checks them too (`otcdesk.client.build_rfq`, `SessionPlan`, `LoadPlan`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar, get_args

import typer

from otcdesk.errors import UserError
from otcdesk.settings import Layout
from otcdesk.validation import control_char, id_problem

HOUR_S = 3_600.0
DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
YEAR_S = 365 * DAY_S
#: The fastest pacing of a sim clock (SessionPlan takes the same bound for `otcdesk simulate`).
MAX_SPEED = 10_000.0
MAX_SEED = 2**63 - 1
#: Kafka takes longer consumer group ids; one longer than a topic name may be (249) is a typo here.
MAX_GROUP_LEN = 249

T = TypeVar("T")
Check = Callable[[typer.CallbackParam, T], T]


def _name(param: typer.CallbackParam) -> str:
    """How the user spelt the parameter: the long option, or the argument's metavar."""
    longs = [opt for opt in param.opts if opt.startswith("--")]
    return longs[0] if longs else (param.opts[0] if param.opts[0].startswith("-") else param.opts[0].upper())


def _bound(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def _domain(gt: float | None, ge: float | None, le: float) -> str:
    if gt == 0:
        return f"a positive number up to {_bound(le)}"
    if gt is not None:
        return f"a number above {_bound(gt)} and up to {_bound(le)}"
    return f"a number from {_bound(ge)} to {_bound(le)}"  # type: ignore[arg-type]  # ge is set when gt is not


def number(*, le: float, gt: float | None = None, ge: float | None = None) -> Check[float | None]:
    """A finite float in (gt, le] or [ge, le]; None (an option left unset) passes."""
    if (gt is None) == (ge is None):
        raise ValueError("give exactly one lower bound, gt or ge")

    def check(param: typer.CallbackParam, value: float | None) -> float | None:
        if value is None:
            return None
        above = value > gt if gt is not None else value >= ge  # type: ignore[operator]  # one bound is set, see above
        if not (math.isfinite(value) and above and value <= le):
            raise UserError(f"{_name(param)} must be {_domain(gt, ge, le)}, got {value:g}")
        return value

    return check


def whole(*, ge: int, le: int) -> Check[int | None]:
    """An int in [ge, le]; None (an option left unset) passes."""

    def check(param: typer.CallbackParam, value: int | None) -> int | None:
        if value is not None and not ge <= value <= le:
            shown = f"{value}" if abs(value) < 10**30 else f"{str(value)[:12]}... ({len(str(value))} digits)"
            raise UserError(f"{_name(param)} must be a whole number in [{ge}, {le}], got {shown}")
        return value

    return check


def identifier(limit: int) -> Check[str | None]:
    """An id of 1..limit characters without control characters (a list option: each of them)."""

    def one(param: typer.CallbackParam, value: str) -> None:
        problem = id_problem(value, limit)
        if problem is not None:
            raise UserError(f"{_name(param)} {problem}, got {value!r:.60}")

    def check(param: typer.CallbackParam, value: str | Sequence[str] | None) -> str | Sequence[str] | None:
        for item in [value] if isinstance(value, str) else value or ():
            one(param, item)
        return value

    return check  # type: ignore[return-value]  # a list option's callback gets and returns the list


def names() -> Check[str | None]:
    """Comma separated names (stages, symbols, venues, clients) without control characters; which
    names exist is the command's check, which echoes unknown ones."""

    def check(param: typer.CallbackParam, value: str | None) -> str | None:
        bad = control_char(value) if value else None
        if bad is not None:
            raise UserError(f"{_name(param)} must not contain control characters (found {bad})")
        return value

    return check


def choice(*allowed: str) -> Check[str | None]:
    """One of `allowed` (case-insensitive, returned lower-case); None or "" (unset) passes."""

    def check(param: typer.CallbackParam, value: str | None) -> str | None:
        if not value:
            return value
        if value.strip().lower() not in allowed:
            raise UserError(f"{_name(param)} must be one of {', '.join(allowed)}, got {value!r:.60}")
        return value.strip().lower()

    return check


SEED = whole(ge=0, le=MAX_SEED)
PORT = whole(ge=0, le=65535)
METRICS_PORT_HELP = (
    "Serve Prometheus /metrics on this port (host: settings metrics.host); 0 or unset: off. "
    "A port in use: one warning line, no metrics."
)
LAYOUT = choice(*get_args(Layout))
SPEED = number(gt=0, le=MAX_SPEED)
