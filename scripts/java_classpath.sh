#!/usr/bin/env bash
# Prints the classpath of Apache Kafka's Java client (kafka-clients 3.9 and its compression
# jars), fetching the jars from PyPI once into target/java-clients/: the package
# shigawire-apache-flink-libraries carries them (a 92 MB wheel; no Maven needed). Progress goes
# to stderr, the classpath (ending in ':') to stdout.
# Usage: classpath=$(scripts/java_classpath.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

wheel_version=2.0.0.post1
libs="$PWD/target/java-clients/$wheel_version"
if [ ! -f "$libs/kafka-clients.jar" ]; then
    echo "==> fetching kafka-clients.jar and its compression jars from PyPI (a 92 MB wheel, once)" >&2
    download=$(mktemp -d)
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        "shigawire-apache-flink-libraries==$wheel_version" -d "$download" >&2
    mkdir -p "$libs"
    python3 - "$download"/*.whl "$libs" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for jar in ["kafka-clients", "slf4j-api", "lz4-java", "snappy-java", "zstd-jni"]:
        with open(f"{out}/{jar}.jar", "wb") as f:
            f.write(z.read(f"pyflink/lib/{jar}.jar"))
PY
    rm -rf "$download"
fi
printf '%s:' "$libs"/*.jar
