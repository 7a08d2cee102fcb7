#!/usr/bin/env bash
# Takes the console screenshots of docs/monitoring.md from a real run: runnel serve sampling
# every second, 90 s of produce to two topics, one group keeping up, one falling behind, one
# that stalls, then Chromium screenshots of the overview and a group page.
# Needs what scripts/test.sh installs (.venv, tests/browser/node_modules, chromium).
# Usage: scripts/console_screenshots.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-90}
# The same build as scripts/test.sh: building runnel alone resolves other features and would
# rebuild the broker and its dependencies a second time.
cargo build --quiet --workspace --all-targets
work=$(mktemp -d)
trap 'kill $broker 2>/dev/null || true; rm -rf "$work"' EXIT
printf 'console.sample.interval.ms=1000\nconsole.alert.window.ms=15000\n' > "$work/server.properties"
target/debug/runnel serve --data-dir "$work/data" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  -c "$work/server.properties" > "$work/out" 2> "$work/log" &
broker=$!
for _ in $(seq 50); do grep -q "runnel listening" "$work/out" && break; sleep 0.1; done
http=$(grep -o 'http://[0-9.:]*' "$work/out")
bootstrap=$(awk '/^runnel listening on/ {print $4}' "$work/out")
echo "==> load for ${seconds}s against $bootstrap (console at $http)"
.venv/bin/python - "$bootstrap" "$seconds" > "$work/load.log" 2>&1 <<'PY' &
import sys, threading, time
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, seconds = sys.argv[1], float(sys.argv[2])
admin = AdminClient({"bootstrap.servers": bootstrap})
for f in admin.create_topics([NewTopic("orders", 3), NewTopic("payments", 2)]).values():
    f.result()
end = time.time() + seconds

def produce():
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    i = 0
    while time.time() < end:
        wave = 1.5 + (i // 2000) % 2  # the rate steps up and down
        for _ in range(int(20 * wave)):
            p.produce("orders", value=f"order {i}".encode())
            i += 1
        for _ in range(8):
            p.produce("payments", value=f"payment {i}".encode())
        p.poll(0)
        time.sleep(0.1)
    p.flush()

def consume(group, topic, per_second, stop_after=None):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": f"{group}-worker",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    started = time.time()
    while time.time() < end:
        if stop_after and time.time() - started > stop_after:
            c.poll(0.5)  # still a member, but commits nothing more
            continue
        for m in c.consume(num_messages=max(1, per_second // 10), timeout=0.1) or []:
            pass
        try:
            c.commit(asynchronous=False)
        except Exception:
            pass
        time.sleep(0.1)
    c.close()

threads = [threading.Thread(target=produce),
           threading.Thread(target=consume, args=("billing", "orders", 250)),
           threading.Thread(target=consume, args=("audit", "payments", 200, seconds / 2))]
for t in threads: t.start()
for t in threads: t.join()
PY
load=$!
sleep $((seconds - 5))
echo "==> screenshots (the load still running)"
(cd tests/browser && node --input-type=module -e "
import { chromium } from 'playwright-core';
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
await page.goto('$http/?range=15m');
await page.waitForSelector('#chart-lag .uplot canvas');
await page.screenshot({ path: '../../docs/images/console-overview.png', fullPage: true });
await page.goto('$http/groups/billing?range=15m');
await page.waitForSelector('#chart-group-lag .uplot canvas');
await page.screenshot({ path: '../../docs/images/console-group.png', fullPage: true });
await browser.close();
")
wait $load || { cat "$work/load.log"; exit 1; }
ls -l docs/images/console-*.png
