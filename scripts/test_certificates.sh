#!/usr/bin/env bash
# Makes throwaway TLS material for tests and benchmarks in DIR with openssl: an authority
# (ca.pem), a broker certificate for localhost and 127.0.0.1 (broker.pem, broker.key, and
# broker-keystore.pem: key and chain in one file, Kafka's PEM keystore), a client certificate
# the authority signs for CN=alice,O=example (alice.pem, alice.key, alice-keystore.pem) and a
# self-signed one no authority vouches for (mallory.pem, mallory.key). EC P-256 keys in PKCS#8,
# valid two days.
# Usage: scripts/test_certificates.sh DIR
set -euo pipefail
dir="${1:?usage: scripts/test_certificates.sh DIR}"
mkdir -p "$dir"
cd "$dir"
key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${key[@]}" -days 2 -subj "/CN=runnel test authority" -keyout ca.key -out ca.pem 2> /dev/null
sign() { # name subject extensions
    openssl req -new "${key[@]}" -subj "$2" -keyout "$1.key" -out "$1.csr" 2> /dev/null
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" \
        -out "$1.pem" 2> /dev/null
    cat "$1.key" "$1.pem" > "$1-keystore.pem"
}
sign broker "/CN=localhost" "subjectAltName=DNS:localhost,IP:127.0.0.1"
sign alice "/O=example/CN=alice" "extendedKeyUsage=clientAuth"
openssl req -x509 "${key[@]}" -days 2 -subj "/CN=mallory" -addext "basicConstraints=critical,CA:FALSE" \
    -keyout mallory.key -out mallory.pem 2> /dev/null
