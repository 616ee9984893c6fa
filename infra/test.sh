#!/usr/bin/env bash
# `make test`: lint (infra/lint.sh), then every test against the real local stack (Kafka broker +
# ClickHouse server). A lint finding fails it before the stack is touched.
# Starts the stack if it is not running, and stops it afterwards only if this script started it.
# Returns pytest's status; "no tests collected" (pytest exit 5) counts as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
OTCDESK=.venv/bin/otcdesk

bash infra/lint.sh || { echo "test: lint failed (see above; make lint runs it alone)"; exit 1; }

started_here=0
if ! $OTCDESK stack status >/dev/null 2>&1; then
  $OTCDESK stack up || { echo "test: the local stack did not start (see above)"; exit 1; }
  started_here=1
fi
$OTCDESK init || { echo "test: topics/migrations failed (see above)"; [ $started_here = 1 ] && $OTCDESK stack down; exit 1; }

.venv/bin/python -m pytest "$@"
rc=$?
[ $rc -eq 5 ] && { echo "test: pytest collected no tests: that is a failure"; rc=1; }

if [ $started_here = 1 ]; then $OTCDESK stack down || true; fi
exit $rc
