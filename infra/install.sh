#!/usr/bin/env bash
# Installs what otcdesk needs on a fresh Debian/Ubuntu machine, idempotently (a second run only
# checks): Debian packages (Java 17, Maven, ClickHouse server+client, kcat, Chromium and its
# WebDriver for the web page's browser tests), the Python venv with
# the project and its test extras, and the Apache Kafka jars from Maven Central.
# Used by .ci/run and make; works from a fresh clone in any directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${OTCDESK_STATE_DIR:-$ROOT/.otcdesk}"
VENV="$ROOT/.venv"
say() { printf 'install: %s\n' "$*"; }

# -- 1. Debian packages ----------------------------------------------------------------------
# Checked by command, not by package name, so a JDK or ClickHouse installed another way counts.
java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local major
  major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)"
  [ -n "$major" ] && [ "$major" -ge 17 ]
}
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing=()
java_ok || missing+=(openjdk-17-jre-headless)
have mvn || missing+=(maven)
have clickhouse-server || have clickhouse || missing+=(clickhouse-server)
have clickhouse-client || have clickhouse || missing+=(clickhouse-client)
have kcat || missing+=(kcat)
have chromium || missing+=(chromium)
have chromedriver || missing+=(chromium-driver)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || [ -x "$VENV/bin/python" ] || missing+=(python3-venv)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}"
    say "install them as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  fi
  say "apt-get install ${missing[*]}"
  # The stack runs its own ClickHouse from a project-local config: keep the package's system
  # service from starting (it would take ports 9000/8123). policy-rc.d is Debian's switch for it.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present (java 17+, maven, clickhouse-server, clickhouse-client, kcat, chromium, chromium-driver)"
fi

# -- 2. Python venv ----------------------------------------------------------------------------
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { say "Python 3.11+ needed, found $(python3 --version 2>&1)"; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
  say "creating venv $VENV"
  python3 -m venv "$VENV"
fi
# Reinstall only when pyproject.toml changed since the last successful install.
MARKER="$VENV/.otcdesk-pyproject.sha256"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ "$(cat "$MARKER" 2>/dev/null)" = "$want" ]; then
  say "venv up to date"
else
  say "pip install -e '.[test]' into $VENV"
  (cd "$ROOT" && "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[test]')
  echo "$want" > "$MARKER"
fi

# -- 3. Kafka jars -----------------------------------------------------------------------------
POM="$ROOT/infra/kafka/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
LIBS="$STATE_DIR/kafka-libs"
if [ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]; then
  say "Kafka $KAFKA_VERSION jars present in $LIBS"
else
  say "resolving Kafka $KAFKA_VERSION from Maven Central into $LIBS"
  # Into a scratch directory swapped in at the end: never two Kafka versions on one classpath.
  rm -rf "$LIBS.partial"
  # Output kept for failures only: even with -q -B, Maven 3.8 prints bare colour-reset codes.
  mvn_log="$(mktemp)"
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIBS.partial" >"$mvn_log" 2>&1; then
    cat "$mvn_log"; rm -f "$mvn_log"
    say "mvn failed: Maven Central must be reachable once to fetch the Kafka jars"
    exit 1
  fi
  rm -f "$mvn_log"
  rm -rf "$LIBS"
  mv "$LIBS.partial" "$LIBS"
fi
say "done: start the stack with  $VENV/bin/otcdesk stack up"
