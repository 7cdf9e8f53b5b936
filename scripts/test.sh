#!/usr/bin/env bash
# The whole test suite: unit tests, then every integration test twice, once on the
# embedded SQLite store and once on a throwaway PostgreSQL (started by with-postgres.sh).
# Installs what the tests need when it is missing (PostgreSQL, Chromium, aiosmtpd,
# openapi-spec-validator).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests drive for real: Chromium for the dashboard (tests/dashboard.rs)
# and aiosmtpd as the SMTP server for email notifications (tests/notifications.rs).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing+=(python3-aiosmtpd)
if [ ${#missing[@]} -gt 0 ]; then
    echo "== Installing ${missing[*]} with apt-get for the tests" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "test.sh: run as root, or install these Debian packages first: ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# A real OpenAPI validator checks the API's description (tests/openapi.rs), from PyPI.
# Debian's own Python refuses plain pip installs (PEP 668), hence the second try.
if ! python3 -c 'import openapi_spec_validator' 2>/dev/null; then
    echo "== Installing openapi-spec-validator with pip for the OpenAPI test" >&2
    pip_install=(python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator)
    "${pip_install[@]}" 2>/dev/null || "${pip_install[@]}" --break-system-packages
fi
HOOKRELAY_TEST_PYTHON=$(command -v python3)
export HOOKRELAY_TEST_PYTHON

echo "== SQLite: unit and integration tests" >&2
cargo test --locked --all-targets

echo "== PostgreSQL: integration tests" >&2
HOOKRELAY_TEST_BACKEND=postgres scripts/with-postgres.sh \
    cargo test --locked --tests
