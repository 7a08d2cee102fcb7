"""Transactions with confluent-kafka: one transaction committed, one aborted, one left open. A
read_committed consumer sees only the committed one and waits at the last stable offset; a
read_uncommitted consumer sees all three; once the third commits, read_committed sees it. A
second producer with the same transactional.id fences the first. A transaction open when the
broker is SIGKILLed is still open after the restart, and aborted at its timeout; after a
restart of the machine (its records, acknowledged before their fsync, may be gone) it is aborted
at start. An exactly-once copier SIGKILLed three times copies 100,000 records once each, in
order."""

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import broker_with_properties, new_consumer

TOPIC = "txn-events"


def create_topic(broker, name):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, 1)])[name].result(30)


def transactional_producer(broker, transactional_id):
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": transactional_id})
    producer.init_transactions(10)
    return producer


def commit_one_then_leave_one_open(producer):
    """Commits "committed-first" (offset 0, its marker at 1), then leaves "open-0".."open-2"
    acknowledged in an open transaction (offsets 2-4)."""
    producer.begin_transaction()
    producer.produce(TOPIC, value=b"committed-first")
    producer.commit_transaction(10)
    producer.begin_transaction()
    for i in range(3):
        producer.produce(TOPIC, value=f"open-{i}".encode())
    producer.flush(10)


def read_all(broker, isolation, group, idle=2.0, topic=TOPIC):
    """Every value the consumer reads from the start until nothing arrives for `idle` seconds,
    its position, and the latest offset as ListOffsets answers it at that isolation level (the
    high watermark, or the last stable offset under read_committed)."""
    consumer = new_consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": group,
        "isolation.level": isolation,
        "enable.auto.commit": False,
    })
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    last = time.time()
    while time.time() - last < idle:
        for message in consumer.consume(num_messages=100, timeout=0.2):
            if message.error() is None:
                values.append(message.value().decode())
                last = time.time()
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=5, cached=False)
    position = consumer.position([TopicPartition(topic, 0)])[0].offset
    consumer.close()
    return values, position, high


def test_committed_aborted_and_open_transactions_as_each_isolation_level_sees_them(broker):
    create_topic(broker, TOPIC)
    producer = transactional_producer(broker, "txn-python")
    for name, end in [("committed", "commit"), ("aborted", "abort"), ("open", None)]:
        producer.begin_transaction()
        for i in range(3):
            producer.produce(TOPIC, value=f"{name}-{i}".encode())
        producer.flush(10)
        if end == "commit":
            producer.commit_transaction(10)
        elif end == "abort":
            producer.abort_transaction(10)

    committed, position, _ = read_all(broker, "read_committed", "rc-1")
    assert committed == ["committed-0", "committed-1", "committed-2"]
    # Offsets 0-2 committed, 3 its marker, 4-6 aborted, 7 its marker, 8-10 open: the consumer
    # stops at the last stable offset, 8.
    assert position == 8
    uncommitted, _, high = read_all(broker, "read_uncommitted", "ru-1")
    assert uncommitted == [f"{n}-{i}" for n in ["committed", "aborted", "open"] for i in range(3)]
    assert high == 11

    producer.commit_transaction(10)
    after, position, _ = read_all(broker, "read_committed", "rc-2")
    assert after == [f"{n}-{i}" for n in ["committed", "open"] for i in range(3)]
    assert position == 12


def test_a_second_producer_with_the_same_transactional_id_fences_the_first(broker):
    create_topic(broker, "txn-fenced")
    first = transactional_producer(broker, "txn-fenced")
    first.begin_transaction()
    first.produce("txn-fenced", value=b"zombie")
    first.flush(10)
    transactional_producer(broker, "txn-fenced")
    with pytest.raises(KafkaException) as raised:
        first.commit_transaction(10)
    assert raised.value.args[0].fatal(), raised.value.args[0]


