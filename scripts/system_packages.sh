#!/usr/bin/env bash
# Installs what runnel's build and tests need from Debian, when it is missing: libssl-dev and
# pkg-config (librdkafka's SCRAM and TLS, built into the rdkafka crate), kcat (librdkafka 2.0),
# chromium (browser tests), prometheus (monitoring tests), rapidjson-dev and zlib1g-dev
# (librdkafka's own test suite).
set -euo pipefail
if ! command -v kcat >/dev/null || ! command -v chromium >/dev/null || ! command -v prometheus >/dev/null ||
    ! command -v pkg-config >/dev/null || [ ! -f /usr/include/openssl/ssl.h ] ||
    [ ! -f /usr/include/rapidjson/schema.h ] || [ ! -f /usr/include/zlib.h ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        libssl-dev pkg-config kcat chromium prometheus rapidjson-dev zlib1g-dev >/dev/null
fi
