"""KIP-848 consumer groups (`group.protocol=consumer`) through confluent-kafka: the split of
partitions, takeover after close and after SIGKILL, committed offsets across a broker SIGKILL,
a classic and a consumer group on one topic at once, the upgrade of an empty classic group,
regular expression subscriptions, and what the admin APIs show."""

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, ConsumerGroupType, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import RUNNEL_BIN, broker_with_properties, new_consumer

PARTITIONS = 6
# Short server-side timings so takeovers happen within a test's patience; members heartbeat
# every second and a silent one is gone after 6 s.
PROPERTIES = "group.consumer.heartbeat.interval.ms=1000\ngroup.consumer.session.timeout.ms=6000\n"


@pytest.fixture(scope="module")
def work_dir():
    with tempfile.TemporaryDirectory() as d:
        yield d


@pytest.fixture(scope="module")
def broker(work_dir):
    b = broker_with_properties(work_dir, PROPERTIES)
    yield b
    if b.process.poll() is None:
        b.stop()


def topic_with_records(bootstrap, count, partitions=PARTITIONS, prefix="kip848"):
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result()
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(count):
        producer.produce(name, str(i).encode(), partition=i % partitions)
    assert producer.flush(30) == 0
    return name


def consumer(bootstrap, group, **extra):
    return new_consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        **extra,
    })


def assignment(c):
    return sorted(tp.partition for tp in c.assignment())