def test_a_transaction_open_when_the_broker_is_sigkilled_stays_open_then_times_out():
    with tempfile.TemporaryDirectory() as data_dir:
        properties = "transaction.abort.timed.out.transaction.cleanup.interval.ms=500\n"
        broker = broker_with_properties(data_dir, properties)
        create_topic(broker, TOPIC)
        producer = Producer({
            "bootstrap.servers": broker.bootstrap,
            "transactional.id": "txn-crash",
            "transaction.timeout.ms": 8000,
        })
        producer.init_transactions(10)
        commit_one_then_leave_one_open(producer)
        started = time.time()

        broker.process.kill()
        broker.process.wait()
        broker = broker_with_properties(data_dir, properties)
        # Replayed: still open, so read_committed stops before it (offset 2, after the first
        # transaction's record and marker) ...
        values, position, lso = read_all(broker, "read_committed", "rc-crash", idle=1.0)
        assert (values, position, lso) == (["committed-first"], 2, 2), "latest under read_committed is the LSO"
        # The open transaction's records were acknowledged, so they survived the SIGKILL.
        values, _, high = read_all(broker, "read_uncommitted", "ru-crash", idle=1.0)
        assert (values, high) == (["committed-first", "open-0", "open-1", "open-2"], 5)
        # ... until the broker aborts it after its timeout, and the LSO moves past its marker.
        deadline = started + 30
        while time.time() < deadline:
            values, position, _ = read_all(broker, "read_committed", f"rc-crash-{time.time()}", idle=0.5)
            if position == 6:
                break
        assert (values, position) == (["committed-first"], 6), "aborted after transaction.timeout.ms"
        assert time.time() - started >= 8
        # A new producer with the same transactional id fences the old one.
        transactional_producer(broker, "txn-crash")
        with pytest.raises(KafkaException):
            producer.commit_transaction(10)
        broker.stop()


def test_a_transaction_open_when_the_machine_restarts_is_aborted_at_start():
    """A transactional produce is acknowledged before its fsync (the commit makes it durable),
    so after a power cut an open transaction may have lost records its producer counts as
    written: the next start aborts it and fences the producer. The machine's restart is the
    boot id the broker recorded at its start, replaced by another."""
    with tempfile.TemporaryDirectory() as data_dir:
        broker = broker_with_properties(data_dir, "")
        create_topic(broker, TOPIC)
        producer = transactional_producer(broker, "txn-power-cut")
        commit_one_then_leave_one_open(producer)

        broker.process.kill()
        broker.process.wait()
        with open(os.path.join(data_dir, "data", ".runnel_boot_id"), "w") as boot_id:
            boot_id.write("00000000-0000-0000-0000-000000000000")
        broker = broker_with_properties(data_dir, "", listen=broker.bootstrap)
        # Aborted before the broker served anyone: the stable offset is past its marker (offset
        # 5) at once, and read_committed sees only the committed record.
        values, position, lso = read_all(broker, "read_committed", "rc-power-cut", idle=1.0)
        assert (values, position, lso) == (["committed-first"], 6, 6)
        # Its producer, back on the same address, is fenced: the commit fails at once rather
        # than commit what may be lost.
        asked = time.time()
        with pytest.raises(KafkaException) as raised:
            producer.commit_transaction(10)
        assert raised.value.args[0].code() == KafkaError._FENCED, raised.value.args[0]
        assert time.time() - asked < 5
        # A new producer with the same transactional id works on.
        successor = transactional_producer(broker, "txn-power-cut")
        successor.begin_transaction()
        successor.produce(TOPIC, value=b"after")
        successor.commit_transaction(10)
        values, _, _ = read_all(broker, "read_committed", "rc-power-cut-after", idle=1.0)
        assert values == ["committed-first", "after"]
        broker.stop()


def test_offsets_sent_to_a_transaction_commit_with_it_and_not_when_it_aborts(broker):
    """The consume-transform-produce loop: input records are copied to an output topic in
    transactions that also commit the consumer's offsets (send_offsets_to_transaction)."""
    create_topic(broker, "eos-in")
    create_topic(broker, "eos-out")
    source = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(20):
        source.produce("eos-in", value=str(i).encode())
    source.flush(10)

    consumer = new_consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": "eos-copier",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    })
    consumer.subscribe(["eos-in"])
    producer = transactional_producer(broker, "eos-copier-1")

    def copy_batch(count, commit):
        producer.begin_transaction()
        copied = 0
        deadline = time.time() + 20
        while copied < count and time.time() < deadline:
            for message in consumer.consume(num_messages=count - copied, timeout=0.5):
                assert message.error() is None, message.error()
                producer.produce("eos-out", value=b"copy-" + message.value())
                copied += 1
        assert copied == count
        producer.send_offsets_to_transaction(
            consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 10)
        if commit:
            producer.commit_transaction(10)
        else:
            producer.abort_transaction(10)

    copy_batch(10, commit=True)
    committed = consumer.committed([TopicPartition("eos-in", 0)], timeout=10)[0].offset
    assert committed == 10
    copy_batch(5, commit=False)
    assert consumer.committed([TopicPartition("eos-in", 0)], timeout=10)[0].offset == 10, "an abort commits nothing"
    # Rewind to the committed offset, as a restarted copier would, and finish the copy.
    consumer.seek(TopicPartition("eos-in", 0, 10))
    copy_batch(10, commit=True)
    assert consumer.committed([TopicPartition("eos-in", 0)], timeout=10)[0].offset == 20

    values, _, _ = read_all(broker, "read_committed", "eos-reader", idle=1.5, topic="eos-out")
    assert values == [f"copy-{i}" for i in range(20)], "every input record exactly once, in order"



