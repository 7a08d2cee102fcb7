"""The console of `runnel serve` in Debian's headless Chromium (tests/browser/console_page.mjs):
a topic and a group with its lag, a chart drawn by uPlot, an alert that fires when a consumer
stalls and resolves when it catches up, both posted to the webhook as Alertmanager's JSON, and
history that survives a broker restart."""

import json
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker, new_consumer

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SCRIPT = os.path.join(ROOT, "tests", "browser", "console_page.mjs")


class WebhookReceiver:
    """An HTTP server that keeps every JSON body POSTed to it, as an Alertmanager receiver would."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, alertname, status, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for body in self.received:
                if body["status"] == status and body["alerts"][0]["labels"]["alertname"] == alertname:
                    return body
            time.sleep(0.2)
        raise AssertionError(f"no {status} {alertname} posted; received {self.received}")

    def stop(self):
        self.server.shutdown()


def browser(phase, http, screenshot, *extra):
    result = subprocess.run(
        ["node", SCRIPT, phase, http, screenshot, *extra], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{phase}: {result.stdout}{result.stderr}"
    return result.stdout


def join_group(bootstrap):
    """A member of group billing that has been assigned both partitions of orders."""
    consumer = new_consumer({
        "bootstrap.servers": bootstrap, "group.id": "billing", "client.id": "billing-worker",
        "enable.auto.commit": False, "auto.offset.reset": "earliest",
    })
    consumer.subscribe(["orders"])
    deadline = time.time() + 30
    while len(consumer.assignment()) < 2 and time.time() < deadline:
        consumer.poll(0.2)
    assert len(consumer.assignment()) == 2
    return consumer


def commit(consumer, offset):
    consumer.commit(offsets=[TopicPartition("orders", p, offset) for p in (0, 1)], asynchronous=False)


def test_the_console_shows_lag_fires_and_resolves_an_alert_and_keeps_history(tmp_path):
    assert shutil.which("node"), "node is needed for the browser test"
    assert os.path.exists("/usr/bin/chromium"), "scripts/test.sh installs Debian's chromium"
    hooks = WebhookReceiver()
    properties = tmp_path / "server.properties"
    # Sample twice a second; a consumer is stalled once its offsets have not moved for 2 s, and
    # the alert fires when that has held for 2 s more.
    properties.write_text("console.sample.interval.ms=500\nconsole.alert.window.ms=2000\n")
    args = ["-c", str(properties), "--alert-webhook", hooks.url]
    data_dir = str(tmp_path / "data")
    shots = os.path.abspath(os.path.join(ROOT, "target"))
    os.makedirs(shots, exist_ok=True)
    broker = Broker(data_dir, args)
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic("orders", 2)])["orders"].result(timeout=30)
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        for i in range(50):
            producer.produce("orders", value=f"order {i}".encode(), partition=i % 2)
        assert producer.flush(30) == 0
        # The member stays in the group and commits 10 of 25 on each partition: 30 records
        # waiting, and the committed offsets do not move.
        worker = join_group(broker.bootstrap)
        commit(worker, 10)

        out = browser("stalled", broker.http, os.path.join(shots, "console-stalled.png"))
        assert "RunnelConsumerStalled fires for billing" in out
        firing = hooks.wait_for("RunnelConsumerStalled", "firing")
        assert firing["version"] == "4"
        assert firing["alerts"][0]["labels"]["consumergroup"] == "billing"
        assert firing["alerts"][0]["labels"]["topic"] == "orders"
        assert firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
        assert firing["externalURL"] == broker.http

        commit(worker, 25)
        out = browser("resolved", broker.http, os.path.join(shots, "console-overview.png"))
        assert "resolved on /alerts" in out
        resolved = hooks.wait_for("RunnelConsumerStalled", "resolved")
        assert resolved["alerts"][0]["fingerprint"] == firing["alerts"][0]["fingerprint"]
        assert resolved["alerts"][0]["endsAt"] > resolved["alerts"][0]["startsAt"]

        worker.close()
        restart_ms = int(time.time() * 1000)
        broker.stop()
        broker = Broker(data_dir, args)
        time.sleep(1.5)
        out = browser("history", broker.http, os.path.join(shots, "console-history.png"), str(restart_ms))
        assert "points from before it" in out
    finally:
        broker.stop()
        hooks.stop()
