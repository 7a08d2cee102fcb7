"""A real Prometheus (Debian's package) scrapes `runnel serve` during a produce/consume load,
loads the alert rules, and every panel query of every Grafana dashboard in monitoring/grafana
returns data; the alert rules pass `promtool check rules` and their unit tests."""

import json
import math
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

from confluent_kafka import Producer

from conftest import new_consumer

MONITORING = os.path.join(os.path.dirname(__file__), "../../monitoring")
DASHBOARDS = ["overview.json", "topics.json", "consumer-groups.json"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def query(prometheus, expr):
    return get_json(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))


def panel_queries():
    """(dashboard, panel title, expr) with the dashboard variables filled in as Grafana would
    for "All" and a 1 s scrape interval."""
    for name in DASHBOARDS:
        with open(os.path.join(MONITORING, "grafana", name)) as f:
            board = json.load(f)
        names = [v["name"] for v in board["templating"]["list"]]
        assert names[0] == "datasource", f"{name}: the first variable chooses the Prometheus data source"
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}", f"{name}: {panel['title']}"
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", "30s")
                for variable in names[1:]:
                    expr = expr.replace(f"${variable}", ".*")
                yield name, panel["title"], expr


def load(bootstrap, stop):
    """acks=all produces and a consumer group that commits what it read, until `stop`."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    consumer = new_consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "prometheus-load",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe(["prometheus-load"])
    i = 0
    while not stop.is_set():
        for _ in range(20):
            producer.produce("prometheus-load", key=str(i % 4), value=f"record {i}".encode())
            i += 1
        producer.flush(5)
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            consumer.commit(message=message, asynchronous=False)
    consumer.close()


def test_alert_rules_pass_promtool_checks_and_their_unit_tests():
    promtool = shutil.which("promtool")
    assert promtool, "scripts/test.sh installs Debian's prometheus (promtool comes with it)"
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"],
                 ["check", "config", "prometheus.yml"]):
        result = subprocess.run([promtool, *args], cwd=MONITORING, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_runnel_and_every_dashboard_query_returns_data(broker, tmp_path):
    binary = shutil.which("prometheus")
    assert binary, "scripts/test.sh installs Debian's prometheus"
    assert broker.http, "runnel serve printed its HTTP listener"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{json.dumps(os.path.abspath(os.path.join(MONITORING, 'alerts.yml')))}]\n"
        "scrape_configs:\n"
        "  - job_name: runnel\n"
        f"    static_configs: [{{targets: [{json.dumps(broker.http.removeprefix('http://'))}]}}]\n"
    )
    prometheus = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "prometheus.log", "w")
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    stop = threading.Event()
    loader = threading.Thread(target=load, args=(broker.bootstrap, stop))
    loader.start()
    try:
        deadline = time.time() + 60
        samples = 0
        while time.time() < deadline and samples < 12:
            time.sleep(1)
            try:
                result = query(prometheus, 'count_over_time(up{job="runnel"}[1m])')["data"]["result"]
                samples = int(float(result[0]["value"][1])) if result else 0
            except OSError:
                continue
        assert samples >= 12, f"Prometheus scraped runnel {samples} times; see {tmp_path / 'prometheus.log'}"
        assert query(prometheus, 'up{job="runnel"}')["data"]["result"][0]["value"][1] == "1"
        rules = get_json(f"{prometheus}/api/v1/rules")["data"]["groups"]
        assert sum(len(g["rules"]) for g in rules) == 8, "the alert rules loaded"

        empty = []
        checked = 0
        for dashboard, title, expr in panel_queries():
            answer = query(prometheus, expr)
            assert answer["status"] == "success", f"{dashboard} / {title}: {expr}: {answer}"
            values = [float(r["value"][1]) for r in answer["data"]["result"]]
            if not any(math.isfinite(v) for v in values):
                empty.append(f"{dashboard} / {title}: {expr} -> {values}")
            checked += 1
        assert checked >= 25
        assert not empty, "panel queries without data:\n" + "\n".join(empty)
    finally:
        stop.set()
        loader.join()
        process.terminate()
        process.wait(timeout=30)
        log.close()
