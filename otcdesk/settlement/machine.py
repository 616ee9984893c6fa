"""The state machine of one settlement leg: an explicit transition table, checked on every step.

```
PENDING_INSTRUCTION -> WALLET_VERIFIED -> AWAITING_FUNDS (client pays)  -> IN_MEMPOOL | SETTLED (wire)
                                       -> SENT           (desk pays)    -> IN_MEMPOOL | SETTLED (wire)
IN_MEMPOOL -> CONFIRMING (n of N, n rising) -> SETTLED   (IN_MEMPOOL -> SETTLED when N = 1)
any non-terminal -> FAILED | TIMED_OUT (with a reason)
```

Modelled on custody platforms' status + sub-status (the reason) and on per-leg settlement
(one state and one tx hash per leg). SETTLED, FAILED and TIMED_OUT are terminal: a settled
transfer is never reopened here; a later reversal would be a new event for recon to flag.
Guards beyond the table: confirmations only rise while CONFIRMING, SETTLED needs the required
confirmations, and FAILED / TIMED_OUT need a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from otcdesk.events import SettlementState as S

_FAILURES = frozenset({S.FAILED, S.TIMED_OUT})
TERMINAL: frozenset[S] = frozenset({S.SETTLED}) | _FAILURES
TRANSITIONS: Mapping[S, frozenset[S]] = MappingProxyType(
    {
        S.PENDING_INSTRUCTION: frozenset({S.WALLET_VERIFIED}) | _FAILURES,
        S.WALLET_VERIFIED: frozenset({S.AWAITING_FUNDS, S.SENT}) | _FAILURES,
        S.AWAITING_FUNDS: frozenset({S.IN_MEMPOOL, S.SETTLED}) | _FAILURES,
        S.SENT: frozenset({S.IN_MEMPOOL, S.SETTLED}) | _FAILURES,
        S.IN_MEMPOOL: frozenset({S.CONFIRMING, S.SETTLED}) | _FAILURES,
        S.CONFIRMING: frozenset({S.CONFIRMING, S.SETTLED}) | _FAILURES,
        S.SETTLED: frozenset(),
        S.FAILED: frozenset(),
        S.TIMED_OUT: frozenset(),
    }
)


class IllegalTransition(ValueError):
    """A leg was asked to move where the table (or a guard) does not allow."""


@dataclass(frozen=True, slots=True)
class LegStatus:
    state: S = S.PENDING_INSTRUCTION
    confirmations: int = 0
    confirmations_required: int = 0
    reason: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


def can_transition(current: S, target: S) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def transition(
    status: LegStatus, target: S, *, confirmations: int | None = None, reason: str | None = None
) -> LegStatus:
    """The next status, or IllegalTransition."""
    if not can_transition(status.state, target):
        raise IllegalTransition(f"{status.state} -> {target} is not allowed")
    confs = status.confirmations if confirmations is None else confirmations
    if target is S.CONFIRMING and status.state is S.CONFIRMING and confs <= status.confirmations:
        raise IllegalTransition(f"confirmations must rise: {status.confirmations} -> {confs}")
    if target is S.CONFIRMING and not 0 < confs < max(status.confirmations_required, 1) + 1:
        raise IllegalTransition(f"confirmations {confs} outside 1..{status.confirmations_required}")
    if target is S.SETTLED and status.state in (S.IN_MEMPOOL, S.CONFIRMING) and confs < status.confirmations_required:
        raise IllegalTransition(f"settled with {confs} < {status.confirmations_required} confirmations")
    if target in _FAILURES and not reason:
        raise IllegalTransition(f"{target} needs a reason")
    return replace(status, state=target, confirmations=confs, reason=reason)
