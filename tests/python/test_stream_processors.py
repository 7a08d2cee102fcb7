"""Python stream processors from PyPI, unchanged, against runnel serve: a Faust application with
a changelog-backed table and a windowed table (recovered after a worker restart), and a Quix
Streams application with a windowed aggregation, at-least-once and exactly-once. They run in
their own venv (tests/processors/requirements.txt), which the test command creates."""

import json
import os
import signal
import subprocess
import tempfile
import time

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import new_consumer

ROOT = os.path.join(os.path.dirname(__file__), "../..")
PROCESSORS = os.path.join(ROOT, "tests/processors")
PYTHON = os.environ.get("PROCESSORS_PYTHON", os.path.join(ROOT, ".venv-processors/bin/python"))


@pytest.fixture(scope="module", autouse=True)
def processors_venv():
    assert os.path.exists(PYTHON), (
        f"{PYTHON} is missing: scripts/test.sh creates it (python3 -m venv .venv-processors && "
        ".venv-processors/bin/pip install -r tests/processors/requirements.txt)"
    )


def create_topics(bootstrap, names, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        future.result(30)


def latest_values(bootstrap, topic, partitions, deadline_s=10):
    """The last value per key on `topic` (keys and values as bytes), read to its end."""
    consumer = new_consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.partition.eof": True,
                             "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    latest, at_end, started = {}, set(), time.time()
    while len(at_end) < partitions and time.time() - started < deadline_s:
        m = consumer.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                at_end.add(m.partition())
            continue
        latest[m.key()] = m.value()
    consumer.close()
    return latest


def start(script, env, log):
    return subprocess.Popen([PYTHON, os.path.join(PROCESSORS, script), *(["worker", "-l", "info"] if "faust" in script else [])],
                            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until(observe, expected, what, log_path, timeout_s=120):
    """Waits until `observe()` returns `expected`."""
    started, seen = time.time(), None
    while time.time() - started < timeout_s:
        seen = observe()
        if seen == expected:
            return
        time.sleep(1)
    with open(log_path) as f:
        log = f.read()[-6000:]
    raise AssertionError(f"{what} not reached in {timeout_s} s: saw {seen}, wanted {expected}; "
                         f"the processor's log ends:\n{log}")


def uncommitted(bootstrap, group, topics, partitions):
    """The partitions of `topics` that `group` has not committed up to their end, with the
    committed offset and the end."""
    consumer = new_consumer({"bootstrap.servers": bootstrap, "group.id": group})
    wanted = [TopicPartition(t, p) for t in topics for p in range(partitions)]
    committed = consumer.committed(wanted, timeout=10)
    ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in wanted]
    consumer.close()
    # An empty partition needs no commit (its committed offset stays unset, below zero).
    return [(c.topic, c.partition, c.offset, end) for c, end in zip(committed, ends)
            if c.offset != end and not (c.offset < 0 and end == 0)]


def test_faust_tables_count_and_recover_after_a_worker_restart(broker):
    """Each phase writes its lines once the worker is ready: Faust drops records fetched while it
    recovers its tables (faust-streaming issue 596), which no broker can prevent. A worker is
    stopped once it has committed everything, so the next one neither reads a line twice nor
    skips one: its counts go on from the table it restored."""
    vocabulary = [f"w{i}" for i in range(10)]
    truth = {}
    producer = Producer({"bootstrap.servers": broker.bootstrap})

    def write_lines(first, count):
        for n in range(first, first + count):
            line = [vocabulary[(n * 3 + i) % len(vocabulary)] for i in range(5)]
            for w in line:
                truth[w] = truth.get(w, 0) + 1
            producer.produce("faust-lines", value=" ".join(line).encode())
        producer.flush(10)

    create_topics(broker.bootstrap, ["faust-lines", "faust-words"], 4)
    changelog = "faust-wordcount-word_counts-changelog"

    def counts():
        return {json.loads(k): json.loads(v) for k, v in latest_values(broker.bootstrap, changelog, 4).items()}

    def windowed_totals():
        totals = {}
        topic = "faust-wordcount-word_counts_windowed-changelog"
        for k, v in latest_values(broker.bootstrap, topic, 4).items():
            word = json.loads(k)[0]
            totals[word] = totals.get(word, 0) + json.loads(v)
        return totals

    def ready(log_path):
        with open(log_path) as f:
            return "Worker ready" in f.read()

    def lagging():
        return uncommitted(broker.bootstrap, "faust-wordcount", ["faust-lines", "faust-words"], 4)

    with tempfile.TemporaryDirectory() as work:
        env = {"BROKER": broker.bootstrap, "APP_ID": "faust-wordcount"}
        for phase, (first, count) in enumerate([(0, 200), (200, 100)]):
            log_path = os.path.join(work, f"faust-{phase}.log")
            with open(log_path, "w") as log:
                # A fresh data directory each time: the tables come back from their changelogs.
                worker = start("faust_wordcount.py", {**env, "FAUST_DATADIR": os.path.join(work, str(phase))}, log)
                try:
                    wait_until(lambda: ready(log_path), True, "the worker ready", log_path)
                    write_lines(first, count)
                    wait_until(counts, truth, f"the counts of phase {phase}", log_path)
                    wait_until(lagging, [], "every offset committed", log_path)
                finally:
                    stop(worker)
            assert windowed_totals() == truth, "every word counted once across its windows"


T0 = 1_800_000_000_000  # a 10-second boundary


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_quix_tumbling_window_counts(broker, guarantee):
    tag = guarantee.replace("-", "")
    source, output = f"quix-events-{tag}", f"quix-counts-{tag}"
    create_topics(broker.bootstrap, [source, output], 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(30):  # three windows of ten events per sensor
        for sensor in ("a", "b"):
            producer.produce(source, key=sensor, value=json.dumps({"i": i}), timestamp=T0 + i * 1000)
    for sensor in ("a", "b"):  # later events close the third window
        producer.produce(source, key=sensor, value=json.dumps({"i": 99}), timestamp=T0 + 60_000)
    producer.flush(10)

    expected = {(s, T0 + w * 10_000): 10 for s in ("a", "b") for w in range(3)}

    def windows():
        consumer = new_consumer({"bootstrap.servers": broker.bootstrap, "group.id": "reader",
                                 "enable.partition.eof": True, "isolation.level": "read_committed"})
        consumer.assign([TopicPartition(output, 0, 0)])
        seen, started = [], time.time()
        while time.time() - started < 10:
            m = consumer.poll(0.2)
            if m is None:
                continue
            if m.error():
                break
            value = json.loads(m.value())
            seen.append(((m.key().decode(), value["start"]), value["value"]))
        consumer.close()
        return seen

    with tempfile.TemporaryDirectory() as work:
        env = {"BROKER": broker.bootstrap, "GROUP": f"quix-{tag}", "INPUT": source, "OUTPUT": output,
               "GUARANTEE": guarantee, "STATE_DIR": os.path.join(work, "state")}
        log_path = os.path.join(work, "quix.log")
        with open(log_path, "w") as log:
            app = start("quix_windows.py", env, log)
            try:
                wait_until(lambda: dict(windows()), expected, f"{len(expected)} final windows", log_path)
            finally:
                stop(app)
    seen = windows()
    assert dict(seen) == expected, seen
    assert len(seen) == len(expected), f"each window emitted once: {seen}"
