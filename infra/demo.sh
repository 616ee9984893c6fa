#!/usr/bin/env bash
# `make demo`: stack up, topics + migrations, then a seeded desk session end to end: the sim feed
# of four venues, all eight stages and the ClickHouse sink as supervised processes on stream time
# (as fast as the CPUs allow), a few hundred RFQs from simulated clients, every deal hedged,
# settled and reconciled.
# Then analytics from ClickHouse. Leaves the stack running; prints what to try next.
set -euo pipefail
cd "$(dirname "$0")/.."
OTCDESK=.venv/bin/otcdesk
RFQS=${DEMO_RFQS:-200}
SEED=${DEMO_SEED:-7}
started=$(date +%s)

$OTCDESK stack up
$OTCDESK init

echo
echo "== a desk session: $RFQS RFQs, seed $SEED (about 3 hours of market time, as fast as the CPUs allow) =="
$OTCDESK simulate --rfqs "$RFQS" --seed "$SEED" --sink

echo
echo "== from ClickHouse (the sink wrote every event of the session) =="
$OTCDESK sql "SELECT status, count() AS deals FROM (SELECT rfq_id, argMax(status, revision) AS status
              FROM otcdesk.recon FINAL GROUP BY rfq_id) GROUP BY status ORDER BY status"
$OTCDESK report hit_ratio
$OTCDESK report fill_quality
$OTCDESK report settlement_latency
$OTCDESK report breaks_over_time

cat <<TXT

Demo wall time: $(( $(date +%s) - started )) s. The stack is still running. Try next:
  .venv/bin/otcdesk run all --speed 60 --sink &      # the desk live (Ctrl-C or kill stops it)
  .venv/bin/otcdesk rfq publish --client ACME --symbol BTC/USD --side buy --qty 25 --follow
  .venv/bin/otcdesk lag --watch                      # consumer lag of every stage
  .venv/bin/otcdesk report blotter --since 1h        # or: otcdesk report list
  .venv/bin/otcdesk sql "SELECT venue, count(), sum(fee) FROM otcdesk.fills FINAL GROUP BY venue"
  .venv/bin/otcdesk simulate --rfqs $RFQS --seed $SEED   # again: the same summary and digest
  .venv/bin/otcdesk simulate --rfqs $RFQS --seed $SEED --speed 600   # paced to watch: the same again
Stop the stack with:  make stack-down
TXT
