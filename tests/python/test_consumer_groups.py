"""Consumer groups through confluent-kafka: assignment, takeover on close and on SIGKILL,
manual and auto commit across consumer and broker restarts, auto.offset.reset, and the
AdminClient group APIs."""

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker, new_consumer

PARTITIONS = 8
REBALANCE_ERRORS = {KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS, KafkaError.UNKNOWN_MEMBER_ID}


def create_topic(bootstrap, name, partitions=PARTITIONS):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result()


def produce(bootstrap, topic, count, start=0):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(start, start + count):
        producer.produce(topic, str(i).encode(), partition=i % PARTITIONS)
    assert producer.flush(30) == 0


def member(bootstrap, group, **extra):
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    }
    config.update(extra)
    return new_consumer(config)


class Tracker:
    """What a set of consumers read and committed, per partition. Reads by this process's
    consumers are checked as they happen; a child process's reports arrive through a pipe, out
    of order with ours, so they are checked at the end (check_child_repeats)."""

    def __init__(self):
        self.reads = {}  # (partition, offset) -> times read
        self.committed = {}  # partition -> next offset, as committed
        self.child_reads = set()
        self.child_committed = {}

    def record(self, partition, offset):
        key = (partition, offset)
        if key in self.reads:
            # A repeat is only allowed at or after the last commit for that partition.
            assert offset >= self.committed.get(partition, 0), (
                f"partition {partition} offset {offset} read again though {self.committed[partition]} was committed"
            )
        self.reads[key] = self.reads.get(key, 0) + 1

    def commit(self, partition, next_offset):
        self.committed[partition] = max(self.committed.get(partition, 0), next_offset)

    def child_read(self, partition, offset):
        self.child_reads.add((partition, offset))

    def child_commit(self, partition, next_offset):
        self.child_committed[partition] = max(self.child_committed.get(partition, 0), next_offset)

    def check_child_repeats(self):
        """Records the child read and we read again: only those it had not committed."""
        for partition, offset in self.child_reads & set(self.reads):
            committed = self.child_committed.get(partition, 0)
            assert offset >= committed, (
                f"partition {partition} offset {offset} was read by the child, which committed {committed}, and read again"
            )

    def read_offsets(self):
        return set(self.reads) | self.child_reads


def poll_and_commit(consumer, tracker):
    message = consumer.poll(0.05)
    if message is None or message.error():
        return
    tracker.record(message.partition(), message.offset())
    try:
        consumer.commit(message=message, asynchronous=False)
    except KafkaException as e:
        # Kafka refuses a commit from a generation a rebalance has just ended; the record may
        # then be read again, which the tracker allows since the commit did not happen.
        if e.args[0].code() not in REBALANCE_ERRORS:
            raise
        return
    tracker.commit(message.partition(), message.offset() + 1)


def assignments(consumers):
    return [sorted(tp.partition for tp in c.assignment()) for c in consumers]