def poll_until(consumers, done, timeout=30, reads=None):
    """Polls every consumer until `done()`; records (partition, offset) -> consumer index."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for i, c in enumerate(consumers):
            m = c.poll(0.1)
            if m is not None and m.error() is None and reads is not None:
                reads.setdefault((m.partition(), m.offset()), i)
        if done():
            return
    raise AssertionError(f"timed out; assignments {[assignment(c) for c in consumers]}")


def test_members_split_the_partitions_exactly_and_admin_shows_a_consumer_group(broker):
    topic = topic_with_records(broker.bootstrap, 60)
    group = f"split-{uuid.uuid4().hex[:6]}"
    members = [consumer(broker.bootstrap, group) for _ in range(3)]
    for c in members:
        c.subscribe([topic])
    reads = {}

    def split():
        parts = [assignment(c) for c in members]
        return sorted(p for ps in parts for p in ps) == list(range(PARTITIONS)) and all(len(ps) == 2 for ps in parts)

    poll_until(members, lambda: split() and len(reads) == 60, reads=reads)
    # Each record was read by the member that owns its partition, once.
    owners = {p: i for i, c in enumerate(members) for p in assignment(c)}
    assert all(owners[p] == i for (p, _), i in reads.items())

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    listed = admin.list_consumer_groups().result()
    mine = [g for g in listed.valid if g.group_id == group]
    assert len(mine) == 1 and mine[0].type == ConsumerGroupType.CONSUMER, mine
    described = admin.describe_consumer_groups([group])[group].result()
    assert described.type == ConsumerGroupType.CONSUMER
    assert len(described.members) == 3
    assert sorted(tp.partition for m in described.members for tp in m.assignment.topic_partitions) == list(range(PARTITIONS))
    # The CLI lists it with its type, as `rpk group list` does.
    listed = json.loads(subprocess.run([RUNNEL_BIN, "group", "list", "--brokers", broker.bootstrap, "--output", "json"],
                                       check=True, capture_output=True, text=True).stdout)
    row = next(g for g in listed if g["group"] == group)
    assert (row["type"], row["state"], row["members"]) == ("consumer", "Stable", 3), row


def test_a_closed_members_partitions_move_to_the_others_from_its_commits(broker):
    topic = topic_with_records(broker.bootstrap, 120)
    group = f"close-{uuid.uuid4().hex[:6]}"
    first, second = consumer(broker.bootstrap, group), consumer(broker.bootstrap, group)
    first.subscribe([topic])
    second.subscribe([topic])
    poll_until([first, second], lambda: assignment(first) and assignment(second))
    # The first member reads and commits a little of each of its partitions, then leaves.
    its = assignment(first)
    committed = {}
    deadline = time.time() + 20
    while len(committed) < len(its) and time.time() < deadline:
        m = first.poll(0.2)
        if m is not None and m.error() is None and m.partition() not in committed:
            first.commit(message=m, asynchronous=False)
            committed[m.partition()] = m.offset() + 1
    assert len(committed) == len(its)
    first.close()
    reads = {}
    poll_until([second], lambda: assignment(second) == list(range(PARTITIONS)))
    poll_until([second], lambda: all((p, committed[p]) in reads for p in its), reads=reads)
    # It resumed at the commits: nothing before them was read again.
    assert not [k for k in reads if k[0] in committed and k[1] < committed[k[0]]]


def test_a_killed_members_partitions_move_after_the_session_timeout(broker):
    topic = topic_with_records(broker.bootstrap, 60)
    group = f"kill-{uuid.uuid4().hex[:6]}"
    script = os.path.join(os.path.dirname(__file__), "group_member.py")
    child = subprocess.Popen([sys.executable, script, broker.bootstrap, group, topic, "consumer"],
                             stdout=subprocess.PIPE, text=True)
    try:
        committed = {}
        deadline = time.time() + 30
        while len(committed) < PARTITIONS and time.time() < deadline:
            event = json.loads(child.stdout.readline())
            if "committed" in event:
                committed[event["committed"][0]] = event["committed"][1]
        assert len(committed) == PARTITIONS, committed
        survivor = consumer(broker.bootstrap, group)
        survivor.subscribe([topic])
        # The child owns everything; the survivor joins and waits for part of it.
        poll_until([survivor], lambda: len(assignment(survivor)) == PARTITIONS // 2)
        child.kill()
        child.wait()
        killed_at = time.time()
        poll_until([survivor], lambda: assignment(survivor) == list(range(PARTITIONS)), timeout=30)
        took = time.time() - killed_at
        assert took < 20, f"takeover took {took:.1f} s with a 6 s session timeout"
    finally:
        child.kill()
        child.wait()


def test_committed_offsets_and_the_group_survive_a_broker_sigkill():
    with tempfile.TemporaryDirectory() as work_dir:
        crash_and_restart(work_dir)


def crash_and_restart(work_dir):
    broker = broker_with_properties(work_dir, PROPERTIES)
    try:
        topic = topic_with_records(broker.bootstrap, 60)
        group = f"crash-{uuid.uuid4().hex[:6]}"
        c = consumer(broker.bootstrap, group)
        c.subscribe([topic])
        poll_until([c], lambda: assignment(c) == list(range(PARTITIONS)))
        committed = {}
        deadline = time.time() + 20
        while len(committed) < PARTITIONS and time.time() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None and m.partition() not in committed:
                c.commit(message=m, asynchronous=False)
                committed[m.partition()] = m.offset() + 1
        assert len(committed) == PARTITIONS
        broker.process.kill()
        broker.process.wait()
        c.close()
    finally:
        if broker.process.poll() is None:
            broker.stop()
    broker = broker_with_properties(work_dir, PROPERTIES)
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        described = admin.describe_consumer_groups([group])[group].result()
        assert described.type == ConsumerGroupType.CONSUMER
        positions = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])]
        )[group].result()
        assert {tp.partition: tp.offset for tp in positions.topic_partitions} == committed
        again = consumer(broker.bootstrap, group)
        again.subscribe([topic])
        reads = {}
        poll_until([again], lambda: all((p, o) in reads for p, o in committed.items()), reads=reads)
        assert not [k for k in reads if k[1] < committed[k[0]]]
    finally:
        broker.stop()


def test_a_classic_and_a_consumer_group_read_one_topic_at_once(broker):
    topic = topic_with_records(broker.bootstrap, 60)
    modern = consumer(broker.bootstrap, f"modern-{uuid.uuid4().hex[:6]}")
    classic = new_consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"classic-{uuid.uuid4().hex[:6]}",
                            "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    modern.subscribe([topic])
    classic.subscribe([topic])
    modern_reads, classic_reads = {}, {}
    deadline = time.time() + 30
    while (len(modern_reads) < 60 or len(classic_reads) < 60) and time.time() < deadline:
        for c, reads in ((modern, modern_reads), (classic, classic_reads)):
            m = c.poll(0.1)
            if m is not None and m.error() is None:
                reads[(m.partition(), m.offset())] = m.value()
    assert len(modern_reads) == 60 and modern_reads == classic_reads


def test_an_empty_classic_group_is_upgraded_and_keeps_its_offsets(broker):
    topic = topic_with_records(broker.bootstrap, 30)
    group = f"upgrade-{uuid.uuid4().hex[:6]}"
    classic = new_consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                            "enable.auto.commit": False, "session.timeout.ms": 6000})
    classic.subscribe([topic])
    read = 0
    deadline = time.time() + 20
    while read < 12 and time.time() < deadline:
        m = classic.poll(0.2)
        if m is not None and m.error() is None:
            read += 1
    classic.commit(asynchronous=False)
    committed = {tp.partition: tp.offset for tp in classic.committed([TopicPartition(topic, p) for p in range(PARTITIONS)])}
    classic.close()
    modern = consumer(broker.bootstrap, group)
    modern.subscribe([topic])
    reads = {}
    poll_until([modern], lambda: len(reads) == 30 - read, reads=reads)
    assert all(o >= committed[p] for p, o in reads if committed[p] >= 0)
    # While it has members, a classic member cannot join it.
    errors = []
    late = new_consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "session.timeout.ms": 6000,
                         "error_cb": errors.append})
    late.subscribe([topic])
    deadline = time.time() + 15
    refused = None
    while refused is None and time.time() < deadline:
        m = late.poll(0.2)
        modern.poll(0.05)
        if m is not None and m.error() is not None and m.error().code() == KafkaError.INCONSISTENT_GROUP_PROTOCOL:
            refused = m.error()
        refused = refused or next((e for e in errors if e.code() == KafkaError.INCONSISTENT_GROUP_PROTOCOL), None)
    assert refused is not None, errors
    assert assignment(late) == []


def test_a_regular_expression_subscription_picks_up_new_topics(broker):
    prefix = f"rx{uuid.uuid4().hex[:6]}"
    first = topic_with_records(broker.bootstrap, 6, partitions=2, prefix=prefix)
    c = consumer(broker.bootstrap, f"regex-{uuid.uuid4().hex[:6]}")
    c.subscribe([f"^{prefix}-.*"])
    poll_until([c], lambda: {tp.topic for tp in c.assignment()} == {first})
    second = topic_with_records(broker.bootstrap, 6, partitions=3, prefix=prefix)
    poll_until([c], lambda: {tp.topic for tp in c.assignment()} == {first, second}, timeout=30)
    assert len(c.assignment()) == 5
