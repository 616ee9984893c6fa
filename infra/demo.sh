#!/usr/bin/env bash
# `make demo`: stack up, topics + migrations, then the front office live for a minute:
# the sim feed of four venues, the aggregator, the quote engine, acceptance and simulated clients,
# with RFQs from the load generator. Leaves the stack running; prints what to try next.
set -euo pipefail
cd "$(dirname "$0")/.."
OTCDESK=.venv/bin/otcdesk
DEMO_SECONDS=${DEMO_SECONDS:-60}
RATE=${DEMO_RATE:-20}
logs=.otcdesk/logs/demo
mkdir -p "$logs"

$OTCDESK stack up
$OTCDESK init

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

$OTCDESK feed run --source sim --start-us now >"$logs/feed.log" 2>&1 & pids+=($!)
for stage in aggregator quote-engine acceptance client-sim; do
  $OTCDESK stage run "$stage" >"$logs/$stage.log" 2>&1 & pids+=($!)
done
echo "demo: feed and 4 stages started (logs in $logs); waiting for them to join their groups..."
sleep 15

$OTCDESK rfq publish --client ACME --symbol BTC/USD --side buy --qty 200 --follow --timeout 15 || true
$OTCDESK rfq load --rate "$RATE" --duration "$DEMO_SECONDS" --seed 7
sleep 8  # last quotes expire or trade

echo
$OTCDESK summary
$OTCDESK lag || true

cat <<'TXT'

The stack is still running. Try next:
  .venv/bin/otcdesk stage run aggregator &   # ... and quote-engine, acceptance (client-sim answers sim clients)
  .venv/bin/otcdesk feed run --source sim --start-us now &
  .venv/bin/otcdesk rfq publish --client MYFUND --symbol BTC/USD --side buy --qty 25 --follow
  .venv/bin/otcdesk quote accept <QUOTE_ID>
  .venv/bin/otcdesk lag --watch
  .venv/bin/otcdesk summary --json
Stop the stack with:  make stack-down
TXT