def test_an_exactly_once_copier_sigkilled_three_times_copies_every_record_once_in_order(broker):
    """The exactly-once pipeline: a consume-transform-produce copier (eos_copier.py) is
    SIGKILLed three times while it copies 100,000 records over 4 partitions, and restarted
    each time with the same transactional id. The output, read_committed, holds every input
    record exactly once, in its input order per partition."""
    total, partitions = 100_000, 4
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for name in ["eos-pipe-in", "eos-pipe-out"]:
        admin.create_topics([NewTopic(name, partitions)])[name].result(30)
    source = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 20})
    for i in range(total):
        source.produce("eos-pipe-in", value=str(i).encode(), partition=i % partitions)
        if i % 10_000 == 0:
            source.poll(0)
    assert source.flush(60) == 0

    copier_args = [sys.executable, os.path.join(os.path.dirname(__file__), "eos_copier.py"), broker.bootstrap,
                   "eos-pipe", "eos-pipe-copier", "eos-pipe-in", "eos-pipe-out"]
    # read_uncommitted: OffsetFetch without require_stable answers at once, even while the
    # killed copier's transaction still holds offsets (read_committed would wait for its end).
    watcher = new_consumer({"bootstrap.servers": broker.bootstrap, "group.id": "eos-pipe",
                            "isolation.level": "read_uncommitted"})

    def committed_total():
        offsets = watcher.committed([TopicPartition("eos-pipe-in", p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in offsets)

    # Kills 1 and 2 come while a transaction holds records in the output and offsets in the
    # group, not yet committed; kill 3 at a random moment of the copy.
    rng = random.Random(14)
    for kill_after, hold in [(15_000, True), (40_000, True), (70_000, False)]:
        start = committed_total()
        args = copier_args + ([str(kill_after - start)] if hold else [])
        copier = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        try:
            for line in copier.stdout:
                event = json.loads(line)
                if "holding" in event or start + event["committed"] >= kill_after:
                    break
            if not hold:
                time.sleep(rng.uniform(0, 0.05))
        finally:
            copier.send_signal(signal.SIGKILL)
            copier.wait()
        done = committed_total()
        print(f"killed at {done} committed", flush=True)
        assert done < total, "the copier finished before it was killed; nothing was interrupted"

    copier = subprocess.Popen(copier_args, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while committed_total() < total:
            assert time.time() < deadline, f"copy stalled at {committed_total()} of {total}"
            assert copier.poll() is None, "the copier exited"
            time.sleep(0.5)
    finally:
        copier.terminate()
        copier.wait()

    reader = new_consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": "eos-pipe-reader",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
    })
    reader.assign([TopicPartition("eos-pipe-out", p, 0) for p in range(partitions)])
    copied = {p: [] for p in range(partitions)}
    count, last = 0, time.time()
    while count < total and time.time() - last < 10:
        for message in reader.consume(num_messages=1000, timeout=0.5):
            assert message.error() is None, message.error()
            copied[message.partition()].append(int(message.value()))
            count += 1
            last = time.time()
    time.sleep(1)
    for message in reader.consume(num_messages=1000, timeout=1):
        copied[message.partition()].append(int(message.value()))
    for p in range(partitions):
        expected = list(range(p, total, partitions))
        got = copied[p]
        assert len(got) == len(expected), f"partition {p}: {len(got)} records, {len(expected)} expected"
        assert got == expected, f"partition {p}: first difference at {next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)}"
    # The killed copiers' open transactions were aborted, not lost or committed: their records
    # are in the log, which read_uncommitted shows.
    uncommitted = new_consumer({"bootstrap.servers": broker.bootstrap, "group.id": "eos-pipe-raw",
                                "isolation.level": "read_uncommitted", "enable.auto.commit": False})
    uncommitted.assign([TopicPartition("eos-pipe-out", p, 0) for p in range(partitions)])
    raw, last = 0, time.time()
    while time.time() - last < 2:
        for message in uncommitted.consume(num_messages=1000, timeout=0.5):
            raw += 1
            last = time.time()
    print(f"read_uncommitted: {raw} records, {raw - total} of them aborted", flush=True)
    assert raw >= total + 2, "the two held transactions' records are in the log, aborted"
