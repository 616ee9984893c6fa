#!/usr/bin/env bash
# `make test`: lint (infra/lint.sh), then every test against the real local stack (Kafka broker +
# ClickHouse server). A lint finding fails it before the stack is touched.
# Starts the stack if it is not running, and stops it afterwards only if this script started it.
# pytest runs twice (phases, tests/conftest.py): every test not marked `exclusive`, in
# $OTCDESK_TEST_WORKERS (default 4) pytest-xdist workers side by side on the one stack; then the
# `exclusive` ones (a CPU hog, wall-clock windows), one at a time with nothing beside them.
# Arguments go to both runs (`bash infra/test.sh tests/unit -q`; `-n 1` makes the first serial);
# a phase they leave empty is fine.
# Fails if either phase fails, or if neither collected a test (pytest exit 5 twice).
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

WORKERS="${OTCDESK_TEST_WORKERS:-4}"
echo "test: phase 1: the tests that share the stack, $WORKERS workers"
.venv/bin/python -m pytest -n "$WORKERS" --dist loadgroup --no-loadscope-reorder --phase shared "$@"
shared=$?
case $shared in
  2|3|4) echo "test: phase 1 was interrupted or misused (pytest exit $shared): phase 2 not run"; exclusive=$shared ;;
  *) echo "test: phase 2: the exclusive tests, alone"
     .venv/bin/python -m pytest --phase exclusive "$@" -n 0  # alone, whatever -n the arguments give
     exclusive=$? ;;
esac
if [ $shared -eq 5 ] && [ $exclusive -eq 5 ]; then
  echo "test: pytest collected no tests: that is a failure"; rc=1
else
  [ $shared -eq 5 ] && shared=0
  [ $exclusive -eq 5 ] && exclusive=0
  rc=$(( shared != 0 ? shared : exclusive ))
  echo "test: phase 1 exit $shared, phase 2 exit $exclusive"
fi

if [ $started_here = 1 ]; then $OTCDESK stack down || true; fi
exit $rc
