#!/usr/bin/env bash
# Runs runnel's whole test suite on a fresh machine: Rust tests (real rdkafka clients against a
# real broker), Python tests (confluent-kafka from PyPI, in a venv this script creates), Apache
# Kafka's Java client (its jars from PyPI) and librdkafka's own C test suite
# (tests/librdkafka/tests.list, built from the rdkafka-sys crate).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> from Debian: libssl-dev and pkg-config (the build), kcat, chromium, prometheus,"
echo "    rapidjson-dev and zlib1g-dev (the tests)"
./scripts/system_packages.sh

echo "==> building runnel and its tests"
cargo build --workspace --all-targets

echo "==> playwright-core from npm (tests/browser)"
(cd tests/browser && npm ci --no-audit --no-fund --silent)

echo "==> Python venv with confluent-kafka (.venv)"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt

echo "==> Python stream processors from PyPI, Faust and Quix Streams (.venv-processors)"
if [ ! -x .venv-processors/bin/python ]; then
    python3 -m venv .venv-processors
fi
.venv-processors/bin/python -m pip install --quiet --disable-pip-version-check -r tests/processors/requirements.txt

echo "==> Rust tests (the wire fuzzer runs for RUNNEL_FUZZ_SECS, 60 s here)"
RUNNEL_FUZZ_SECS="${RUNNEL_FUZZ_SECS:-60}" cargo test --workspace

echo "==> Python tests against runnel serve"
RUNNEL_BIN="$PWD/target/debug/runnel" .venv/bin/python -m pytest -q tests/python

echo "==> Apache Kafka's Java client (kafka-clients 3.9, from PyPI) against runnel serve"
./scripts/java_tests.sh

echo "==> librdkafka's own test suite (tests/librdkafka/tests.list) against runnel serve"
./scripts/librdkafka_tests.sh --jobs 6
