#!/usr/bin/env bash
# The whole test suite: unit tests, then every integration test twice, once on the
# embedded SQLite store and once on a throwaway PostgreSQL (started by with-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== SQLite: unit and integration tests" >&2
cargo test --locked --all-targets

echo "== PostgreSQL: integration tests" >&2
HOOKRELAY_TEST_BACKEND=postgres scripts/with-postgres.sh \
    cargo test --locked --tests