def poll_until(consumers, tracker, condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for c in consumers:
            poll_and_commit(c, tracker)
        if condition():
            return time.time()
    raise AssertionError(f"timed out waiting for {what}; assignments {assignments(consumers)}")


def covers_exactly_once(lists):
    flat = [p for partitions in lists for p in partitions]
    return sorted(flat) == list(range(PARTITIONS))


def test_three_members_share_partitions_and_the_rest_take_over_when_one_closes(broker):
    create_topic(broker.bootstrap, "grp-close")
    produce(broker.bootstrap, "grp-close", 800)
    consumers = [member(broker.bootstrap, "g-close") for _ in range(3)]
    for c in consumers:
        c.subscribe(["grp-close"])
    tracker = Tracker()
    poll_until(consumers, tracker, lambda: covers_exactly_once(assignments(consumers))
               and all(assignments(consumers)), 30, "three members to split 8 partitions")
    consumers[0].close()
    rest = consumers[1:]
    poll_until(rest, tracker, lambda: covers_exactly_once(assignments(rest)), 30, "two members to take over")
    produce(broker.bootstrap, "grp-close", 800, start=800)
    poll_until(rest, tracker, lambda: len(tracker.read_offsets()) == 1600, 30, "every record")
    assert tracker.read_offsets() == {(i % 8, i // 8) for i in range(1600)}
    for c in rest:
        c.close()


def test_a_sigkilled_member_loses_its_partitions_after_the_session_timeout(broker):
    create_topic(broker.bootstrap, "grp-kill")
    produce(broker.bootstrap, "grp-kill", 400)
    child = subprocess.Popen(
        [sys.executable, os.path.join(os.path.dirname(__file__), "group_member.py"), broker.bootstrap, "g-kill",
         "grp-kill"],
        stdout=subprocess.PIPE, text=True,
    )
    events = queue.Queue()
    threading.Thread(target=lambda: [events.put(json.loads(line)) for line in child.stdout], daemon=True).start()
    tracker = Tracker()
    child_assignment = []
    try:
        deadline = time.time() + 30
        while not child_assignment and time.time() < deadline:
            event = events.get(timeout=30)
            if event.get("assigned"):
                child_assignment = event["assigned"]
        assert child_assignment == list(range(PARTITIONS))
        # Let the child read and commit some records, then join two more members.
        while sum(1 for _ in range(events.qsize())) < 20:
            time.sleep(0.05)
        others = [member(broker.bootstrap, "g-kill") for _ in range(2)]
        for c in others:
            c.subscribe(["grp-kill"])

        def drain():
            while not events.empty():
                event = events.get()
                if "read" in event:
                    tracker.child_read(*event["read"])
                elif "committed" in event:
                    tracker.child_commit(*event["committed"])
                elif "assigned" in event:
                    child_assignment[:] = event["assigned"]

        def split_three_ways():
            drain()
            mine = assignments(others)
            return all(mine) and child_assignment and covers_exactly_once(mine + [child_assignment])

        poll_until(others, tracker, split_three_ways, 40, "the child and two members to split partitions")
        child.kill()
        child.wait()
        killed_at = time.time()
        drain()
        taken_over = poll_until(others, tracker, lambda: drain() or covers_exactly_once(assignments(others)), 40,
                                "the survivors to take the killed member's partitions")
        # The partitions move only once the coordinator stops hearing from the member.
        print(f"survivors took over {taken_over - killed_at:.2f} s after the SIGKILL")
        assert taken_over - killed_at > 5.0, f"took over after {taken_over - killed_at:.1f} s"
        produce(broker.bootstrap, "grp-kill", 400, start=400)
        poll_until(others, tracker, lambda: drain() or len(tracker.read_offsets()) == 800, 30, "every record")
        assert tracker.read_offsets() == {(i % 8, i // 8) for i in range(800)}
        tracker.check_child_repeats()
        for c in others:
            c.close()
    finally:
        child.kill()


def read_values(consumer, count, timeout=20):
    values = []
    deadline = time.time() + timeout
    while len(values) < count and time.time() < deadline:
        message = consumer.poll(0.1)
        if message is not None and not message.error():
            values.append(int(message.value()))
    return values


def test_manual_commit_resumes_after_consumer_and_broker_restarts():
    with tempfile.TemporaryDirectory() as data_dir:
        broker = Broker(data_dir)
        create_topic(broker.bootstrap, "bookmarks", 1)
        produce_one = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
        for i in range(100):
            produce_one.produce("bookmarks", str(i).encode(), partition=0)
        produce_one.flush(30)
        consumer = member(broker.bootstrap, "reader")
        consumer.subscribe(["bookmarks"])
        first = read_values(consumer, 40)
        assert first[:40] == list(range(40))
        consumer.commit(offsets=[TopicPartition("bookmarks", 0, 30, "read up to 29")], asynchronous=False)
        consumer.close()

        # A new consumer in the group resumes at the bookmark.
        consumer = member(broker.bootstrap, "reader")
        consumer.subscribe(["bookmarks"])
        assert read_values(consumer, 10) == list(range(30, 40))
        consumer.commit(offsets=[TopicPartition("bookmarks", 0, 55, "read up to 54")], asynchronous=False)
        consumer.close()

        # And after a SIGKILL of the broker, from the same bookmark, metadata kept.
        broker.process.kill()
        broker.process.wait()
        broker = Broker(data_dir)
        consumer = member(broker.bootstrap, "reader")
        committed = consumer.committed([TopicPartition("bookmarks", 0)], timeout=10)
        assert (committed[0].offset, committed[0].metadata) == (55, "read up to 54")
        consumer.subscribe(["bookmarks"])
        assert read_values(consumer, 45) == list(range(55, 100))
        consumer.close()
        broker.stop()


def test_auto_commit_stores_the_position(broker):
    create_topic(broker.bootstrap, "auto", 1)
    produce(broker.bootstrap, "auto", 0)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(50):
        producer.produce("auto", str(i).encode(), partition=0)
    producer.flush(30)
    consumer = member(broker.bootstrap, "auto-group", **{"enable.auto.commit": True, "auto.commit.interval.ms": 200})
    consumer.subscribe(["auto"])
    assert read_values(consumer, 50) == list(range(50))
    deadline = time.time() + 10
    while time.time() < deadline:
        consumer.poll(0.1)
        committed = consumer.committed([TopicPartition("auto", 0)], timeout=10)[0].offset
        if committed == 50:
            break
    assert committed == 50
    consumer.close()


def test_new_groups_start_at_earliest_or_latest(broker):
    create_topic(broker.bootstrap, "history", 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(20):
        producer.produce("history", str(i).encode(), partition=0)
    producer.flush(30)
    newcomer = member(broker.bootstrap, "newcomer", **{"auto.offset.reset": "earliest"})
    newcomer.subscribe(["history"])
    assert read_values(newcomer, 20) == list(range(20))
    newcomer.close()

    live = member(broker.bootstrap, "live-only", **{"auto.offset.reset": "latest"})
    live.subscribe(["history"])
    deadline = time.time() + 20
    while not live.assignment() and time.time() < deadline:
        live.poll(0.1)
    # The position is resolved when the assignment starts fetching; give it a moment.
    assert read_values(live, 1, timeout=2) == []
    for i in range(20, 25):
        producer.produce("history", str(i).encode(), partition=0)
    producer.flush(30)
    assert read_values(live, 5) == list(range(20, 25))
    live.close()


def test_admin_client_lists_describes_alters_and_deletes_groups(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create_topic(broker.bootstrap, "admin-groups", 2)
    produce(broker.bootstrap, "admin-groups", 0)
    consumer = member(broker.bootstrap, "admin-g", **{"client.id": "admin-test-client"})
    consumer.subscribe(["admin-groups"])
    deadline = time.time() + 20
    while not consumer.assignment() and time.time() < deadline:
        consumer.poll(0.1)
    consumer.commit(offsets=[TopicPartition("admin-groups", 0, 3), TopicPartition("admin-groups", 1, 4)],
                    asynchronous=False)

    listed = {g.group_id: g for g in admin.list_consumer_groups().result().valid}
    assert "admin-g" in listed
    assert str(listed["admin-g"].state) == "ConsumerGroupState.STABLE"

    description = admin.describe_consumer_groups(["admin-g"])["admin-g"].result()
    assert str(description.state) == "ConsumerGroupState.STABLE"
    assert description.partition_assignor == "range"
    assert len(description.members) == 1
    assert description.members[0].client_id == "admin-test-client"
    assigned = sorted(tp.partition for tp in description.members[0].assignment.topic_partitions)
    assert assigned == [0, 1]

    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("admin-g")])["admin-g"].result()
    assert sorted((tp.partition, tp.offset) for tp in offsets.topic_partitions) == [(0, 3), (1, 4)]

    # A group with a live member cannot be altered or deleted.
    refused_alter = admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions("admin-g", [TopicPartition("admin-groups", 0, 0)])])["admin-g"].result()
    # Kafka's answer: the offsets of a group with members are the members' to commit.
    assert [tp.error.code() for tp in refused_alter.topic_partitions] == [KafkaError.UNKNOWN_MEMBER_ID]
    with pytest.raises(KafkaException) as refused:
        admin.delete_consumer_groups(["admin-g"])["admin-g"].result()
    assert "NON_EMPTY_GROUP" in str(refused.value)

    consumer.close()
    deadline = time.time() + 10
    while time.time() < deadline:
        state = admin.describe_consumer_groups(["admin-g"])["admin-g"].result().state
        if str(state) == "ConsumerGroupState.EMPTY":
            break
        time.sleep(0.1)
    altered = admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions("admin-g", [TopicPartition("admin-groups", 0, 1)])])["admin-g"].result()
    assert [(tp.partition, tp.offset) for tp in altered.topic_partitions] == [(0, 1)]
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("admin-g")])["admin-g"].result()
    assert sorted((tp.partition, tp.offset) for tp in offsets.topic_partitions) == [(0, 1), (1, 4)]

    admin.delete_consumer_groups(["admin-g"])["admin-g"].result()
    assert "admin-g" not in {g.group_id for g in admin.list_consumer_groups().result().valid}
    with pytest.raises(KafkaException) as missing:
        admin.delete_consumer_groups(["admin-g"])["admin-g"].result()
    assert "GROUP_ID_NOT_FOUND" in str(missing.value)


@pytest.mark.parametrize("assignor", ["range", "roundrobin", "cooperative-sticky"])
def test_the_broker_relays_every_assignor(broker, assignor):
    topic = f"assignor-{assignor}"
    create_topic(broker.bootstrap, topic)
    produce(broker.bootstrap, topic, 160)
    consumers = [member(broker.bootstrap, f"g-{assignor}", **{"partition.assignment.strategy": assignor})
                 for _ in range(2)]
    for c in consumers:
        c.subscribe([topic])
    tracker = Tracker()
    poll_until(consumers, tracker, lambda: covers_exactly_once(assignments(consumers)) and all(assignments(consumers)),
               30, f"two {assignor} members to split the partitions")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert admin.describe_consumer_groups([f"g-{assignor}"])[f"g-{assignor}"].result().partition_assignor == assignor
    consumers[0].close()
    poll_until(consumers[1:], tracker, lambda: covers_exactly_once(assignments(consumers[1:])), 30,
               "the survivor to take every partition")
    poll_until(consumers[1:], tracker, lambda: len(tracker.read_offsets()) == 160, 30, "every record")
    consumers[1].close()
