#!/usr/bin/env bash
# The whole test suite: unit tests, then every integration test twice, once on the
# embedded SQLite store and once on a throwaway PostgreSQL (started by with-postgres.sh).
# Installs what the tests need when it is missing (PostgreSQL, Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

# The dashboard's tests drive a real headless Chromium (tests/dashboard.rs).
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then
    echo "== Installing Debian's chromium and chromium-driver for the dashboard tests" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "test.sh: run as root, or install the 'chromium' and 'chromium-driver' packages first" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

echo "== SQLite: unit and integration tests" >&2
cargo test --locked --all-targets

echo "== PostgreSQL: integration tests" >&2
HOOKRELAY_TEST_BACKEND=postgres scripts/with-postgres.sh \
    cargo test --locked --tests
