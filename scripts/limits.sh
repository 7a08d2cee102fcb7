#!/usr/bin/env bash
# Measures this machine's own limits, the yardsticks for docs/benchmarks.md: loopback TCP
# throughput (iperf3) and sequential write to the disk under target/ (fio), without and with
# an fdatasync after every 1 MiB (what acks=all's group commit does at full load).
# Installs iperf3 and fio from Debian's packages when missing. Usage: scripts/limits.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v iperf3 >/dev/null || ! command -v fio >/dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iperf3 fio >/dev/null
fi
mkdir -p target/limits
FILE=target/limits/fio.dat
trap 'rm -f "$FILE"' EXIT

iperf3 -s -p 5299 -1 >/dev/null 2>&1 &
sleep 0.5
iperf3 -c 127.0.0.1 -p 5299 -t 5 -J | python3 -c \
    "import json,sys; d=json.load(sys.stdin); print('loopback TCP (iperf3, 5 s): %.1f MB/s' % (d['end']['sum_received']['bits_per_second']/8/1e6))"

fio_write() {
    rm -f "$FILE"
    fio --name=seq --filename="$FILE" --rw=write --bs=1m --size=2g --ioengine=psync "$@" --output-format=json 2>/dev/null |
        python3 -c "import json,sys; d=json.load(sys.stdin); print('%.1f MB/s' % (d['jobs'][0]['write']['bw_bytes']/1e6))"
}
echo "sequential write, 2 GiB in 1 MiB writes, one fsync at the end (fio): $(fio_write --end_fsync=1)"
echo "sequential write, 2 GiB in 1 MiB writes, fdatasync after each (fio): $(fio_write --fdatasync=1)"
