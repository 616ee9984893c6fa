"""Settlement of booked deals: address checks, confirmation policy, the per-leg state machine and
the planner that plays both legs of a trade over sim time (pure functions of their inputs)."""
