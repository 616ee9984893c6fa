#!/usr/bin/env bash
# `make test`: lint (infra/lint.sh), then every test against the real local stack (Kafka broker +
# ClickHouse server). A lint finding fails it before the stack is touched.
# Starts the stack if it is not running, and stops it afterwards only if this script started it.
# pytest runs three times (phases, tests/conftest.py): first the tests that share the stack, in
# $OTCDESK_TEST_WORKERS (default 4) pytest-xdist workers side by side; then the `exclusive` ones
# (a CPU hog, wall-clock windows) one at a time at normal priority, and beside them the
# `background` ones (CPU only: chdb SQL, modules so marked) in two workers at the idle
# scheduling class, which gives them only the CPU the exclusive tests leave idle. Their output
# follows the exclusive run's.
# Arguments go to every run (`bash infra/test.sh tests/unit -q`; `-n 1` makes the first serial);
# a phase they leave empty is fine.
# Fails if any phase fails, or if none collected a test (pytest exit 5 each time).
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
PYTEST=(.venv/bin/python -m pytest)
# The idle class where the kernel offers it (Linux), the lowest nice value elsewhere.
if chrt --idle 0 true 2>/dev/null; then IDLE=(chrt --idle 0); else IDLE=(nice -n 19); fi

echo "test: phase 1: the tests that share the stack, $WORKERS workers"
"${PYTEST[@]}" -n "$WORKERS" --dist loadgroup --no-loadscope-reorder --phase shared "$@"
shared=$?
case $shared in
  2|3|4) echo "test: phase 1 was interrupted or misused (pytest exit $shared): phase 2 not run"
         exclusive=$shared; background=$shared ;;
  *) background_log=$(mktemp)
     "${IDLE[@]}" "${PYTEST[@]}" -n 2 --dist loadgroup --no-loadscope-reorder --phase background "$@" \
       >"$background_log" 2>&1 &
     background_pid=$!
     echo "test: phase 2: the exclusive tests, alone at normal priority (the background tests beside them: ${IDLE[*]})"
     "${PYTEST[@]}" --phase exclusive "$@" -n 0  # one at a time, whatever -n the arguments give
     exclusive=$?
     wait $background_pid
     background=$?
     echo "test: phase 2: the background tests (CPU only), run beside the exclusive ones"
     cat "$background_log"; rm -f "$background_log" ;;
esac
if [ $shared -eq 5 ] && [ $exclusive -eq 5 ] && [ $background -eq 5 ]; then
  echo "test: pytest collected no tests: that is a failure"; rc=1
else
  [ $shared -eq 5 ] && shared=0
  [ $exclusive -eq 5 ] && exclusive=0
  [ $background -eq 5 ] && background=0
  rc=$(( shared != 0 ? shared : (exclusive != 0 ? exclusive : background) ))
  echo "test: phase 1 exit $shared, phase 2 exit $exclusive (exclusive) and $background (background)"
fi

if [ $started_here = 1 ]; then $OTCDESK stack down || true; fi
exit $rc
